import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccessTokenIssuer, InvalidTokenError, type SigningKey } from '../../src/kernel/auth/access-tokens.ts';

/**
 * Verified access tokens are cached by their text, but the cache never
 * outlives what a full verification would accept: not past `exp`, and not
 * past the retirement of the key that signed them.
 */
const newKey = (): SigningKey => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // Published long enough ago to sign at once.
  return { kid: randomUUID(), privateKey, publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown>, createdAt: new Date(Date.now() - 3_600_000) };
};
const claims = () => ({ sub: randomUUID(), tid: randomUUID(), roles: ['member' as const], sid: randomUUID() });
const issuerWith = (key: SigningKey) => new AccessTokenIssuer({ keys: [key], issuer: 'https://ocsuite.test', audience: 'ocsuite', ttlSeconds: 60 });

afterEach(() => vi.useRealTimers());

describe('verified access-token cache', () => {
  it('serves a verified token until exp and not after, on the wall clock', async () => {
    const issuer = issuerWith(newKey());
    const token = await issuer.issue(claims());
    const first = await issuer.verify(token);
    expect(await issuer.verify(token)).toBe(first); // the cached verification
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(first.exp * 1000 + 6_000); // past exp and jose's 5 s clock tolerance
    await expect(issuer.verify(token)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('drops cached verifications when their signing key is retired', async () => {
    const oldKey = newKey();
    const issuer = issuerWith(oldKey);
    const token = await issuer.issue(claims());
    await issuer.verify(token);
    issuer.setKeys([oldKey, newKey()]);
    expect((await issuer.verify(token)).sid).toBeTruthy(); // a key added: the old one still verifies
    issuer.setKeys([newKey()]);
    await expect(issuer.verify(token)).rejects.toBeInstanceOf(InvalidTokenError);
  });
});
