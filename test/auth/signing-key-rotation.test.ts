import { decodeProtectedHeader } from 'jose';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { loadSigningKeys, rotateSigningKey } from '../../src/kernel/auth/signing-keys.ts';
import { bearer, json, login, signup, startApp, type TestApp } from '../support/app.ts';

/** `ocsuite keys rotate-signing`: publish, then sign, then retire only after old tokens expire. */
let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const reload = async () => t.platform.tokens.setKeys(await t.platform.withIdentity((tx) => loadSigningKeys(tx, t.platform.keyring)));
const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const jwksKids = async () => json(await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).keys.map((k: { kid: string }) => k.kid);
const age = (kid: string, seconds: number) =>
  withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE signing_keys SET created_at = now() - make_interval(secs => ${seconds}) WHERE kid = ${kid}`));

describe('signing key rotation', () => {
  it('publishes the new key first, signs with it after propagation, and retires the old one only after its tokens expire', async () => {
    const owner = await signup(t.app);
    const oldKid = kidOf(owner.accessToken)!;
    const ttl = t.platform.config.accessTokenTtlSeconds;
    // The installation's first key has been in service for ten days.
    await age(oldKid, 10 * 86_400);
    await reload();

    const { added, retired } = await t.platform.withIdentity((tx) => rotateSigningKey(tx, t.platform.keyring, { accessTokenTtlSeconds: ttl }));
    expect(retired).toEqual([]);
    await reload();
    expect(await jwksKids()).toEqual(expect.arrayContaining([oldKid, added]));
    // Not yet propagated: new tokens still come from the old key.
    expect(kidOf((await login(t.app, owner)).accessToken)).toBe(oldKid);

    await age(added, 120);
    await reload();
    const fresh = await login(t.app, owner);
    expect(kidOf(fresh.accessToken)).toBe(added);
    // A token of the old key still works while it may be unexpired.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(owner) })).statusCode).toBe(200);

    // Once the successor has signed for longer than a token lives, the next rotation retires the old key.
    await age(added, ttl + 600);
    const second = await t.platform.withIdentity((tx) => rotateSigningKey(tx, t.platform.keyring, { accessTokenTtlSeconds: ttl }));
    expect(second.retired).toContain(oldKid);
    expect(second.retired).not.toContain(added);
    await reload();
    expect(await jwksKids()).not.toContain(oldKid);
    const stale = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(owner) });
    expect(stale.statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(fresh) })).statusCode).toBe(200);
  });
});
