import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { throttleKey } from '../../src/kernel/limits/login-throttle.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { bearer, json, signup, startApp, uniqueEmail, type TestApp } from '../support/app.ts';
import { mailTo, tokenIn } from './outbox.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const login = (email: string, password: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });

describe('brute-force lockout', () => {
  it('locks an account after repeated failures, even for the right password, and releases it', async () => {
    const owner = await signup(t.app);
    for (let i = 0; i < 5; i++) expect((await login(owner.email, 'wrong password attempt')).statusCode).toBe(401);
    const locked = await login(owner.email, owner.password);
    expect(locked.statusCode).toBe(429);
    expect(json(locked).type).toBe('urn:ocsuite:problem:locked-out');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    // Let the lock run out (time travel in the database), then the right password works again.
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE auth_throttle SET locked_until = now() - interval '1 second' WHERE key LIKE 'acct:%'`));
    expect((await login(owner.email, owner.password)).statusCode).toBe(200);
    // Success cleared the counter: one more failure does not lock again.
    expect((await login(owner.email, 'wrong password attempt')).statusCode).toBe(401);
    expect((await login(owner.email, owner.password)).statusCode).toBe(200);
  });

  it('locks an unknown address exactly like a known one', async () => {
    const ghost = uniqueEmail('ghost');
    for (let i = 0; i < 5; i++) expect((await login(ghost, 'wrong password attempt')).statusCode).toBe(401);
    expect((await login(ghost, 'wrong password attempt')).statusCode).toBe(429);
  });

  it('doubles the lock on every failure past the limit', async () => {
    const owner = await signup(t.app);
    for (let i = 0; i < 5; i++) await login(owner.email, 'wrong password attempt');
    const first = Number((await login(owner.email, owner.password)).headers['retry-after']);
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE auth_throttle SET locked_until = now() - interval '1 second' WHERE key = ${throttleKey.account(owner.email)}`));
    await login(owner.email, 'wrong password attempt');
    const second = Number((await login(owner.email, owner.password)).headers['retry-after']);
    expect(second).toBeGreaterThan(first);
  });
});

describe('password reset', () => {
  it('answers the same whether or not the account exists', async () => {
    const owner = await signup(t.app);
    const known = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email: owner.email } });
    const unknown = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email: uniqueEmail('nobody') } });
    expect(known.statusCode).toBe(202);
    expect(unknown.statusCode).toBe(202);
    expect(known.body).toBe(unknown.body);
  });

  it('resets once with the mailed token, revokes every session, and the token cannot be reused', async () => {
    const owner = await signup(t.app);
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email: owner.email } });
    const token = tokenIn(await mailTo(t, owner.email), 'ocs_pr');
    expect(token).toBeTruthy();
    const weak = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', payload: { token, password: 'password1234' } });
    expect(weak.statusCode).toBe(400);
    const confirm = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', payload: { token, password: 'a brand new passphrase 42' } });
    expect(confirm.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(owner) })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: owner.refreshToken } })).statusCode).toBe(401);
    expect((await login(owner.email, owner.password)).statusCode).toBe(401);
    expect((await login(owner.email, 'a brand new passphrase 42')).statusCode).toBe(200);
    const reuse = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', payload: { token, password: 'another new passphrase 7' } });
    expect(reuse.statusCode).toBe(401);
  });

  it('refuses an expired token', async () => {
    const owner = await signup(t.app);
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email: owner.email } });
    const token = tokenIn(await mailTo(t, owner.email), 'ocs_pr');
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE user_tokens SET expires_at = now() - interval '1 second' WHERE user_id = ${owner.userId}`));
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset/confirm', payload: { token, password: 'a brand new passphrase 42' } });
    expect(res.statusCode).toBe(401);
    expect((await login(owner.email, owner.password)).statusCode).toBe(200);
  });

  it('verifies an email address once', async () => {
    const owner = await signup(t.app);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/email/verification', headers: bearer(owner) })).statusCode).toBe(202);
    const token = tokenIn(await mailTo(t, owner.email), 'ocs_ev');
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/email/verify', payload: { token } })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/email/verify', payload: { token } })).statusCode).toBe(401);
    const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ verified: boolean }>(sql`SELECT email_verified_at IS NOT NULL AS verified FROM users WHERE id = ${owner.userId}`));
    expect(row?.verified).toBe(true);
  });
});
