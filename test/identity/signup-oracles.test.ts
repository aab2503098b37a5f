import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { bearer, enableMfa, json, PASSWORD, signup, startApp, totpCode, uniqueEmail, type Account, type TestApp } from '../support/app.ts';
import { mailTo, tokenIn } from './outbox.ts';

/**
 * Issue #22 §1: signup reveals nothing about which addresses have accounts
 * (OCSUITE_SIGNUP_CONFIRMATION=email), and in every mode an existing
 * account's password creates nothing until every factor it has is proved.
 */
/**
 * What exists for the given addresses and for this file's tenant name. Scoped, not global:
 * on PostgreSQL other test files create accounts in the same database at the same time.
 */
async function counts(t: TestApp, emails: string[]) {
  const lowered = emails.map((e) => e.toLowerCase());
  return withOwner(t.platform.db, async (tx) => {
    const [row] = await tx.query<{ tenants: number; users: number; memberships: number; requests: number }>(sql`
      SELECT (SELECT count(*)::int FROM tenants WHERE name = ${TENANT_NAME}) AS tenants,
             (SELECT count(*)::int FROM users WHERE email_normalized = ANY (${sql.param(lowered)}::text[])) AS users,
             (SELECT count(*)::int FROM memberships m JOIN users u ON u.id = m.user_id
                WHERE u.email_normalized = ANY (${sql.param(lowered)}::text[])) AS memberships,
             (SELECT count(*)::int FROM signup_requests WHERE lower(email) = ANY (${sql.param(lowered)}::text[])) AS requests`);
    return row!;
  });
}

/** Unique per run, so the tenants this file's signups create can be counted apart from others'. */
const TENANT_NAME = `New tenant ${randomBytes(4).toString('hex')}`;

const signupBody = (email: string, password = PASSWORD) => ({ tenantName: TENANT_NAME, email, password });

describe('signup with email confirmation', () => {
  let t: TestApp;
  let plain: Account;
  let withMfa: Account;

  beforeAll(async () => {
    // Accounts made at once first, then the same platform switched to confirmation by email.
    const setup = await startApp();
    plain = await signup(setup.app, 'Plain');
    withMfa = await enableMfa(setup.app, await signup(setup.app, 'With MFA'));
    const dataDir = setup.platform.config.dataDir;
    if (setup.platform.config.profile === 'production') {
      await setup.close();
      t = await startApp({ OCSUITE_SIGNUP_CONFIRMATION: 'email', OCSUITE_DATA_DIR: dataDir });
    } else {
      // PGlite in memory: the accounts live in this instance, so the mode is switched on its config.
      t = setup;
      (t.platform.config as { signupConfirmation: string }).signupConfirmation = 'email';
    }
  });

  afterAll(async () => {
    await t?.close();
  });

  it('answers a new, a known and a known-with-MFA address alike, and creates no account, tenant or membership', async () => {
    const fresh = uniqueEmail('new');
    const emails = [fresh, plain.email, withMfa.email];
    const before = await counts(t, emails);
    const answers = [];
    for (const [email, password] of [[fresh, PASSWORD], [plain.email, 'a wrong password entirely'], [plain.email, PASSWORD], [withMfa.email, PASSWORD]] as const) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: signupBody(email, password) });
      answers.push({ status: res.statusCode, body: res.body, type: res.headers['content-type'] });
    }
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([202]));
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(new Set(answers.map((a) => a.type)).size).toBe(1);
    const after = await counts(t, emails);
    expect({ ...after, requests: 0 }).toEqual({ ...before, requests: 0 });
    // One request row per signup, whoever the address belongs to.
    expect(after.requests - before.requests).toBe(4);
  });

  it('creates the account and tenant when the link of a new address is followed, once', async () => {
    const email = uniqueEmail('confirm');
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: signupBody(email) });
    const token = tokenIn(await mailTo(t, email), 'ocs_su')!;
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup/confirm', payload: { token } });
    expect(res.statusCode).toBe(201);
    const body = json(res);
    expect(body.user.email).toBe(email);
    expect(body.roles).toEqual(['owner']);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(body) });
    expect(json(me).tenant.name).toBe(TENANT_NAME);
    const replay = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup/confirm', payload: { token } });
    expect(replay.statusCode).toBe(401);
  });

  it('mails a known address instead, and its link needs the password before anything is created', async () => {
    await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: signupBody(plain.email) });
    const mail = await mailTo(t, plain.email);
    expect(mail).toContain('already has an OC-Suite account');
    expect(mail).not.toContain(TENANT_NAME);
    const token = tokenIn(mail, 'ocs_su')!;
    const before = await counts(t, [plain.email]);
    const noPassword = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup/confirm', payload: { token } });
    expect(noPassword.statusCode).toBe(400);
    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup/confirm', payload: { token, password: 'not the password at all' } });
    expect(wrong.statusCode).toBe(401);
    expect(await counts(t, [plain.email])).toEqual(before);
    const right = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup/confirm', payload: { token, password: PASSWORD } });
    expect(right.statusCode).toBe(201);
    expect(json(right).user.id).toBe(plain.userId);
    expect(json(right).tenant.id).not.toBe(plain.tenantId);
  });

  it('refuses a forged or malformed link', async () => {
    const forged = `ocs_su_${randomBytes(32).toString('base64url')}`;
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup/confirm', payload: { token: forged } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup/confirm', payload: { token: 'ocs_su_short' } })).statusCode).toBe(400);
  });
});

describe('signup of an existing account with a second factor (tokens at once)', () => {
  let t: TestApp;
  let owner: Account;

  beforeAll(async () => {
    t = await startApp();
    owner = await enableMfa(t.app, await signup(t.app, 'First'));
  });

  afterAll(async () => {
    await t?.close();
  });

  it('creates nothing on the password alone; the tenant appears once the second factor is proved', async () => {
    const before = await counts(t, [owner.email]);
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: signupBody(owner.email) });
    expect(res.statusCode).toBe(201);
    expect(json(res).mfaRequired).toBe(true);
    expect(await counts(t, [owner.email])).toEqual(before);
    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload: { ticket: json(res).mfaTicket, code: '000000' } });
    expect(wrong.statusCode).toBe(401);
    expect(await counts(t, [owner.email])).toEqual(before);
    const verified = await t.app.inject({ method: 'POST', url: '/api/v1/auth/mfa/verify', payload: { ticket: json(res).mfaTicket, code: await totpCode(owner) } });
    expect(verified.statusCode).toBe(200);
    const body = json(verified);
    expect(body.user.id).toBe(owner.userId);
    expect(body.tenant.id).not.toBe(owner.tenantId);
    expect(body.tenant.name).toBe(TENANT_NAME);
    const after = await counts(t, [owner.email]);
    expect(after.tenants).toBe(before.tenants + 1);
    expect(after.memberships).toBe(before.memberships + 1);
    expect(after.users).toBe(before.users);
    // The session of the new tenant holds the proven factor: a step-up route answers.
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(body) });
    expect(json(me).roles).toEqual(['owner']);
  });

  it('answers 409 to a known address with a wrong password (the documented oracle of this mode)', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: signupBody(owner.email, 'definitely not it, sorry') });
    expect(res.statusCode).toBe(409);
  });
});

describe('invitation links in responses', () => {
  it('are shown only where the operator allows it; production hides them and confirms signups by email', async () => {
    const t = await startApp({ OCSUITE_INVITATION_LINKS_IN_RESPONSE: 'false' });
    try {
      const owner = await signup(t.app);
      const email = uniqueEmail('invitee');
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(owner), payload: { email, role: 'member' } });
      expect(res.statusCode).toBe(201);
      expect(json(res).acceptUrl).toBeUndefined();
      expect(res.body).not.toContain('ocs_inv_');
      expect(tokenIn(await mailTo(t, email), 'ocs_inv')).toMatch(/^ocs_inv_[A-Za-z0-9_-]{43}$/);
    } finally {
      await t.close();
    }
    const production = loadConfig({
      NODE_ENV: 'production', PUBLIC_URL: 'https://api.example.com', OCSUITE_MASTER_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      DATABASE_URL: `postgres://ocsuite:${randomBytes(18).toString('base64url')}@db.internal:5432/ocsuite`,
    });
    expect(production.signupConfirmation).toBe('email');
    expect(production.invitationLinksInResponse).toBe(false);
    expect(loadConfig({}).signupConfirmation).toBe('none');
    expect(loadConfig({ OCSUITE_SIGNUP_CONFIRMATION: 'email' }).signupConfirmation).toBe('email');
    expect(() => loadConfig({ OCSUITE_SIGNUP_CONFIRMATION: 'maybe' })).toThrow(/OCSUITE_SIGNUP_CONFIRMATION/);
  });
});
