import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { startApp, type TestApp } from '../support/app.ts';

/**
 * Issue #10 §3: every answer the server sends — routed or not — passes the
 * rate limit and gets an access-log line. A scanner's 404s and 414s are
 * requests like any other; readiness checks keep a budget of their own.
 */
let t: TestApp;
const BUDGET = 5;

beforeAll(async () => {
  t = await startApp({ OCSUITE_RATE_LIMIT: String(BUDGET), OCSUITE_HEALTH_RATE_LIMIT: '1000', OCSUITE_ACCESS_LOG_FLUSH_MS: '60000' });
});
afterAll(async () => t?.close());

const fromIp = (ip: string) => ({ remoteAddress: ip });

async function accessLines(ids: string[]) {
  await t.app.accessLog!.flush();
  const rows = await withOwner(t.platform.db, (tx) => tx.query<{ request_id: string; route: string; status: number; ip: string | null }>(sql`
    SELECT request_id, route, status, ip FROM platform_access_logs WHERE request_id = ANY(${sql.param(ids)}::text[])
    UNION ALL SELECT request_id, route, status, ip FROM access_logs WHERE request_id = ANY(${sql.param(ids)}::text[])`));
  // Exactly one line per answer: none missing, none written twice.
  expect(rows.length).toBe(ids.length);
  return new Map(rows.map((r) => [r.request_id, r]));
}

describe('answers outside any route', () => {
  it('a flood of unknown paths is rate-limited and every answer is logged', async () => {
    const ip = '198.51.100.10';
    const res = [];
    for (let i = 0; i < BUDGET + 3; i++) res.push(await t.app.inject({ method: 'GET', url: `/scan/${i}/.env`, ...fromIp(ip) }));
    expect(res.slice(0, BUDGET).map((r) => r.statusCode)).toEqual(Array(BUDGET).fill(404));
    expect(res.slice(BUDGET).map((r) => r.statusCode)).toEqual([429, 429, 429]);
    expect(res[BUDGET]!.headers['retry-after']).toMatch(/^\d+$/);
    expect(String(res[BUDGET]!.headers['content-type'])).toMatch(/^application\/problem\+json/);
    const ids = res.map((r) => String(r.headers['x-request-id']));
    const lines = await accessLines(ids);
    for (const [i, id] of ids.entries()) {
      expect(lines.get(id), `access line of answer ${i}`).toMatchObject({ status: res[i]!.statusCode, route: 'unmatched', ip });
    }
    // The raw path never reaches the log.
    expect(JSON.stringify([...lines.values()])).not.toContain('.env');
  });

  it('a flood of over-long path parameters is rate-limited and every answer is logged', async () => {
    const ip = '198.51.100.11';
    const res = [];
    for (let i = 0; i < BUDGET + 2; i++) res.push(await t.app.inject({ method: 'GET', url: `/api/v1/knowledge/${'a'.repeat(300)}${i}`, ...fromIp(ip) }));
    expect(res.slice(0, BUDGET).map((r) => r.statusCode)).toEqual(Array(BUDGET).fill(414));
    expect(res.slice(BUDGET).map((r) => r.statusCode)).toEqual([429, 429]);
    const ids = res.map((r) => String(r.headers['x-request-id']));
    const lines = await accessLines(ids);
    for (const [i, id] of ids.entries()) expect(lines.get(id), `access line of answer ${i}`).toMatchObject({ status: res[i]!.statusCode, ip });
  });

  it('bad percent-encoding shares the same budget and log', async () => {
    const ip = '198.51.100.12';
    const res = [];
    for (let i = 0; i < BUDGET + 1; i++) res.push(await t.app.inject({ method: 'GET', url: `/api/v1/knowledge/${i}%E0%A4%A`, ...fromIp(ip) }));
    expect(res.slice(0, BUDGET).every((r) => r.statusCode === 400)).toBe(true);
    expect(res[BUDGET]!.statusCode).toBe(429);
    const lines = await accessLines(res.map((r) => String(r.headers['x-request-id'])));
    expect(lines.size).toBe(BUDGET + 1);
  });

  it('readiness and health answer while the same client has spent its request budget', async () => {
    const ip = '198.51.100.13';
    for (let i = 0; i < BUDGET; i++) await t.app.inject({ method: 'GET', url: '/nothing-here', ...fromIp(ip) });
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/knowledge', ...fromIp(ip) })).statusCode).toBe(429);
    expect((await t.app.inject({ method: 'GET', url: '/readyz', ...fromIp(ip) })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/healthz', ...fromIp(ip) })).statusCode).toBe(200);
  });

  it('health checks have a budget of their own, which is enforced too', async () => {
    const h = await startApp({ OCSUITE_HEALTH_RATE_LIMIT: '3' });
    try {
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await h.app.inject({ method: 'GET', url: '/healthz', ...fromIp('198.51.100.14') })).statusCode);
      expect(codes).toEqual([200, 200, 200, 429]);
      // Another client's budget is untouched, and the API budget was not spent by health checks.
      expect((await h.app.inject({ method: 'GET', url: '/healthz', ...fromIp('198.51.100.15') })).statusCode).toBe(200);
      expect((await h.app.inject({ method: 'GET', url: '/api/v1/knowledge', ...fromIp('198.51.100.14') })).statusCode).toBe(401);
    } finally {
      await h.close();
    }
  });
});
