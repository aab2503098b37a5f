import { HOTP, Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { generateTotpSecret, totpUri, verifyTotp } from '../../src/kernel/auth/totp.ts';
import { readVector } from '../vectors.ts';

const vectors = readVector<{
  hotp_rfc4226: { secretAscii: string; digits: number; codesByCounter: string[] };
  totp_rfc6238: { stepSeconds: number; digits: number; secretsAscii: Record<string, string>; cases: Array<Record<string, string | number>> };
}>('protocols.json');

describe('RFC 4226 HOTP and RFC 6238 TOTP vectors', () => {
  it('reproduces every HOTP code of RFC 4226 Appendix D', () => {
    const v = vectors.hotp_rfc4226;
    const hotp = new HOTP({ secret: Secret.fromUTF8(v.secretAscii), digits: v.digits, algorithm: 'SHA1' });
    v.codesByCounter.forEach((code, counter) => expect(hotp.generate({ counter })).toBe(code));
  });

  it('reproduces every TOTP code of RFC 6238 Appendix B for SHA-1, SHA-256 and SHA-512', () => {
    const v = vectors.totp_rfc6238;
    let checked = 0;
    for (const c of v.cases) {
      for (const algorithm of ['SHA1', 'SHA256', 'SHA512'] as const) {
        const totp = new TOTP({ secret: Secret.fromUTF8(v.secretsAscii[algorithm]!), digits: v.digits, period: v.stepSeconds, algorithm });
        expect(totp.generate({ timestamp: Number(c.time) * 1000 })).toBe(c[algorithm]);
        checked++;
      }
    }
    expect(checked).toBe(18);
  });
});

describe('verifyTotp', () => {
  const secret = generateTotpSecret();
  const now = 1_800_000_000_000;
  const code = (at: number) => new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: at });

  it('accepts the current code and one step of drift, nothing further', () => {
    expect(verifyTotp(secret, code(now), { lastAcceptedStep: null, now })).toBe(Math.floor(now / 30_000));
    expect(verifyTotp(secret, code(now - 30_000), { lastAcceptedStep: null, now })).not.toBeNull();
    expect(verifyTotp(secret, code(now - 90_000), { lastAcceptedStep: null, now })).toBeNull();
    expect(verifyTotp(secret, code(now + 90_000), { lastAcceptedStep: null, now })).toBeNull();
  });

  it('refuses a replayed code and any code of an earlier step', () => {
    const step = verifyTotp(secret, code(now), { lastAcceptedStep: null, now });
    expect(step).not.toBeNull();
    expect(verifyTotp(secret, code(now), { lastAcceptedStep: step, now })).toBeNull();
    expect(verifyTotp(secret, code(now - 30_000), { lastAcceptedStep: step, now })).toBeNull();
    expect(verifyTotp(secret, code(now + 30_000), { lastAcceptedStep: step, now: now + 30_000 })).toBe(step! + 1);
  });

  it('refuses malformed codes and another secret', () => {
    for (const bad of ['', '12345', '1234567', 'abcdef', `${code(now)} `]) expect(verifyTotp(secret, bad, { lastAcceptedStep: null, now })).toBeNull();
    expect(verifyTotp(generateTotpSecret(), code(now), { lastAcceptedStep: null, now })).toBeNull();
  });

  it('builds an otpauth URI with issuer and account', () => {
    const uri = totpUri(secret, { label: 'a@example.com', issuer: 'OC-Suite' });
    expect(uri).toMatch(/^otpauth:\/\/totp\/OC-Suite:a%40example\.com\?/);
    expect(uri).toContain(`secret=${secret}`);
    expect(generateTotpSecret()).not.toBe(secret);
  });
});
