import { createHash, createHmac, hkdfSync, randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fingerprintSecret, importAeadKey, lastFour } from '../../src/kernel/crypto/index.ts';

describe('write-only display helpers', () => {
  it('fingerprints as hmac: plus 16 hex digits of HMAC-SHA256 under an HKDF key derived from the data key', () => {
    const dataKey = randomBytes(32);
    const secret = randomBytes(24).toString('hex');
    const derived = Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), 'ocsuite:secret-fingerprint:v1', 32));
    const expected = createHmac('sha256', derived).update(secret).digest('hex').slice(0, 16);
    expect(fingerprintSecret(dataKey, secret)).toBe(`hmac:${expected}`);
    expect(fingerprintSecret(importAeadKey(dataKey), Buffer.from(secret))).toBe(`hmac:${expected}`);
    expect(fingerprintSecret(dataKey, secret)).not.toBe(fingerprintSecret(dataKey, `${secret}x`));
  });

  it('cannot be checked against guesses without the data key, and does not link tenants sharing a secret', () => {
    const secret = String(randomInt(10_000_000, 100_000_000)); // 8 digits: the shortest, weakest secret a connector accepts
    const unkeyed = createHash('sha256').update(secret).digest('hex').slice(0, 16);
    const a = fingerprintSecret(randomBytes(32), secret);
    const b = fingerprintSecret(randomBytes(32), secret);
    expect(a).not.toContain(unkeyed);
    expect(a).not.toBe(b);
  });

  it('shows the last four characters of long secrets only', () => {
    expect(lastFour('sk_live_0123456789abcdef')).toBe('cdef');
    expect(lastFour('short-secret')).toBe('');
    expect(lastFour(`${'x'.repeat(16)}ab😀`)).toBe('xab😀');
  });
});
