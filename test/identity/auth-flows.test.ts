import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { PermissionCatalog } from '../../src/kernel/access/catalog.ts';
import { modules } from '../../src/modules/index.ts';
import { bearer, json, login, PASSWORD, signup, startApp, uniqueEmail, type TestApp } from '../support/app.ts';

const PROBLEM = /^application\/problem\+json/;
const problemType = (kind: string) => `urn:ocsuite:problem:${kind}`;

let t: TestApp;

beforeAll(async () => {
  // Grace 0: any reuse of a rotated refresh token is theft here (the race has its own file).
  t = await startApp({ OCSUITE_REFRESH_GRACE_SECONDS: '0' });
});

afterAll(async () => {
  await t?.close();
});

async function count(query: ReturnType<typeof sql>): Promise<number> {
  const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(query));
  return Number(row!.n);
}

const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
const refresh = (refreshToken: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken } });

describe('signup', () => {
  it('creates a tenant with the caller as owner and returns a token pair', async () => {
    const email = uniqueEmail('signup');
    const tenantName = `Signup ${randomUUID()}`;
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName, email, password: PASSWORD } });
    expect(res.statusCode).toBe(201);
    const b = json(res);
    expect(b.tokenType).toBe('Bearer');
    expect(b.accessToken.split('.')).toHaveLength(3);
    expect(b.refreshToken).toMatch(/^ocs_rt_[A-Za-z0-9_-]{43}$/);
    expect(b.expiresIn).toBe(900);
    expect(b.roles).toEqual(['owner']);
    expect(b.tenant.name).toBe(tenantName);
    expect(b.user.email).toBe(email);
    expect(res.body).not.toContain('$argon2');

    const who = await me(b.accessToken);
    expect(who.statusCode).toBe(200);
    expect(json(who).tenant).toEqual({ id: b.tenant.id, name: tenantName });
    expect(await count(sql`SELECT count(*)::int AS n FROM memberships WHERE tenant_id = ${b.tenant.id} AND user_id = ${b.user.id} AND role = 'owner'`)).toBe(1);
  });

  it('refuses a short password with 400 and creates neither tenant nor user', async () => {
    const email = uniqueEmail('short');
    const tenantName = `Short ${randomUUID()}`;
    const short = randomBytes(4).toString('hex'); // 8 characters, under the minimum of 12
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName, email, password: short } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(PROBLEM);
    expect(json(res).type).toBe(problemType('validation-failed'));

    expect(await count(sql`SELECT count(*)::int AS n FROM tenants WHERE name = ${tenantName}`)).toBe(0);
    expect(await count(sql`SELECT count(*)::int AS n FROM users WHERE email_normalized = lower(${email})`)).toBe(0);
    const again = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: short } });
    expect(again.statusCode).toBe(401);
    expect(json(again).type).toBe(problemType('invalid-credentials'));
    // The email is still free: a proper signup succeeds (an existing account would answer 409).
    const ok = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName, email, password: PASSWORD } });
    expect(ok.statusCode).toBe(201);
  });

  it('refuses a blank tenant name and a password derived from the email, creating nothing', async () => {
    const email = uniqueEmail('derived');
    const local = email.split('@')[0]!;
    const blank = uniqueEmail('blank');
    for (const payload of [
      { tenantName: '   ', email: blank, password: PASSWORD },
      { tenantName: `Derived ${local}`, email, password: `${local}-rocks-2026` },
    ]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(await count(sql`SELECT count(*)::int AS n FROM users WHERE email_normalized IN (lower(${email}), lower(${blank}))`)).toBe(0);
    expect(await count(sql`SELECT count(*)::int AS n FROM tenants WHERE name = ${`Derived ${local}`}`)).toBe(0);
  });

  it('answers 403 signup-disabled when signup is switched off, creating nothing', async () => {
    const off = await startApp({ OCSUITE_SIGNUP_ENABLED: 'false' });
    try {
      const email = uniqueEmail('disabled');
      const res = await off.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Nope', email, password: PASSWORD } });
      expect(res.statusCode).toBe(403);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      expect(json(res).type).toBe(problemType('signup-disabled'));
      const [row] = await withOwner(off.platform.db, (tx) =>
        tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM users WHERE email_normalized = lower(${email})`));
      expect(Number(row!.n)).toBe(0);
    } finally {
      await off.close();
    }
  });
});

describe('login', () => {
  it('gives wrong password and unknown email the same 401 problem', async () => {
    const owner = await signup(t.app);
    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: `${PASSWORD} nope` } });
    const unknown = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: uniqueEmail('ghost'), password: PASSWORD } });
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toMatch(PROBLEM);
    }
    const a = json(wrong);
    const b = json(unknown);
    expect(a.type).toBe(problemType('invalid-credentials'));
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    const { requestId: _a, ...restA } = a;
    const { requestId: _b, ...restB } = b;
    expect(restA).toEqual(restB);
    expect(_a).not.toBe(_b);
  });

  it('asks a member of two tenants to choose one, then issues a token for the chosen tenant', async () => {
    const first = await signup(t.app, `Alpha ${randomUUID().slice(0, 6)}`);
    const secondName = `Beta ${randomUUID().slice(0, 6)}`;
    const res2 = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: secondName, email: first.email, password: PASSWORD } });
    expect(res2.statusCode).toBe(201);
    const second = json(res2);
    expect(second.user.id).toBe(first.userId);
    expect(second.tenant.id).not.toBe(first.tenantId);

    const ambiguous = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: first.email, password: PASSWORD } });
    expect(ambiguous.statusCode).toBe(400);
    expect(ambiguous.headers['content-type']).toMatch(PROBLEM);
    const p = json(ambiguous);
    expect(p.type).toBe(problemType('tenant-required'));
    expect(p.accessToken).toBeUndefined();
    expect(p.tenants.map((x: { id: string }) => x.id).sort()).toEqual([first.tenantId, second.tenant.id].sort());
    expect(p.tenants.find((x: { id: string }) => x.id === second.tenant.id).name).toBe(secondName);

    const chosen = await login(t.app, { email: first.email, password: PASSWORD, tenantId: second.tenant.id });
    expect(chosen.tenantId).toBe(second.tenant.id);
    const who = json(await me(chosen.accessToken));
    expect(who.tenant.id).toBe(second.tenant.id);
    expect(who.roles).toEqual(['owner']);

    const foreign = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: first.email, password: PASSWORD, tenant: randomUUID() } });
    expect(foreign.statusCode).toBe(401);
    expect(json(foreign).type).toBe(problemType('invalid-credentials'));
  });
});

describe('refresh tokens', () => {
  it('rotate: the new refresh token differs and works, the old one is refused', async () => {
    const owner = await signup(t.app);
    const res = await refresh(owner.refreshToken);
    expect(res.statusCode).toBe(200);
    const next = json(res);
    expect(next.refreshToken).toMatch(/^ocs_rt_/);
    expect(next.refreshToken).not.toBe(owner.refreshToken);
    expect(next.roles).toEqual(['owner']);
    expect((await me(next.accessToken)).statusCode).toBe(200);

    // The rotated token chains once more.
    const third = await refresh(next.refreshToken);
    expect(third.statusCode).toBe(200);
    expect(json(third).refreshToken).not.toBe(next.refreshToken);

    const old = await refresh(owner.refreshToken);
    expect(old.statusCode).toBe(401);
    expect(old.headers['content-type']).toMatch(PROBLEM);
    expect(json(old).type).toBe(problemType('invalid-token'));
  });

  it('reuse of a rotated token revokes the whole session', async () => {
    const owner = await signup(t.app);
    expect((await me(owner.accessToken)).statusCode).toBe(200);
    const rotated = json(await refresh(owner.refreshToken));
    expect((await me(rotated.accessToken)).statusCode).toBe(200);

    const reuse = await refresh(owner.refreshToken);
    expect(reuse.statusCode).toBe(401);
    expect(reuse.headers['content-type']).toMatch(PROBLEM);
    expect(json(reuse).type).toBe(problemType('invalid-token'));

    // The newest refresh token of the family is dead at once.
    const newest = await refresh(rotated.refreshToken);
    expect(newest.statusCode).toBe(401);
    expect(json(newest).type).toBe(problemType('invalid-token'));

    const [row] = await withOwner(t.platform.db, (tx) =>
      tx.query<{ revoked: boolean; reason: string | null }>(sql`
        SELECT revoked_at IS NOT NULL AS revoked, revoked_reason AS reason FROM sessions
        WHERE user_id = ${owner.userId} AND tenant_id = ${owner.tenantId}`));
    expect(row).toEqual({ revoked: true, reason: 'refresh-token-reuse' });

    // On the node that caught the reuse, the session's access tokens stop at once
    // (other nodes follow within the 5 s session-check TTL).
    expect((await me(rotated.accessToken)).statusCode).toBe(401);
    const dead = await me(owner.accessToken);
    expect(dead.statusCode).toBe(401);
    expect(json(dead).type).toBe(problemType('unauthenticated'));

    // Other sessions of the same user are unaffected.
    const fresh = await login(t.app, owner);
    expect((await me(fresh.accessToken)).statusCode).toBe(200);

    // Replaying the dead tokens again changes nothing: one revocation event, not one per replay.
    for (let i = 0; i < 3; i++) expect((await refresh(owner.refreshToken)).statusCode).toBe(401);
    const events = await withOwner(t.platform.db, (tx) => tx.query(sql`
      SELECT 1 FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'session.revoked' AND actor_id = ${owner.userId}`));
    expect(events).toHaveLength(1);
  });

  it('refuses a well-formed token that was never issued', async () => {
    const res = await refresh(`ocs_rt_${'A'.repeat(43)}`);
    expect(res.statusCode).toBe(401);
    expect(json(res).type).toBe(problemType('invalid-token'));
  });
});

describe('logout', () => {
  it('refuses the access token at once and the refresh token of the session', async () => {
    const owner = await signup(t.app);
    expect((await me(owner.accessToken)).statusCode).toBe(200); // warms the session cache
    const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(owner) });
    expect(out.statusCode).toBe(204);
    expect(out.body).toBe('');

    const after = await me(owner.accessToken);
    expect(after.statusCode).toBe(401);
    expect(after.headers['content-type']).toMatch(PROBLEM);
    expect(json(after).type).toBe(problemType('unauthenticated'));

    const r = await refresh(owner.refreshToken);
    expect(r.statusCode).toBe(401);
    expect(json(r).type).toBe(problemType('invalid-token'));

    const again = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(owner) });
    expect(again.statusCode).toBe(401);
  });
});

describe('/me', () => {
  it('returns exactly user, tenant, roles, permissions and session id', async () => {
    const owner = await signup(t.app, 'Me Tenant');
    const res = await me(owner.accessToken);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const b = json(res);
    expect(Object.keys(b).sort()).toEqual(['permissions', 'roles', 'sessionId', 'tenant', 'user']);
    expect(b.user).toEqual({ id: owner.userId, email: owner.email, displayName: null });
    expect(b.tenant).toEqual({ id: owner.tenantId, name: 'Me Tenant' });
    expect(b.roles).toEqual(['owner']);
    // An owner holds every permission of the catalogue (and `session`).
    expect(b.permissions).toEqual(['session', ...new PermissionCatalog(modules).entries().map((e) => e.key)].sort());
    expect(b.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body).not.toMatch(/password|argon2|hash/i);
  });

  it('takes the bearer scheme in any case (RFC 9110 §11.1)', async () => {
    const owner = await signup(t.app);
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      expect((await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `${scheme} ${owner.accessToken}` } })).statusCode).toBe(200);
    }
  });

  it('refuses a missing or malformed bearer token with 401 unauthenticated', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-a-jwt' }, { authorization: `Basic ${Buffer.from(`${randomUUID()}:${randomUUID()}`).toString('base64')}` }]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers });
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toMatch(PROBLEM);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(json(res).type).toBe(problemType('unauthenticated'));
    }
  });
});
