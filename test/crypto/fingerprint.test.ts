import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fingerprintSecret, lastFour } from '../../src/kernel/crypto/index.ts';

describe('write-only display helpers', () => {
  it('fingerprints as sha256: plus 16 hex digits of SHA-256', () => {
    const secret = randomBytes(24).toString('hex');
    const expected = createHash('sha256').update(secret).digest('hex').slice(0, 16);
    expect(fingerprintSecret(secret)).toBe(`sha256:${expected}`);
    expect(fingerprintSecret(Buffer.from(secret))).toBe(`sha256:${expected}`);
    expect(fingerprintSecret(secret)).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(fingerprintSecret(secret)).not.toBe(fingerprintSecret(`${secret}x`));
  });

  it('shows the last four characters of long secrets only', () => {
    expect(lastFour('sk_live_0123456789abcdef')).toBe('cdef');
    expect(lastFour('short-secret')).toBe('');
    expect(lastFour(`${'x'.repeat(16)}ab😀`)).toBe('xab😀');
  });
});
