import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { fingerprintOf, parseIdempotencyKey } from '../../src/http/idempotency.ts';
import { pruneExpiredKeys } from '../../src/http/idempotency-store.ts';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * Issue #23 §4, the Idempotency-Key matrix on two create routes (knowledge entries and
 * invitations): a replay returns the first response and creates nothing; the same key with
 * another request is 422; a duplicate while the first is in flight is 409; another principal
 * or tenant with the same key is independent; a malformed key is 400.
 */
let t: TestApp;
let owner: Account;
let member: Account;
let stranger: Account;

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Idempotent Ltd');
  member = await addMember(t.app, owner, 'member');
  stranger = await signup(t.app, 'Other Ltd');
});
afterAll(async () => t?.close());

const post = (who: Account, url: string, payload: object, key?: string | string[]) =>
  t.app.inject({ method: 'POST', url: `/api/v1${url}`, headers: { ...bearer(who), ...(key !== undefined ? { 'idempotency-key': key } : {}) }, payload });

/** Rows of one tenant only (the PostgreSQL test database is shared by other files). */
async function count(table: 'knowledge_entries' | 'invitations', tenantId: string, where: { title?: string; email?: string }) {
  return withOwner(t.platform.db, async (tx) => {
    const [row] = await tx.query<{ n: number }>(table === 'knowledge_entries'
      ? sql`SELECT count(*)::int AS n FROM knowledge_entries WHERE tenant_id = ${tenantId} AND title = ${where.title!}`
      : sql`SELECT count(*)::int AS n FROM invitations WHERE tenant_id = ${tenantId} AND email = ${where.email!}`);
    return row!.n;
  });
}

function expectProblem(res: Awaited<ReturnType<typeof post>>, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  expect(json(res).code).toBe(code);
  expect(res.headers['idempotent-replayed']).toBeUndefined();
}

const routes = [
  {
    name: 'knowledge entries',
    url: '/knowledge',
    body: () => ({ title: `entry ${randomUUID()}`, body: 'text', tags: ['a', 'b'] }),
    created: (tenantId: string, body: Record<string, unknown>) => count('knowledge_entries', tenantId, { title: body.title as string }),
    who: () => member,
  },
  {
    name: 'invitations',
    url: '/invitations',
    body: () => ({ email: `invitee-${randomUUID().slice(0, 8)}@example.com`, role: 'viewer' }),
    created: (tenantId: string, body: Record<string, unknown>) => count('invitations', tenantId, { email: body.email as string }),
    who: () => owner,
  },
] as const;

describe.each(routes)('Idempotency-Key on $name', (route) => {
  it('replays the first response — status, body, headers — marked, and creates nothing new', async () => {
    const who = route.who();
    const body = route.body();
    const key = randomUUID();
    const first = await post(who, route.url, body, key);
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      const again = await post(who, route.url, body, key);
      expect(again.statusCode).toBe(201);
      expect(again.body).toBe(first.body); // the same resource, the same id, the same one-time link
      expect(again.headers['content-type']).toBe(first.headers['content-type']);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    }
    // The same body with its members in another order is the same request; the key as a
    // Structured Field string is the same key.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const quoted = await post(who, route.url, reordered, `"${key}"`);
    expect(quoted.statusCode).toBe(201);
    expect(quoted.body).toBe(first.body);
    expect(quoted.headers['idempotent-replayed']).toBe('true');
    expect(await route.created(who.tenantId, body)).toBe(1);
    // Without a key a create is a create.
    const other = route.body();
    const plain = [await post(who, route.url, other), await post(who, route.url, other)];
    expect(plain.map((r) => r.statusCode)).toEqual([201, 201]);
    expect(json(plain[1]!).id).not.toBe(json(plain[0]!).id);
  });

  it('refuses the same key with another body (422) and creates nothing for it', async () => {
    const who = route.who();
    const key = randomUUID();
    const body = route.body();
    expect((await post(who, route.url, body, key)).statusCode).toBe(201);
    const changed = route.body();
    expectProblem(await post(who, route.url, changed, key), 422, 'OCS_IDEMPOTENCY_KEY_REUSED');
    expect(await route.created(who.tenantId, changed)).toBe(0);
    // The key still stands for the first request.
    const replay = await post(who, route.url, body, key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
  });

  it('creates exactly once under concurrent duplicates: the others wait their turn (409 with Retry-After) or get the replay', async () => {
    const who = route.who();
    const key = randomUUID();
    const body = route.body();
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(who, route.url, body, key)));
    const fresh = answers.filter((a) => a.statusCode === 201 && a.headers['idempotent-replayed'] === undefined);
    expect(fresh).toHaveLength(1);
    for (const a of answers) {
      if (a.statusCode === 201) expect(a.body).toBe(fresh[0]!.body);
      else {
        expectProblem(a, 409, 'OCS_IDEMPOTENCY_KEY_IN_FLIGHT');
        expect(a.headers['retry-after']).toBe('1');
      }
    }
    expect(await route.created(who.tenantId, body)).toBe(1);
  });

  it('answers 409 while the first request with the key is in flight, and takes over a claim its process abandoned', async () => {
    const who = route.who();
    const key = randomUUID();
    const body = route.body();
    const fingerprint = fingerprintOf({ method: 'POST', route: `/api/v1${route.url}`, params: {}, query: {}, body });
    // The first request claimed the key and is still running (or its process died).
    await withOwner(t.platform.db, (tx) => tx.query(sql`
      INSERT INTO idempotency_keys (tenant_id, principal, idempotency_key, id, route, fingerprint)
      VALUES (${who.tenantId}, ${`user:${who.userId}`}, ${key}, ${randomUUID()}, ${`POST /api/v1${route.url}`}, ${fingerprint})`));
    const busy = await post(who, route.url, body, key);
    expectProblem(busy, 409, 'OCS_IDEMPOTENCY_KEY_IN_FLIGHT');
    expect(busy.headers['retry-after']).toBe('1');
    expect(await route.created(who.tenantId, body)).toBe(0);
    // Long past the request timeout: the claim is abandoned and the next request runs.
    await withOwner(t.platform.db, (tx) => tx.query(sql`
      UPDATE idempotency_keys SET created_at = now() - interval '1 hour' WHERE tenant_id = ${who.tenantId} AND idempotency_key = ${key}`));
    const taken = await post(who, route.url, body, key);
    expect(taken.statusCode, taken.body).toBe(201);
    expect(taken.headers['idempotent-replayed']).toBeUndefined();
    expect(await route.created(who.tenantId, body)).toBe(1);
  });

  it('keeps keys per principal and per tenant: another user or tenant with the same key has a key of its own', async () => {
    const who = route.who();
    const key = randomUUID();
    const body = route.body();
    const mine = await post(who, route.url, body, key);
    expect(mine.statusCode).toBe(201);
    // The other principal in the same tenant (the invitation route is the owner's: the member may not invite).
    if (route.url === '/knowledge') {
      const colleague = await post(owner, route.url, body, key);
      expect(colleague.statusCode).toBe(201);
      expect(colleague.headers['idempotent-replayed']).toBeUndefined();
      expect(json(colleague).id).not.toBe(json(mine).id);
      expect(await route.created(owner.tenantId, body)).toBe(2);
    } else {
      const refused = await post(member, route.url, body, key);
      expect(refused.statusCode).toBe(403); // authorisation first: a key never lets anyone see another's answer
      expect(refused.body).not.toContain(json(mine).id);
    }
    const foreign = await post(stranger, route.url, body, key);
    expect(foreign.statusCode).toBe(201);
    expect(foreign.headers['idempotent-replayed']).toBeUndefined();
    expect(json(foreign).id).not.toBe(json(mine).id);
    expect(foreign.body).not.toBe(mine.body);
    expect(await route.created(stranger.tenantId, body)).toBe(1);
  });

  it('refuses a malformed key with 400 and creates nothing', async () => {
    const who = route.who();
    const body = route.body();
    for (const bad of ['k'.repeat(256), `"${'k'.repeat(256)}"`, 'two words', '"unterminated', '""', '"a"b"', 'a,b', '"tab\there"', '"caf\u00e9"']) {
      const res = await post(who, route.url, body, bad);
      expectProblem(res, 400, 'OCS_VALIDATION_FAILED');
      expect(json(res).detail).toMatch(/Idempotency-Key/);
    }
    expectProblem(await post(who, route.url, body, [randomUUID(), randomUUID()]), 400, 'OCS_VALIDATION_FAILED');
    expect(await route.created(who.tenantId, body)).toBe(0);
    // 255 characters is the longest key.
    expect((await post(who, route.url, body, 'k'.repeat(255))).statusCode).toBe(201);
  });
});

describe('Idempotency-Key: what is kept, for how long, and where', () => {
  it('keeps no answer that is not 2xx: the key is given back and the client may retry it', async () => {
    const key = randomUUID();
    const missing = await post(owner, `/academy/courses/${randomUUID()}/lessons`, { title: 'One' }, key);
    expect(missing.statusCode).toBe(404);
    const course = json(await post(owner, '/academy/courses', { title: 'Course', status: 'published' }));
    // The same key, now for the right course: not a reuse of a key that stands for anything.
    const lesson = await post(owner, `/academy/courses/${course.id}/lessons`, { title: 'One' }, key);
    expect(lesson.statusCode, lesson.body).toBe(201);
    expect(lesson.headers['idempotent-replayed']).toBeUndefined();
  });

  it('refuses the same key on another route (another request) with 422', async () => {
    const key = randomUUID();
    expect((await post(owner, '/knowledge', { title: `k ${key}`, body: 'x' }, key)).statusCode).toBe(201);
    expectProblem(await post(owner, '/invitations', { email: `i-${key.slice(0, 8)}@example.com`, role: 'viewer' }, key), 422, 'OCS_IDEMPOTENCY_KEY_REUSED');
  });

  it('stores the response sealed, visible to its tenant only, and prunes keys after 24 hours', async () => {
    const key = randomUUID();
    const title = `sealed ${randomUUID()}`;
    expect((await post(owner, '/knowledge', { title, body: 'x' }, key)).statusCode).toBe(201);
    const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ response_sealed: string; status: number }>(sql`
      SELECT response_sealed, status FROM idempotency_keys WHERE tenant_id = ${owner.tenantId} AND idempotency_key = ${key}`));
    expect(row!.status).toBe(201);
    expect(row!.response_sealed).not.toContain(title);
    expect(row!.response_sealed).not.toContain(Buffer.from(title).toString('base64').slice(0, 12));
    // Row-level security: another tenant's context sees none of it, even naming it.
    const seen = await t.platform.queryAsTenant<{ n: number }>({ tenantId: stranger.tenantId }, sql`
      SELECT count(*)::int AS n FROM idempotency_keys WHERE tenant_id = ${owner.tenantId}`);
    expect(seen[0]!.n).toBe(0);
    await expect(t.platform.queryAsTenant({ tenantId: stranger.tenantId }, sql`
      UPDATE idempotency_keys SET status = 200 WHERE tenant_id = ${owner.tenantId} RETURNING 1`)).resolves.toEqual([]);

    // A day later the key is pruned (and, before the prune runs, no longer replayed).
    const young = randomUUID();
    expect((await post(owner, '/knowledge', { title: `young ${young}`, body: 'x' }, young)).statusCode).toBe(201);
    await withOwner(t.platform.db, (tx) => tx.query(sql`
      UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE tenant_id = ${owner.tenantId} AND idempotency_key = ${key}`));
    const afterDay = await post(owner, '/knowledge', { title, body: 'x' }, key);
    expect(afterDay.statusCode).toBe(201);
    expect(afterDay.headers['idempotent-replayed']).toBeUndefined();
    await withOwner(t.platform.db, (tx) => tx.query(sql`
      UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE tenant_id = ${owner.tenantId} AND idempotency_key = ${key}`));
    expect(await pruneExpiredKeys(t.platform)).toBeGreaterThanOrEqual(1);
    const left = await withOwner(t.platform.db, (tx) => tx.query<{ idempotency_key: string }>(sql`
      SELECT idempotency_key FROM idempotency_keys WHERE tenant_id = ${owner.tenantId} AND idempotency_key IN (${key}, ${young})`));
    expect(left.map((r) => r.idempotency_key)).toEqual([young]);
  });

  it('is listed in the OpenAPI document on the routes that take it, with its 409 and 422, and nowhere else', async () => {
    const doc = json((await t.app.inject({ method: 'GET', url: '/openapi.json' })));
    const op = (path: string, method: string) => doc.paths[path][method] as { parameters?: { in: string; name: string }[]; responses: Record<string, unknown> };
    const takesKey = (o: ReturnType<typeof op>) => (o.parameters ?? []).some((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key');
    for (const path of ['/api/v1/knowledge', '/api/v1/invitations', '/api/v1/academy/courses/{id}/lessons']) {
      expect(takesKey(op(path, 'post')), path).toBe(true);
      expect(op(path, 'post').responses).toHaveProperty('409');
      expect(op(path, 'post').responses).toHaveProperty('422');
    }
    expect(takesKey(op('/api/v1/knowledge', 'get'))).toBe(false);
    expect(takesKey(op('/api/v1/knowledge/{id}', 'patch'))).toBe(false);
    // Public creates have no principal to scope a key to.
    expect(takesKey(op('/api/v1/auth/signup', 'post'))).toBe(false);
    // Every authenticated POST that answers 201 takes it.
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>>)) {
      const p = methods.post;
      if (p?.responses['201'] && (p.security?.length ?? 0) > 0) expect(takesKey(p as never), path).toBe(true);
    }
  });

  it('parses keys as the draft writes them (sf-string) and as Stripe clients send them (a bare token)', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('"with \\"quote\\" and \\\\"')).toBe('with "quote" and \\');
    expect(parseIdempotencyKey('"spaces are fine inside quotes"')).toBe('spaces are fine inside quotes');
    for (const bad of ['"\\x"', '"end\\"', '', ' ', '"a""b"']) expect(() => parseIdempotencyKey(bad), bad).toThrow(/Idempotency-Key/);
  });
});
