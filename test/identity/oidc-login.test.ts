import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { exportJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { bearer, json, signup, startApp, uniqueEmail, type Account, type TestApp } from '../support/app.ts';

/** External OIDC end to end: a local JWKS server plays Clerk; tokens are made at run time. */
let t: TestApp;
let server: http.Server;
let issuer: string;
let local: Account;
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });

beforeAll(async () => {
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t = await startApp({
    OCSUITE_OIDC_ISSUERS: JSON.stringify([{
      issuer, jwksUrl: `${issuer}/.well-known/jwks.json`, authorizedParties: ['https://app.example.com'], algorithms: ['RS256'],
      tenantClaim: 'org_id', roleClaim: 'org_role', roleMap: { 'org:admin': 'admin', 'org:member': 'member' },
    }]),
  });
  local = await signup(t.app, 'Linked');
  // Linking needs a proven address on the local account.
  await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE users SET email_verified_at = now() WHERE id = ${local.userId}`));
  await withOwner(t.platform.db, (tx) => tx.query(sql`INSERT INTO external_tenants (issuer, external_id, tenant_id) VALUES (${issuer}, 'org_acme', ${local.tenantId})`));
});
afterAll(async () => {
  await t?.close();
  await new Promise<void>((r) => server.close(() => r()));
});

const clerkToken = (claims: Record<string, unknown>, key = keys.privateKey) =>
  new SignJWT({ azp: 'https://app.example.com', org_id: 'org_acme', org_role: 'org:member', email_verified: true, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(issuer).setSubject(String(claims.sub ?? 'user_1'))
    .setIssuedAt().setExpirationTime('5m').sign(key);

describe('external OIDC through the API', () => {
  it('accepts a valid token, maps organisation and role, and links by verified email', async () => {
    const token = await clerkToken({ sub: 'user_owner', email: local.email, org_role: 'org:admin' });
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
    expect(me.statusCode).toBe(200);
    expect(json(me)).toMatchObject({ user: { id: local.userId }, tenant: { id: local.tenantId }, roles: ['admin'], sessionId: null });
    const members = await t.app.inject({ method: 'GET', url: '/api/v1/members', headers: { authorization: `Bearer ${token}` } });
    expect(members.statusCode).toBe(200);
  });

  it('creates a local user for a new verified email and scopes it to the mapped tenant', async () => {
    const email = uniqueEmail('ext');
    const token = await clerkToken({ sub: 'user_new', email });
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: { authorization: `Bearer ${token}` }, payload: { title: 'from clerk', body: 'b' } });
    expect(created.statusCode).toBe(201);
    const list = json(await t.app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: bearer(local) }));
    expect(list.items.map((e: { title: string }) => e.title)).toContain('from clerk');
    // member role: no delete
    const del = await t.app.inject({ method: 'DELETE', url: `/api/v1/knowledge/${json(created).id}`, headers: { authorization: `Bearer ${token}` } });
    expect(del.statusCode).toBe(403);
  });

  it('never links to a local account whose email was not verified (it may belong to someone else)', async () => {
    const squatter = await signup(t.app, 'Squatter');
    const token = await clerkToken({ sub: 'user_victim', email: squatter.email });
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(401);
  });

  it('re-resolves the organisation mapping within a minute, so an unmapped or deleted tenant stops', async () => {
    const other = await signup(t.app, 'Short-lived mapping');
    await withOwner(t.platform.db, (tx) => tx.query(sql`INSERT INTO external_tenants (issuer, external_id, tenant_id) VALUES (${issuer}, 'org_temp', ${other.tenantId})`));
    const token = await clerkToken({ sub: 'user_temp', email: uniqueEmail('temp'), org_id: 'org_temp' });
    const call = () => t.app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: { authorization: `Bearer ${token}` } });
    expect((await call()).statusCode).toBe(200);
    await withOwner(t.platform.db, (tx) => tx.query(sql`DELETE FROM external_tenants WHERE external_id = 'org_temp'`));
    expect((await call()).statusCode).toBe(200); // still cached
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 61_000);
      expect((await call()).statusCode).toBe(401);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses unverified emails, unmapped organisations and forged tokens', async () => {
    const cases = [
      await clerkToken({ sub: 'user_unverified', email: uniqueEmail('u'), email_verified: false }),
      await clerkToken({ sub: 'user_other_org', email: uniqueEmail('o'), org_id: 'org_unknown' }),
      await clerkToken({ sub: 'user_forged', email: local.email, org_role: 'org:admin' }, attacker.privateKey),
      await clerkToken({ sub: 'user_bad_role', email: local.email, org_role: 'org:owner' }),
    ];
    for (const token of cases) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(401);
    }
  });
});
