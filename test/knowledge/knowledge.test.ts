import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
let owner: Account;
let member: Account;
let viewer: Account;

const create = (who: Account, payload: object) => t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(who), payload });
const list = (who: Account, query = '') => t.app.inject({ method: 'GET', url: `/api/v1/knowledge${query}`, headers: bearer(who) });

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Knowledge');
  member = await addMember(t.app, owner, 'member');
  viewer = await addMember(t.app, owner, 'viewer');
});
afterAll(() => t?.close());

describe('knowledge entries', () => {
  it('creates, reads, updates and deletes, returning only schema fields', async () => {
    const created = await create(member, { title: 'Runbook', body: '<script>alert(1)</script>', tags: ['ops', 'db'] });
    expect(created.statusCode).toBe(201);
    const entry = json(created);
    expect(Object.keys(entry).sort()).toEqual(['body', 'createdAt', 'createdBy', 'id', 'tags', 'title', 'updatedAt']);
    expect(entry.createdBy).toBe(member.userId);
    expect(created.headers['content-type']).toContain('application/json');

    const read = await t.app.inject({ method: 'GET', url: `/api/v1/knowledge/${entry.id}`, headers: bearer(viewer) });
    expect(json(read)).toEqual(entry);

    const patched = await t.app.inject({ method: 'PATCH', url: `/api/v1/knowledge/${entry.id}`, headers: bearer(member), payload: { tags: ['ops'] } });
    expect(patched.statusCode).toBe(200);
    expect(json(patched)).toMatchObject({ title: 'Runbook', tags: ['ops'] });

    const removed = await t.app.inject({ method: 'DELETE', url: `/api/v1/knowledge/${entry.id}`, headers: bearer(owner) });
    expect(removed.statusCode).toBe(204);
    const gone = await t.app.inject({ method: 'GET', url: `/api/v1/knowledge/${entry.id}`, headers: bearer(viewer) });
    expect(gone.statusCode).toBe(404);
  });

  it('rejects invalid input and changes nothing', async () => {
    const before = json(await list(viewer, '?limit=100')).items.length;
    const bad = [
      { title: '', body: 'x' },
      { title: 'x'.repeat(301), body: 'x' },
      { title: 't', body: 'x', tags: ['has space'] },
      { title: 't', body: 'x', tags: ['dup', 'dup'] },
      { title: 't', body: 'x', tags: Array.from({ length: 33 }, (_, i) => `t${i}`) },
      { title: 't', body: 'x', createdBy: randomUUID() },
      { title: 't' },
    ];
    for (const payload of bad) {
      const res = await create(member, payload);
      expect(res.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect(json(res).type).toBe('urn:ocsuite:problem:validation-failed');
    }
    const entry = json(await create(member, { title: 'keep', body: 'keep' }));
    const empty = await t.app.inject({ method: 'PATCH', url: `/api/v1/knowledge/${entry.id}`, headers: bearer(member), payload: {} });
    expect(empty.statusCode).toBe(400);
    const notUuid = await t.app.inject({ method: 'GET', url: '/api/v1/knowledge/not-a-uuid', headers: bearer(viewer) });
    expect(notUuid.statusCode).toBe(400);
    expect(json(await list(viewer, '?limit=100')).items.length).toBe(before + 1);
  });

  it('pages through every entry exactly once, newest first, even when timestamps tie', async () => {
    const tenant = await signup(t.app, 'Pages');
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(json(await create(tenant, { title: `e${i}`, body: 'b', tags: i % 2 ? ['odd'] : ['even'] })).id);
    // Give five entries the same timestamp: the cursor must still neither skip nor repeat.
    await withOwner(t.platform.db, (tx) =>
      tx.query(sql`UPDATE knowledge_entries SET created_at = '2030-01-01T00:00:00.123456Z' WHERE id IN (${sql.join(ids.slice(3, 8).map((id) => sql`${id}::uuid`), sql`, `)})`));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await list(tenant, `?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page = json(res);
      seen.push(...page.items.map((e: { id: string }) => e.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(12);
    expect([...seen].sort()).toEqual([...ids].sort());
    // The five tied entries (year 2030) come first.
    expect(new Set(seen.slice(0, 5))).toEqual(new Set(ids.slice(3, 8)));

    const odd = json(await list(tenant, '?tag=odd&limit=100'));
    expect(odd.items).toHaveLength(6);
    expect(odd.items.every((e: { tags: string[] }) => e.tags.includes('odd'))).toBe(true);
  });

  it('refuses cursors it did not issue', async () => {
    const forged = [
      'not*base64',
      Buffer.from('["2020-01-01", "x"]').toString('base64url'),
      Buffer.from(JSON.stringify(["2020-01-01'; DROP TABLE knowledge_entries; --", randomUUID()])).toString('base64url'),
      Buffer.from('{"a":1}').toString('base64url'),
    ];
    for (const cursor of forged) {
      const res = await list(viewer, `?cursor=${encodeURIComponent(cursor)}`);
      expect(res.statusCode, cursor).toBe(400);
      expect(json(res).type).toBe('urn:ocsuite:problem:validation-failed');
    }
    expect(json(await list(viewer)).items.length).toBeGreaterThan(0);
  });
});
