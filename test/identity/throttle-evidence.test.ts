import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { accessReport } from '../../src/kernel/audit/report.ts';
import { emailHandle } from '../../src/kernel/auth/email-handle.ts';
import { signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * Issue #22 §2: auth requests refused with 429 are counted and summarised in
 * the platform audit log — one event per client IP or account per window, not
 * one per request — so a brute-force run is visible after the fact.
 */
const operatorToken = randomBytes(36).toString('base64url');
let t: TestApp;
let victim: Account;

async function throttledEvents(targetId: string) {
  return withOwner(t.platform.db, (tx) => tx.query<{ target_type: string; metadata: { refusals: number; byReason: Record<string, number>; routes: string[] } }>(sql`
    SELECT target_type, metadata FROM platform_audit_events WHERE action = 'auth.throttled' AND target_id = ${targetId} ORDER BY leaf_index`));
}

/** Waits until the summaries of a subject add up to `refusals` (a window closes every 2 s). */
async function untilTotal(targetId: string, refusals: number) {
  for (let i = 0; i < 100; i++) {
    const rows = await throttledEvents(targetId);
    if (rows.reduce((n, e) => n + e.metadata.refusals, 0) >= refusals) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
  return throttledEvents(targetId);
}

const login = (email: string, password: string, ip: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/auth/login', remoteAddress: ip, payload: { email, password } });

beforeAll(async () => {
  t = await startApp({ OCSUITE_AUTH_RATE_LIMIT: '4', OCSUITE_THROTTLE_SUMMARY_SECONDS: '2', OCSUITE_OPERATOR_TOKEN: operatorToken });
  victim = await signup(t.app, 'Victim');
});

afterAll(async () => {
  await t?.close();
});

describe('throttled attempts as evidence', () => {
  it('summarises a burst over the per-IP budget in one event for that IP, and counts it', async () => {
    const ip = '198.51.100.7';
    const answers: number[] = [];
    for (let i = 0; i < 12; i++) answers.push((await login(`nobody-${i}@example.com`, 'guess guess guess', ip)).statusCode);
    // signup() above spent one budget unit of 127.0.0.1, not of this IP: four answered, eight refused.
    expect(answers.filter((s) => s === 429)).toHaveLength(8);
    // One event per window: the burst is one event, or two if a window ended during it.
    const events = await untilTotal(ip, 8);
    expect(events.length).toBeLessThanOrEqual(2);
    for (const event of events) {
      expect(event.target_type).toBe('ip');
      expect(Object.keys(event.metadata.byReason)).toEqual(['rate-limit']);
      expect(event.metadata.routes).toEqual(['/api/v1/auth/login']);
    }
    expect(events.reduce((n, e) => n + e.metadata.refusals, 0)).toBe(8);
    // The weekly report shows them on the platform row.
    const report = await accessReport(t.platform.db, 5_000, 'week');
    expect(report.tenants.find((s) => s.tenantId === null)!.throttledRequests).toBeGreaterThanOrEqual(8);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } });
    expect(metrics.body).toMatch(/ocsuite_auth_throttled_total\{route="\/api\/v1\/auth\/login",reason="rate-limit"\} 8/);
  });

  it('summarises refusals of a locked account under the account (a hash, not the address) and the IPs', async () => {
    // Guesses from many addresses: the account lock, not the per-IP budget, refuses them.
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await login(victim.email, `wrong password number ${i}`, `203.0.113.${i + 1}`)).statusCode);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429, 429, 429]);
    const handle = emailHandle(victim.email);
    const events = await untilTotal(handle, 4);
    expect(events.length).toBeLessThanOrEqual(2);
    expect(events.every((e) => e.target_type === 'email' && Object.keys(e.metadata.byReason).join() === 'locked-out')).toBe(true);
    expect(events.reduce((n, e) => n + e.metadata.refusals, 0)).toBe(4);
    const stored = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM platform_audit_events WHERE action = 'auth.throttled' AND (metadata::text ILIKE ${`%${victim.email}%`} OR target_id = ${victim.email})`));
    expect(stored[0]!.n).toBe(0);
  });

  it('writes nothing for a window without refusals, and a new event in the next window', async () => {
    const ip = '198.51.100.99';
    await login('someone@example.com', 'guess guess guess', ip);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await throttledEvents(ip)).toHaveLength(0);
    for (let i = 0; i < 6; i++) await login('someone@example.com', 'guess guess guess', ip);
    // Budget 4 per minute: the first request and three of these answered, three refused.
    const events = await untilTotal(ip, 3);
    expect(events.reduce((n, e) => n + e.metadata.refusals, 0)).toBe(3);
  });
});
