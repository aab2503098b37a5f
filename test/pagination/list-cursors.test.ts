import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, enableMfa, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * Every list pages with the kernel's one cursor codec: pages that never skip or
 * repeat, cursors from before the versioned format still read (a client paging
 * across the upgrade), and a forged cursor is the cursor's 400 problem, never a
 * database error.
 */
let t: TestApp;
let a: Account;
beforeAll(async () => {
  t = await startApp();
  a = await enableMfa(t.app, await signup(t.app, 'Cursors'));
  for (let i = 0; i < 5; i++) {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(a), payload: { title: `entry ${i}`, body: 'b' } });
    expect(res.statusCode).toBe(201);
    // An export is an audited action of the tenant: audit events to page through.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/audit-events/export', headers: bearer(a) })).statusCode).toBe(200);
  }
});
afterAll(() => t?.close());

const get = (url: string) => t.app.inject({ method: 'GET', url, headers: bearer(a) });
const b64 = (text: string) => Buffer.from(text).toString('base64url');
type Page = { items: Array<{ id: string; leafIndex?: number }>; nextCursor: string | null };

async function allPages(path: string, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const res = await get(`${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(res.statusCode, res.body).toBe(200);
    const page: Page = json(res);
    seen.push(...page.items.map((i) => i.id));
    cursor = page.nextCursor;
  } while (cursor);
  return seen;
}

describe('list cursors', () => {
  it('audit events page newest first without skipping or repeating, and read the old `a<index>` cursor', async () => {
    const all: Page = json(await get('/api/v1/audit-events?limit=200'));
    expect(all.items.length).toBeGreaterThan(4);
    expect(await allPages('/api/v1/audit-events', 2)).toEqual(all.items.map((e) => e.id));
    const before = all.items[1]!.leafIndex!;
    const old: Page = json(await get(`/api/v1/audit-events?limit=200&cursor=${b64(`a${before}`)}`));
    expect(old.items.map((e) => e.id)).toEqual(all.items.slice(2).map((e) => e.id));
  });

  it('knowledge and connectors read the old bare `[createdAt, id]` cursor as the same position', async () => {
    const first: Page = json(await get('/api/v1/knowledge?limit=2'));
    const [version, ...position] = JSON.parse(Buffer.from(first.nextCursor!, 'base64url').toString()) as unknown[];
    expect(version).toBe(1);
    const next = json(await get(`/api/v1/knowledge?limit=2&cursor=${first.nextCursor}`));
    const old = await get(`/api/v1/knowledge?limit=2&cursor=${b64(JSON.stringify(position))}`);
    expect(old.statusCode).toBe(200);
    expect(json(old)).toEqual(next);
    expect(await allPages('/api/v1/knowledge', 2)).toEqual(json(await get('/api/v1/knowledge?limit=100')).items.map((e: { id: string }) => e.id));
  });

  it('refuses a forged cursor with the cursor problem before any query, on every list', async () => {
    const id = randomUUID();
    const creation = [
      b64(JSON.stringify(['2021-02-29 00:00:00+00', id])), // looks like PostgreSQL's text, is no date
      b64(JSON.stringify([1, '2025-13-01 00:00:00+00', id])),
      b64(JSON.stringify([1, '2025-01-01 00:00:00+16', id])),
      b64(JSON.stringify([2, '2025-01-01 00:00:00+00', id])),
    ];
    const leaf = [b64('[1,-1]'), b64('a01'), b64('[1,1.5]'), creation[1]!.slice(0, 40)];
    const cases = [
      ...creation.flatMap((c) => [`/api/v1/knowledge?cursor=${c}`, `/api/v1/connectors?cursor=${c}`]),
      ...leaf.map((c) => `/api/v1/audit-events?cursor=${c}`),
    ];
    for (const url of cases) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(400);
      expect(json(res)).toMatchObject({ type: 'urn:ocsuite:problem:validation-failed', detail: 'The cursor is not one this API returned.' });
    }
  });
});
