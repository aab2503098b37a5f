import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, bearer, enableMfa, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
let owner: Account;
let other: Account;
beforeAll(async () => {
  t = await startApp();
  owner = await enableMfa(t.app, await signup(t.app, 'Keys'));
  other = await signup(t.app, 'Other');
});
afterAll(() => t?.close());

const create = (who: Account, payload: object) => t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(who), payload });
const asKey = (key: string, method: 'GET' | 'POST', url: string, payload?: object) =>
  t.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload ? { payload } : {}) });

describe('API keys', () => {
  it('is shown once with a scannable prefix, and acts only within its scopes and tenant', async () => {
    const res = await create(owner, { name: 'n8n reader', scopes: ['knowledge:read'] });
    expect(res.statusCode).toBe(201);
    const { key, id } = json(res);
    expect(key).toMatch(/^ocs_ak_[A-Za-z0-9_-]{43}$/);
    const listed = await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(owner) });
    expect(listed.body).not.toContain(key);
    expect(json(listed).items.map((k: { id: string }) => k.id)).toContain(id);

    expect((await asKey(key, 'GET', '/api/v1/knowledge')).statusCode).toBe(200);
    const write = await asKey(key, 'POST', '/api/v1/knowledge', { title: 't', body: 'b' });
    expect(write.statusCode).toBe(403);
    expect(json(write).type).toBe('urn:ocsuite:problem:forbidden');
    // A key is not a user: no session routes.
    expect((await asKey(key, 'GET', '/api/v1/me')).statusCode).toBe(403);
    // Another tenant's entry is invisible to it.
    const entry = json(await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(other), payload: { title: 'other', body: 'b' } }));
    expect((await asKey(key, 'GET', `/api/v1/knowledge/${entry.id}`)).statusCode).toBe(404);
  });

  it('stops working the moment it is revoked', async () => {
    const { key, id } = json(await create(owner, { name: 'temp', scopes: ['knowledge:read'] }));
    expect((await asKey(key, 'GET', '/api/v1/knowledge')).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${id}`, headers: bearer(owner) })).statusCode).toBe(204);
    const after = await asKey(key, 'GET', '/api/v1/knowledge');
    expect(after.statusCode).toBe(401);
  });

  it("acts for its creator: narrowed when the creator is demoted, dead when the creator is removed", async () => {
    const admin = await enableMfa(t.app, await addMember(t.app, owner, 'admin'));
    const { key } = json(await create(admin, { name: 'ops', scopes: ['audit:read', 'knowledge:read', 'knowledge:write'] }));
    expect((await asKey(key, 'GET', '/api/v1/audit-events')).statusCode).toBe(200);
    expect((await asKey(key, 'POST', '/api/v1/knowledge', { title: 'by key', body: 'b' })).statusCode).toBe(201);

    const demote = await t.app.inject({ method: 'PATCH', url: `/api/v1/members/${admin.userId}`, headers: bearer(owner), payload: { role: 'viewer' } });
    expect(demote.statusCode, demote.body).toBeLessThan(300);
    // A viewer may read knowledge, not the audit trail, not write: neither may the key now.
    expect((await asKey(key, 'GET', '/api/v1/knowledge')).statusCode).toBe(200);
    expect((await asKey(key, 'GET', '/api/v1/audit-events')).statusCode).toBe(403);
    expect((await asKey(key, 'POST', '/api/v1/knowledge', { title: 'after demotion', body: 'b' })).statusCode).toBe(403);

    const removed = await t.app.inject({ method: 'DELETE', url: `/api/v1/members/${admin.userId}`, headers: bearer(owner) });
    expect(removed.statusCode, removed.body).toBeLessThan(300);
    expect((await asKey(key, 'GET', '/api/v1/knowledge')).statusCode).toBe(401);
  });

  it('refuses scopes beyond the creator, creation without step-up, and forged keys', async () => {
    const admin = await enableMfa(t.app, await addMember(t.app, owner, 'admin'));
    const beyond = await create(admin, { name: 'x', scopes: ['tenant:manage'] });
    expect(beyond.statusCode).toBe(403);
    expect(json(beyond).type).toBe('urn:ocsuite:problem:role-escalation');
    const session = await create(admin, { name: 'x', scopes: ['session'] });
    expect(session.statusCode).toBe(400);
    const noStepUp = await create(await addMember(t.app, owner, 'admin'), { name: 'x', scopes: ['knowledge:read'] });
    expect(noStepUp.statusCode).toBe(403);
    expect(json(noStepUp).type).toBe('urn:ocsuite:problem:step-up-required');
    const forged = `ocs_ak_${'A'.repeat(43)}`;
    expect((await asKey(forged, 'GET', '/api/v1/knowledge')).statusCode).toBe(401);
  });

  it('expires', async () => {
    const { key, id } = json(await create(owner, { name: 'short', scopes: ['knowledge:read'], expiresInDays: 1 }));
    const { sql } = await import('drizzle-orm');
    const { withOwner } = await import('../../src/db/transaction.ts');
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = ${id}`));
    expect((await asKey(key, 'GET', '/api/v1/knowledge')).statusCode).toBe(401);
  });

  it('records when it was last used, writing at most once a minute', async () => {
    const { key, id } = json(await create(owner, { name: 'bookkeeping', scopes: ['knowledge:read'] }));
    const lastUsed = async () => json(await t.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(owner) }))
      .items.find((k: { id: string }) => k.id === id).lastUsedAt as string | null;
    expect(await lastUsed()).toBeNull();
    expect((await asKey(key, 'GET', '/api/v1/knowledge')).statusCode).toBe(200);
    // The write is off the request's path: it lands shortly after.
    let first: string | null = null;
    for (let i = 0; i < 50 && first === null; i++) {
      await new Promise((r) => setTimeout(r, 50));
      first = await lastUsed();
    }
    expect(first).not.toBeNull();
    for (let i = 0; i < 3; i++) expect((await asKey(key, 'GET', '/api/v1/knowledge')).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(await lastUsed()).toBe(first);
  });
});
