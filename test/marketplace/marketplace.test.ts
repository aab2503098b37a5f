import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner, withTenant } from '../../src/db/transaction.ts';
import { modules } from '../../src/modules/index.ts';
import { CATALOGUE, catalogueProblems } from '../../src/modules/marketplace/catalogue.ts';
import { marketplaceModule } from '../../src/modules/marketplace/manifest.ts';
import { addMember, bearer, enableMfa, json, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * The marketplace (issue #16 §3), attacked: installing needs step-up and never
 * grants more than the installer holds; the installed credential holds exactly
 * the module's declared scopes; uninstalling stops it at the very next request;
 * installs are audited, insights readable by admins, and tenants isolated.
 */
let t: TestApp;
let owner: Account;
let admin: Account;
let member: Account;
let viewer: Account;
let other: Account;

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const call = (token: string, method: Method, url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
const as = (who: Account, method: Method, url: string, payload?: object) => call(who.accessToken, method, url, payload);

async function install(who: Account, module: string) {
  const res = await as(who, 'POST', '/marketplace/installs', { module });
  expect(res.statusCode, res.body).toBe(201);
  return json<{ id: string; credential: string; credentialId: string; scopes: string[] }>(res);
}

/** A new install of `module`, after uninstalling a live one (tests share the tenant). */
async function freshInstall(who: Account, module: string) {
  for (const i of json(await as(owner, 'GET', '/marketplace/installs')).items) {
    if (i.module === module) expect((await as(owner, 'DELETE', `/marketplace/installs/${i.id}`)).statusCode).toBe(204);
  }
  return install(who, module);
}

const rowsOf = (tenantId: string) => withOwner(t.platform.db, async (tx) => ({
  installs: (await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM marketplace_installs WHERE tenant_id = ${tenantId}`))[0]!.n,
  keys: (await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = ${tenantId}`))[0]!.n,
}));

beforeAll(async () => {
  t = await startApp();
  owner = await enableMfa(t.app, await signup(t.app, 'Market A'));
  admin = await addMember(t.app, owner, 'admin');
  member = await addMember(t.app, owner, 'member');
  viewer = await addMember(t.app, owner, 'viewer');
  other = await enableMfa(t.app, await signup(t.app, 'Market B'));
});
afterAll(async () => t?.close());

describe('the catalogue', () => {
  it('declares only catalogued permissions and event types some module declares, each event within its permissions', () => {
    expect(CATALOGUE.length).toBeGreaterThanOrEqual(3);
    expect(catalogueProblems(t.platform.permissions, modules.flatMap((m) => m.webhookEvents ?? []))).toEqual([]);
    expect(CATALOGUE.some((e) => e.events.length > 0)).toBe(true);
  });

  it('lists each module with its permissions (described) and event types, for admins only', async () => {
    const res = await as(admin, 'GET', '/marketplace/modules');
    expect(res.statusCode).toBe(200);
    const reminders = json(res).items.find((m: { key: string }) => m.key === 'task-reminders');
    expect(reminders).toMatchObject({ permissions: [{ key: 'tasks:read', description: expect.stringMatching(/task/) }], events: ['tasks.task.completed', 'tasks.task.verified'], installId: null });
    for (const who of [member, viewer]) expect((await as(who, 'GET', '/marketplace/modules')).statusCode).toBe(403);
  });
});

describe('installing', () => {
  it('is refused without a fresh second factor, and then nothing is created', async () => {
    const before = await rowsOf(owner.tenantId);
    const res = await as(admin, 'POST', '/marketplace/installs', { module: 'knowledge-sync' });
    expect(res.statusCode).toBe(403);
    expect(json(res).type).toBe('urn:ocsuite:problem:step-up-required');
    expect(await rowsOf(owner.tenantId)).toEqual(before);
    // Nor by members, whatever their factor.
    await enableMfa(t.app, member);
    expect(json(await as(member, 'POST', '/marketplace/installs', { module: 'knowledge-sync' })).type).toBe('urn:ocsuite:problem:forbidden');
  });

  it('returns the credential once, with no-store; reads never show it again; the install is audited without it', async () => {
    const res = await as(owner, 'POST', '/marketplace/installs', { module: 'task-reminders' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const installed = json(res);
    expect(installed).toMatchObject({ module: 'task-reminders', scopes: ['tasks:read'], events: ['tasks.task.completed', 'tasks.task.verified'], status: 'installed', installedBy: owner.userId });
    expect(installed.credential).toMatch(/^ocs_ak_/);
    for (const url of ['/marketplace/installs', `/marketplace/installs/${installed.id}`, `/marketplace/installs/${installed.id}/insights`, '/marketplace/modules', '/api-keys']) {
      const read = await as(owner, 'GET', url);
      expect(read.statusCode, url).toBe(200);
      expect(read.body, url).not.toContain(installed.credential);
    }
    const [event] = await withOwner(t.platform.db, (tx) => tx.query<{ actor_id: string; metadata: Record<string, unknown> }>(sql`
      SELECT actor_id, metadata FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'marketplace.module_installed' AND target_id = ${installed.id}`));
    expect(event).toMatchObject({ actor_id: owner.userId, metadata: { module: 'task-reminders', scopes: ['tasks:read'], machinePrincipalId: installed.credentialId } });
    expect(JSON.stringify(event)).not.toContain(installed.credential);
    expect(json(await as(owner, 'GET', '/marketplace/modules')).items.find((m: { key: string }) => m.key === 'task-reminders').installId).toBe(installed.id);
    // One live install per module.
    expect((await as(owner, 'POST', '/marketplace/installs', { module: 'task-reminders' })).statusCode).toBe(409);
  });

  it('never grants a module more than the installer holds', async () => {
    // A custom role that may install, but holds no knowledge permission itself.
    const role = json(await as(owner, 'POST', '/roles', { name: 'Installer', permissions: ['marketplace:manage', 'marketplace:read'] }));
    const m = await addMember(t.app, owner, 'viewer');
    expect((await as(owner, 'PUT', `/members/${m.userId}/roles`, { roles: [role.id] })).statusCode).toBe(200);
    const installer = await enableMfa(t.app, await login(t.app, m));
    const before = await rowsOf(owner.tenantId);
    const res = await as(installer, 'POST', '/marketplace/installs', { module: 'knowledge-curator' });
    expect(res.statusCode).toBe(403);
    expect(json(res)).toMatchObject({ type: 'urn:ocsuite:problem:role-escalation', permissions: ['knowledge:read', 'knowledge:write'] });
    expect(await rowsOf(owner.tenantId)).toEqual(before);
  });

  it('two installs of one module at once: one wins, one 409, one credential', async () => {
    await enableMfa(t.app, admin);
    const before = await rowsOf(owner.tenantId);
    const results = await Promise.all([owner, admin].map((who) => as(who, 'POST', '/marketplace/installs', { module: 'knowledge-sync' })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409]);
    expect(await rowsOf(owner.tenantId)).toEqual({ installs: before.installs + 1, keys: before.keys + 1 });
  });

  it('refuses unknown modules and extra fields', async () => {
    for (const body of [{ module: 'nope' }, { module: 'knowledge-sync', scopes: ['tenant:delete'] }, { module: 'knowledge-sync', tenantId: other.tenantId }, {}]) {
      expect((await as(owner, 'POST', '/marketplace/installs', body)).statusCode, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('the installed credential', () => {
  it('holds exactly its declared scopes and nothing else', async () => {
    const curator = await freshInstall(owner, 'knowledge-curator');
    const key = curator.credential;
    expect((await call(key, 'GET', '/knowledge')).statusCode).toBe(200);
    const entry = await call(key, 'POST', '/knowledge', { title: 'filed by a module', body: 'b' });
    expect(entry.statusCode).toBe(201);
    // Owner-made, yet confined to knowledge:read + knowledge:write.
    for (const [method, url, body] of [
      ['DELETE', `/knowledge/${json(entry).id}`],
      ['GET', '/tasks'],
      ['POST', '/tasks', { title: 'x', assigneeId: member.userId }],
      ['GET', '/members'],
      ['GET', '/me'],
      ['POST', '/api-keys', { name: 'escape', scopes: ['knowledge:read'] }],
      ['GET', '/marketplace/installs'],
      ['POST', '/marketplace/installs', { module: 'task-reminders' }],
      ['DELETE', `/marketplace/installs/${curator.id}`],
      ['GET', '/audit-events'],
      ['POST', '/roles', { name: 'escape', permissions: ['tenant:delete'] }],
    ] as const) {
      const res = await call(key, method as Method, url, body as object | undefined);
      expect(res.statusCode, `${method} ${url} → ${res.body}`).toBe(403);
    }
    expect((await call(key, 'GET', '/knowledge')).statusCode).toBe(200);
  });

  it('narrows with its installer, and stops when the installer leaves', async () => {
    const installer = await enableMfa(t.app, await addMember(t.app, owner, 'admin'));
    const sync = await freshInstall(installer, 'knowledge-sync');
    expect((await call(sync.credential, 'GET', '/knowledge')).statusCode).toBe(200);
    // The installer keeps only a role without knowledge access: the module loses it too.
    const role = json(await as(owner, 'POST', '/roles', { name: `tasks-only-${randomUUID().slice(0, 4)}`, permissions: ['tasks:read'] }));
    expect((await as(owner, 'PUT', `/members/${installer.userId}/roles`, { roles: [role.id] })).statusCode).toBe(200);
    expect((await call(sync.credential, 'GET', '/knowledge')).statusCode).toBe(403);
    const narrowed = json(await as(owner, 'GET', `/marketplace/installs/${sync.id}/insights`));
    expect(narrowed).toMatchObject({ grantedScopes: ['knowledge:read'], effectiveScopes: [], credential: 'active' });
    expect((await as(owner, 'DELETE', `/members/${installer.userId}`)).statusCode).toBe(204);
    expect((await call(sync.credential, 'GET', '/knowledge')).statusCode).toBe(401);
    expect(json(await as(owner, 'GET', `/marketplace/installs/${sync.id}/insights`))).toMatchObject({ credential: 'installer-gone', effectiveScopes: [] });
    await as(owner, 'DELETE', `/marketplace/installs/${sync.id}`);
  });
});

describe('uninstalling', () => {
  it('revokes the credential at once: the very next request with it is a 401', async () => {
    const fresh = await freshInstall(owner, 'task-reminders');
    expect((await call(fresh.credential, 'GET', '/tasks')).statusCode).toBe(200);
    const res = await as(owner, 'DELETE', `/marketplace/installs/${fresh.id}`);
    expect(res.statusCode).toBe(204);
    const after = await call(fresh.credential, 'GET', '/tasks');
    expect(after.statusCode).toBe(401);
    expect(json(after).type).toBe('urn:ocsuite:problem:unauthenticated');
    expect(json(await as(owner, 'GET', `/marketplace/installs/${fresh.id}`))).toMatchObject({ status: 'uninstalled', uninstalledBy: owner.userId });
    expect(json(await as(owner, 'GET', `/marketplace/installs/${fresh.id}/insights`))).toMatchObject({ status: 'uninstalled', credential: 'revoked', effectiveScopes: [] });
    expect((await as(owner, 'DELETE', `/marketplace/installs/${fresh.id}`)).statusCode).toBe(409);
    // Gone from the live list, kept in the full one.
    expect(json(await as(owner, 'GET', '/marketplace/installs')).items.map((i: { id: string }) => i.id)).not.toContain(fresh.id);
    expect(json(await as(owner, 'GET', '/marketplace/installs?all=true')).items.map((i: { id: string }) => i.id)).toContain(fresh.id);
    // A reinstall is a new install with a new credential; the old one stays dead.
    const again = await install(owner, 'task-reminders');
    expect(again.credential).not.toBe(fresh.credential);
    expect((await call(again.credential, 'GET', '/tasks')).statusCode).toBe(200);
    expect((await call(fresh.credential, 'GET', '/tasks')).statusCode).toBe(401);
    const actions = await withOwner(t.platform.db, (tx) => tx.query<{ action: string; actor_id: string }>(sql`
      SELECT action, actor_id FROM audit_events WHERE tenant_id = ${owner.tenantId} AND target_id = ${fresh.id} ORDER BY leaf_index`));
    expect(actions).toEqual([
      { action: 'marketplace.module_installed', actor_id: owner.userId },
      { action: 'marketplace.module_uninstalled', actor_id: owner.userId },
    ]);
  });

  it('needs step-up too', async () => {
    const fresh = await freshInstall(owner, 'knowledge-sync');
    const plain = await login(t.app, { email: viewer.email, password: viewer.password, tenantId: owner.tenantId });
    // An admin without a second factor cannot uninstall.
    const noMfa = await addMember(t.app, owner, 'admin');
    const res = await as(noMfa, 'DELETE', `/marketplace/installs/${fresh.id}`);
    expect(json(res).type).toBe('urn:ocsuite:problem:step-up-required');
    expect((await as(plain, 'DELETE', `/marketplace/installs/${fresh.id}`)).statusCode).toBe(403);
    expect(json(await as(owner, 'GET', `/marketplace/installs/${fresh.id}`)).status).toBe('installed');
  });

  it('a grant cannot be widened or an uninstall undone in SQL either', async () => {
    const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ id: string }>(sql`
      SELECT id FROM marketplace_installs WHERE tenant_id = ${owner.tenantId} AND uninstalled_at IS NOT NULL LIMIT 1`));
    const asRuntime = (statement: ReturnType<typeof sql>) =>
      withTenant(t.platform.db, { tenantId: owner.tenantId, userId: owner.userId }, { statementTimeoutMs: 5000 }, (tx) => tx.query(statement));
    await expect(asRuntime(sql`UPDATE marketplace_installs SET uninstalled_at = NULL WHERE id = ${row!.id}`)).rejects.toThrow(/final/);
    await expect(asRuntime(sql`UPDATE marketplace_installs SET scopes = '{tenant:delete}' WHERE id = ${row!.id}`)).rejects.toThrow(/permission denied/);
  });
});

describe('module insights', () => {
  it('count uses and show the last activity and granted scopes, for admins only', async () => {
    const curator = await freshInstall(owner, 'knowledge-curator');
    const idle = json(await as(admin, 'GET', `/marketplace/installs/${curator.id}/insights`));
    expect(idle).toMatchObject({ module: 'knowledge-curator', grantedScopes: ['knowledge:read', 'knowledge:write'], effectiveScopes: ['knowledge:read', 'knowledge:write'], usageCount: 0, lastActivityAt: null, credential: 'active' });
    const started = Date.now();
    expect((await call(curator.credential, 'GET', '/knowledge')).statusCode).toBe(200);
    // The first use is written at once, off the response path.
    let seen = idle;
    for (let i = 0; i < 50 && seen.usageCount === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      seen = json(await as(admin, 'GET', `/marketplace/installs/${curator.id}/insights`));
    }
    expect(seen.usageCount).toBe(1);
    expect(new Date(seen.lastActivityAt).getTime()).toBeGreaterThanOrEqual(started - 1000);
    for (const who of [member, viewer]) expect((await as(who, 'GET', `/marketplace/installs/${curator.id}/insights`)).statusCode).toBe(403);
  });
});

describe('tenants', () => {
  it("another tenant's installs read like missing ones, and stay untouched", async () => {
    const theirs = await install(other, 'knowledge-sync');
    for (const [method, url] of [['GET', `/marketplace/installs/${theirs.id}`], ['GET', `/marketplace/installs/${theirs.id}/insights`], ['DELETE', `/marketplace/installs/${theirs.id}`]] as const) {
      const res = await as(owner, method, url);
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain(theirs.credentialId);
    }
    expect(json(await as(owner, 'GET', '/marketplace/installs?all=true')).items.map((i: { id: string }) => i.id)).not.toContain(theirs.id);
    expect((await call(theirs.credential, 'GET', '/knowledge')).statusCode).toBe(200);
    // B's module sees B's entries only.
    await as(owner, 'POST', '/knowledge', { title: 'A only', body: 'a' });
    expect((await call(theirs.credential, 'GET', '/knowledge')).body).not.toContain('A only');
  });
});

describe('data-subject hooks', () => {
  it('export the installs a person made and erase their references', async () => {
    const subject = { tenantId: owner.tenantId, userId: owner.userId, email: owner.email };
    const ctx = { tenantId: owner.tenantId, userId: owner.userId };
    const exported = await withTenant(t.platform.db, ctx, { statementTimeoutMs: 5000 }, (tx) => marketplaceModule.exportSubject!(tx, subject));
    expect((exported.installs as Array<{ installedBy: string }>).length).toBeGreaterThan(2);
    expect(JSON.stringify(exported)).not.toContain(other.userId);
    const erased = await withTenant(t.platform.db, ctx, { statementTimeoutMs: 5000 }, (tx) => marketplaceModule.eraseSubject!(tx, subject));
    expect(erased).toMatchObject({ marketplace_installs: (exported.installs as unknown[]).length });
    const left = await withOwner(t.platform.db, (tx) => tx.query(sql`
      SELECT id FROM marketplace_installs WHERE ${owner.userId}::uuid IN (installed_by, uninstalled_by)`));
    expect(left).toEqual([]);
  });
});
