import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltInRole as Role } from '../../src/kernel/access/catalog.ts';
import type { RouteInventoryEntry } from '../../src/http/route-policy.ts';
import { addMember, bearer, enableMfa, json, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { forgedTokens } from './forged-tokens.ts';
import { seedModules } from './module-seeds.ts';
import { sampleFromSchema } from './sample-body.ts';

/**
 * Generated from the running server's route inventory (DESIGN.md §7): a route
 * added tomorrow is attacked by these tests without anyone editing them.
 */
const operatorToken = randomBytes(36).toString('base64url');
/** Every route × every role (or id) in one test: its bound grows with the API, not with a slow handler. */
const MATRIX_TIMEOUT_MS = 300_000;
let t: TestApp;
let routes: RouteInventoryEntry[];
const A: Partial<Record<Role, Account>> = {};
const B: Partial<Record<Role, Account>> = {};
let bIds: string[] = [];
let bSecrets: string[] = [];
let aIds: string[] = [];

const isProtected = (r: RouteInventoryEntry) => r.policy !== 'public' && !r.policy.startsWith('public ');
const fill = (path: string, id: string) => path.replace(/:[A-Za-z]+/g, id);
const hasParams = (r: RouteInventoryEntry) => /:[A-Za-z]+/.test(r.path);

async function call(r: RouteInventoryEntry, path: string, headers: Record<string, string>) {
  const body = sampleFromSchema(r.body as Record<string, unknown> | undefined);
  return t.app.inject({ method: r.method as 'GET', url: path, headers, ...(body === undefined ? {} : { payload: body as object }) });
}

/** An outreach campaign of the tenant, sent to its contacts, and one of its send rows. */
async function sentCampaign(tenant: Partial<Record<Role, Account>>): Promise<{ campaignId: string; sendId: string }> {
  await t.app.inject({ method: 'PATCH', url: '/api/v1/outreach/settings', headers: bearer(tenant.owner!), payload: { postalAddress: '1 Main St, Springfield' } });
  const campaign = json(await t.app.inject({ method: 'POST', url: '/api/v1/outreach/campaigns', headers: bearer(tenant.member!), payload: { name: 'c', subject: 's', bodyText: 'b' } }));
  await t.app.inject({ method: 'POST', url: `/api/v1/outreach/campaigns/${campaign.id}/send`, headers: bearer(tenant.admin!) });
  const sends = json(await t.app.inject({ method: 'GET', url: `/api/v1/outreach/sends?campaignId=${campaign.id}`, headers: bearer(tenant.member!) }));
  return { campaignId: campaign.id, sendId: sends.items[0].id };
}

beforeAll(async () => {
  t = await startApp({ OCSUITE_OPERATOR_TOKEN: operatorToken });
  routes = t.app.routeInventory.filter((r) => r.method !== 'OPTIONS');
  for (const [tenant, name] of [[A, 'Tenant A'], [B, 'Tenant B']] as const) {
    tenant.owner = await signup(t.app, name);
    for (const role of ['admin', 'member', 'viewer'] as const) tenant[role] = await addMember(t.app, tenant.owner, role);
  }
  const secretTitle = `B-secret-${randomUUID()}`;
  const entry = json(await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(B.member!), payload: { title: secretTitle, body: 'B body', tags: ['b-only'] } }));
  const invite = json(await t.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(B.owner!), payload: { email: `pending-${randomUUID().slice(0, 6)}@example.com`, role: 'viewer' } }));
  const bRole = json(await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(B.owner!), payload: { name: `B-role-${randomUUID().slice(0, 6)}`, permissions: ['knowledge:read'] } }));
  const bTask = json(await t.app.inject({ method: 'POST', url: '/api/v1/tasks', headers: bearer(B.owner!), payload: { title: `${secretTitle}-task`, assigneeId: B.member!.userId } }));
  bIds = [entry.id, invite.id, B.owner!.userId, B.member!.userId, bRole.id, bTask.id];
  const bContactEmail = `b-secret-${randomUUID().slice(0, 6)}@example.com`;
  const bContact = json(await t.app.inject({ method: 'POST', url: '/api/v1/outreach/contacts', headers: bearer(B.member!), payload: { email: bContactEmail, source: 'test', lawfulBasis: 'legitimate_interest' } }));
  const bSuppression = json(await t.app.inject({ method: 'POST', url: '/api/v1/outreach/suppressions', headers: bearer(B.member!), payload: { email: `b-supp-${randomUUID().slice(0, 6)}@example.com`, reason: 'manual' } }));
  const bSend = await sentCampaign(B);
  bIds.push(bContact.id, bSuppression.id, bSend.campaignId, bSend.sendId);
  bSecrets = [...bIds, secretTitle, B.owner!.email, B.member!.email, B.owner!.tenantId, bContactEmail];
  const aEntry = json(await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(A.member!), payload: { title: 'A entry', body: 'A body' } }));
  const aInvite = json(await t.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(A.owner!), payload: { email: `pending-${randomUUID().slice(0, 6)}@example.com`, role: 'viewer' } }));
  const aRole = json(await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(A.owner!), payload: { name: 'A-role', permissions: ['knowledge:read'] } }));
  aIds = [aEntry.id, aInvite.id, A.viewer!.userId, aRole.id];
  // Each product module's rows (test/security/module-seeds.ts).
  const seeded = await seedModules(t, { A: { owner: A.owner! }, B: { owner: B.owner! } });
  aIds.push(...seeded.aIds);
  bIds.push(...seeded.bIds);
  bSecrets.push(...seeded.bIds, ...seeded.bSecrets);
  const aTask = json(await t.app.inject({ method: 'POST', url: '/api/v1/tasks', headers: bearer(A.owner!), payload: { title: 'A task', assigneeId: A.member!.userId } }));
  aIds.push(aTask.id);
  const aContact = json(await t.app.inject({ method: 'POST', url: '/api/v1/outreach/contacts', headers: bearer(A.member!), payload: { email: `a-${randomUUID().slice(0, 6)}@example.com`, source: 'test', lawfulBasis: 'legitimate_interest' } }));
  const aSend = await sentCampaign(A);
  aIds.push(aContact.id, aSend.campaignId, aSend.sendId);
  // A's owner has a fresh second factor, so step-up routes reach their handlers and must still isolate.
  await enableMfa(t.app, A.owner!);
  // An installed module in each tenant (installs need step-up): its install id, and B's credential as a secret.
  const aInstall = json(await t.app.inject({ method: 'POST', url: '/api/v1/marketplace/installs', headers: bearer(A.owner!), payload: { module: 'task-reminders' } }));
  aIds.push(aInstall.id);
  await enableMfa(t.app, B.owner!);
  const bInstall = json(await t.app.inject({ method: 'POST', url: '/api/v1/marketplace/installs', headers: bearer(B.owner!), payload: { module: 'task-reminders' } }));
  bIds.push(bInstall.id);
  bSecrets.push(bInstall.id, bInstall.credential, bInstall.credentialId);
}, MATRIX_TIMEOUT_MS);

afterAll(async () => {
  await t?.close();
});

describe('route inventory', () => {
  it('covers the API and declares a policy for every route', () => {
    expect(routes.length).toBeGreaterThan(15);
    expect(routes.filter(isProtected).length).toBeGreaterThan(10);
    expect(routes.map((r) => `${r.method} ${r.path}`)).toContain('GET /api/v1/knowledge/:id');
  });
});

describe('no credential → 401 on every non-public route', () => {
  it('refuses each protected route without a token, with a problem body', async () => {
    for (const r of routes.filter(isProtected)) {
      const res = await call(r, fill(r.path, randomUUID()), {});
      expect(res.statusCode, `${r.method} ${r.path}`).toBe(401);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(json(res).type).toBe('urn:ocsuite:problem:unauthenticated');
    }
  }, MATRIX_TIMEOUT_MS);

  it('refuses a user token on operator routes and the operator token on user routes', async () => {
    for (const r of routes.filter(isProtected)) {
      const wrong = r.policy === 'operator' ? bearer(A.owner!) : { authorization: `Bearer ${operatorToken}` };
      const res = await call(r, fill(r.path, randomUUID()), wrong);
      expect(res.statusCode, `${r.method} ${r.path}`).toBe(401);
    }
    const ok = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } });
    expect(ok.statusCode).toBe(200);
  }, MATRIX_TIMEOUT_MS);
});

describe('forged tokens → 401 on every non-public route', () => {
  it('rejects each forgery everywhere', async () => {
    const forged = await forgedTokens(t.platform, { userId: A.owner!.userId, tenantId: A.owner!.tenantId, validToken: A.owner!.accessToken }, B.owner!.tenantId);
    expect(Object.keys(forged).length).toBeGreaterThanOrEqual(10);
    for (const [name, token] of Object.entries(forged)) {
      for (const r of routes.filter((x) => isProtected(x) && x.policy !== 'operator')) {
        const res = await call(r, fill(r.path, randomUUID()), { authorization: `Bearer ${token}` });
        expect(res.statusCode, `${name}: ${r.method} ${r.path} → ${res.body}`).toBe(401);
      }
    }
  }, MATRIX_TIMEOUT_MS);
});

describe('each role × each route, exactly as declared', () => {
  it('allows what the role grants and answers 403 otherwise', async () => {
    let checked = 0;
    for (const role of ['viewer', 'member', 'admin', 'owner'] as const) {
      let account = A[role]!;
      const granted = t.platform.permissions.permissionsOf([role]);
      for (const r of routes.filter((x) => isProtected(x) && x.policy !== 'operator')) {
        const res = await call(r, fill(r.path, randomUUID()), bearer(account));
        const allowed = granted.has(r.policy);
        const label = `${role} ${r.method} ${r.path} → ${res.statusCode} ${res.body}`;
        if (allowed) {
          expect(res.statusCode, label).not.toBe(401);
          expect(res.statusCode === 403 ? json(res).type : 'allowed', label).not.toBe('urn:ocsuite:problem:forbidden');
          expect(res.statusCode, label).toBeLessThan(500);
        } else {
          expect(res.statusCode, label).toBe(403);
          expect(json(res).type, label).toBe('urn:ocsuite:problem:forbidden');
        }
        checked++;
        // A probe may legitimately end the session (logout); start a fresh one.
        const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(account) });
        if (me.statusCode === 401) account = A[role] = await login(t.app, account);
      }
    }
    expect(checked).toBeGreaterThan(40);
  }, MATRIX_TIMEOUT_MS);
});

describe("tenant A × tenant B's resources → 404, and nothing of B leaks", () => {
  it("answers 404 for B's ids on every route with an id, exactly like a missing id", async () => {
    let probes = 0;
    for (const r of routes.filter((x) => isProtected(x) && x.policy !== 'operator' && hasParams(x))) {
      for (const id of bIds) {
        const res = await call(r, fill(r.path, id), bearer(A.owner!));
        const label = `${r.method} ${r.path} with B id → ${res.statusCode} ${res.body}`;
        expect(res.statusCode, label).toBe(404);
        for (const secret of bSecrets) expect(res.body, label).not.toContain(secret);
        const missing = await call(r, fill(r.path, randomUUID()), bearer(A.owner!));
        expect({ status: missing.statusCode, type: json(missing).type, detail: json(missing).detail }, label)
          .toEqual({ status: res.statusCode, type: json(res).type, detail: json(res).detail });
        probes++;
      }
    }
    expect(probes).toBeGreaterThan(10);
  }, MATRIX_TIMEOUT_MS);

  it('shows none of B in any list A can read', async () => {
    for (const r of routes.filter((x) => isProtected(x) && x.policy !== 'operator' && x.method === 'GET' && !hasParams(x))) {
      const res = await call(r, r.path, bearer(A.owner!));
      expect(res.statusCode, r.path).toBe(200);
      for (const secret of bSecrets) expect(res.body, `${r.path} leaks ${secret}`).not.toContain(secret);
    }
  }, MATRIX_TIMEOUT_MS);

  it("reads A's own ids (the 404s above are isolation, not broken routes)", async () => {
    for (const r of routes.filter((x) => isProtected(x) && x.method === 'GET' && hasParams(x))) {
      const statuses = await Promise.all(aIds.map(async (id) => (await call(r, fill(r.path, id), bearer(A.owner!))).statusCode));
      expect(statuses, r.path).toContain(200);
    }
  }, MATRIX_TIMEOUT_MS);

  it("left B's data untouched after A's attempts to change and delete it", async () => {
    const entry = await t.app.inject({ method: 'GET', url: `/api/v1/knowledge/${bIds[0]}`, headers: bearer(B.viewer!) });
    expect(entry.statusCode).toBe(200);
    expect(json(entry).body).toBe('B body');
    const members = json(await t.app.inject({ method: 'GET', url: '/api/v1/members', headers: bearer(B.owner!) }));
    expect(members.items.map((m: { userId: string }) => m.userId)).toEqual(expect.arrayContaining([B.owner!.userId, B.member!.userId]));
    expect(members.items.find((m: { userId: string }) => m.userId === B.owner!.userId).role).toBe('owner');
    const invitations = json(await t.app.inject({ method: 'GET', url: '/api/v1/invitations', headers: bearer(B.owner!) }));
    expect(invitations.items.map((i: { id: string }) => i.id)).toContain(bIds[1]);
  }, MATRIX_TIMEOUT_MS);

  it('rejects a tenantId smuggled into any body', async () => {
    for (const r of routes.filter((x) => isProtected(x) && x.policy !== 'operator' && x.body)) {
      const body = { ...(sampleFromSchema(r.body as Record<string, unknown>) as object), tenantId: B.owner!.tenantId };
      const res = await t.app.inject({ method: r.method as 'POST', url: fill(r.path, aIds[0]!), headers: bearer(A.owner!), payload: body });
      expect(res.statusCode, `${r.method} ${r.path}`).toBe(400);
      expect(json(res).type).toBe('urn:ocsuite:problem:validation-failed');
    }
  }, MATRIX_TIMEOUT_MS);
});
