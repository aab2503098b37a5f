import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, bearer, enableMfa, json, login, signup, startApp, totpCode, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const post = (url: string, who: { accessToken: string } | null, payload?: object) =>
  t.app.inject({ method: 'POST', url, ...(who ? { headers: bearer(who) } : {}), ...(payload ? { payload } : {}) });
const problem = (res: Parameters<typeof json>[0]) => json(res).type as string;

describe('TOTP second factor', () => {
  it('turns login into two steps with a single-use ticket', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    const first = await post('/api/v1/auth/login', null, { email: owner.email, password: owner.password });
    expect(first.statusCode).toBe(200);
    const challenge = json(first);
    expect(challenge).toEqual({ mfaRequired: true, mfaTicket: expect.stringMatching(/^ocs_mt_/), expiresIn: 300 });
    expect(challenge.accessToken).toBeUndefined();

    const wrong = await post('/api/v1/auth/mfa/verify', null, { ticket: challenge.mfaTicket, code: '000000' });
    expect(wrong.statusCode).toBe(401);
    const ok = await post('/api/v1/auth/mfa/verify', null, { ticket: challenge.mfaTicket, code: await totpCode(owner) });
    expect(ok.statusCode).toBe(200);
    expect(json(ok).accessToken).toBeTruthy();
    // The ticket is spent: refused whatever the code.
    const again = await post('/api/v1/auth/mfa/verify', null, { ticket: challenge.mfaTicket, code: '123456' });
    expect(again.statusCode).toBe(401);
    expect(problem(again)).toBe('urn:ocsuite:problem:invalid-token');
  });

  it('refuses a replayed code', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    const code = await totpCode(owner);
    expect((await post('/api/v1/auth/mfa/step-up', owner, { code })).statusCode).toBe(204);
    const replay = await post('/api/v1/auth/mfa/step-up', owner, { code });
    expect(replay.statusCode).toBe(403);
    expect(problem(replay)).toBe('urn:ocsuite:problem:invalid-credentials');
  });

  it('accepts each recovery code once', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    expect(owner.mfa!.recoveryCodes).toHaveLength(10);
    expect(owner.mfa!.recoveryCodes.every((c) => /^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$/.test(c))).toBe(true);
    const [code] = owner.mfa!.recoveryCodes;
    const ticket = () => post('/api/v1/auth/login', null, { email: owner.email, password: owner.password }).then((r) => json(r).mfaTicket);
    expect((await post('/api/v1/auth/mfa/verify', null, { ticket: await ticket(), code })).statusCode).toBe(200);
    expect((await post('/api/v1/auth/mfa/verify', null, { ticket: await ticket(), code })).statusCode).toBe(401);
  });

  it('requires a fresh code to disable, and a disabled factor no longer gates login', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    expect((await post('/api/v1/auth/mfa/disable', owner, { code: '123456' })).statusCode).toBe(403);
    expect((await post('/api/v1/auth/mfa/disable', owner, { code: await totpCode(owner) })).statusCode).toBe(204);
    const res = await post('/api/v1/auth/login', null, { email: owner.email, password: owner.password });
    expect(json(res).accessToken).toBeTruthy();
  });

  it('refuses a second enrolment while one is active', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    const res = await post('/api/v1/auth/mfa/enrol', owner, { password: owner.password });
    expect(res.statusCode).toBe(409);
  });

  it('needs the password to enrol, so a stolen access token cannot attach a new authenticator', async () => {
    const owner = await signup(t.app);
    expect((await post('/api/v1/auth/mfa/enrol', owner)).statusCode).toBe(400);
    const wrong = await post('/api/v1/auth/mfa/enrol', owner, { password: 'not the password at all' });
    expect(wrong.statusCode).toBe(403);
    expect(problem(wrong)).toBe('urn:ocsuite:problem:invalid-credentials');
  });

  it('never re-confirms an enabled factor and throttles confirmation guesses', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    const again = await post('/api/v1/auth/mfa/confirm', owner, { code: await totpCode(owner) });
    expect(again.statusCode).toBe(409);
    const fresh = await signup(t.app);
    expect((await post('/api/v1/auth/mfa/enrol', fresh, { password: fresh.password })).statusCode).toBe(201);
    for (let i = 0; i < 5; i++) expect((await post('/api/v1/auth/mfa/confirm', fresh, { code: '000000' })).statusCode).toBe(403);
    const locked = await post('/api/v1/auth/mfa/confirm', fresh, { code: '000000' });
    expect(locked.statusCode).toBe(429);
    expect(problem(locked)).toBe('urn:ocsuite:problem:locked-out');
  });

  it('gives no session from a password alone when signup or an invitation meets an account with MFA', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    const second = await post('/api/v1/auth/signup', null, { tenantName: 'Second', email: owner.email, password: owner.password });
    expect(second.statusCode).toBe(201);
    expect(json(second)).toEqual({ mfaRequired: true, mfaTicket: expect.stringMatching(/^ocs_mt_/), expiresIn: 300 });
    const inviter = await signup(t.app, 'Inviter');
    const invite = json(await post('/api/v1/invitations', inviter, { email: owner.email, role: 'member' }));
    const token = new URL(invite.acceptUrl).hash.replace('#token=', '');
    const accepted = await post('/api/v1/invitations/accept', null, { token, password: owner.password });
    expect(accepted.statusCode).toBe(200);
    expect(json(accepted).mfaRequired).toBe(true);
    expect(json(accepted).accessToken).toBeUndefined();
  });

  it('throttles password guesses through signup like login', async () => {
    const owner = await signup(t.app);
    for (let i = 0; i < 5; i++) {
      expect((await post('/api/v1/auth/signup', null, { tenantName: 'Guess', email: owner.email, password: `guess number ${i} here` })).statusCode).toBe(409);
    }
    expect((await post('/api/v1/auth/signup', null, { tenantName: 'Guess', email: owner.email, password: owner.password })).statusCode).toBe(429);
    expect((await post('/api/v1/auth/login', null, { email: owner.email, password: owner.password })).statusCode).toBe(429);
  });
});

describe('step-up for sensitive operations', () => {
  it('refuses a role change without a recent second factor, allows it after step-up', async () => {
    const owner = await signup(t.app);
    const member = await addMember(t.app, owner, 'member');
    const change = () => t.app.inject({ method: 'PATCH', url: `/api/v1/members/${member.userId}`, headers: bearer(owner), payload: { role: 'viewer' } });
    const refused = await change();
    expect(refused.statusCode).toBe(403);
    expect(problem(refused)).toBe('urn:ocsuite:problem:step-up-required');
    await enableMfa(t.app, owner);
    expect((await change()).statusCode).toBe(204);
  });

  it('lets a fresh login with MFA count as step-up, but not a password-only session', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    const fresh = await login(t.app, owner);
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(fresh), payload: { name: 'n8n', scopes: ['knowledge:read'] } });
    expect(res.statusCode).toBe(201);
  });
});

describe('tenant MFA policy', () => {
  it('makes admins enrol before they can act, while members are unaffected', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    const admin = await addMember(t.app, owner, 'admin');
    const member = await addMember(t.app, owner, 'member');
    const put = await t.app.inject({ method: 'PUT', url: '/api/v1/tenant/mfa-policy', headers: bearer(owner), payload: { requiredForAdmins: true } });
    expect(put.statusCode).toBe(204);
    const adminFresh = await login(t.app, admin);
    const blocked = await t.app.inject({ method: 'GET', url: '/api/v1/members', headers: bearer(adminFresh) });
    expect(blocked.statusCode).toBe(403);
    expect(problem(blocked)).toBe('urn:ocsuite:problem:mfa-required');
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(adminFresh) })).statusCode).toBe(200);
    await enableMfa(t.app, adminFresh);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/members', headers: bearer(adminFresh) })).statusCode).toBe(200);
    const memberFresh = await login(t.app, member);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: bearer(memberFresh) })).statusCode).toBe(200);
  });

  it('an admin who disables the factor is held by the policy again, at once and in sessions proven earlier', async () => {
    const owner = await enableMfa(t.app, await signup(t.app));
    const admin = await enableMfa(t.app, await addMember(t.app, owner, 'admin'));
    const other = await login(t.app, admin); // a second session that proved the factor at login
    expect((await t.app.inject({ method: 'PUT', url: '/api/v1/tenant/mfa-policy', headers: bearer(owner), payload: { requiredForAdmins: true } })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/invitations', headers: bearer(admin) })).statusCode).toBe(200);
    const disabled = await post('/api/v1/auth/mfa/disable', admin, { code: await totpCode(admin) });
    expect(disabled.statusCode, disabled.body).toBe(204);
    const blocked = await t.app.inject({ method: 'GET', url: '/api/v1/invitations', headers: bearer(admin) });
    expect(blocked.statusCode).toBe(403);
    expect(problem(blocked)).toBe('urn:ocsuite:problem:mfa-required');
    // The other session's cached state lasts at most SESSION_CHECK_TTL_MS (5 s); end it as its expiry would.
    t.app.forgetSession(JSON.parse(Buffer.from(other.accessToken.split('.')[1]!, 'base64url').toString()).sid);
    const otherBlocked = await t.app.inject({ method: 'GET', url: '/api/v1/invitations', headers: bearer(other) });
    expect(otherBlocked.statusCode).toBe(403);
    expect(problem(otherBlocked)).toBe('urn:ocsuite:problem:mfa-required');
  });

  it('is changed only by an owner', async () => {
    const owner = await signup(t.app);
    const admin: Account = await enableMfa(t.app, await addMember(t.app, owner, 'admin'));
    const res = await t.app.inject({ method: 'PUT', url: '/api/v1/tenant/mfa-policy', headers: bearer(admin), payload: { requiredForAdmins: false } });
    expect(res.statusCode).toBe(403);
    expect(problem(res)).toBe('urn:ocsuite:problem:forbidden');
  });
});
