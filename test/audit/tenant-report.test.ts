import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainAuditWrites } from '../../src/kernel/audit/background.ts';
import { recordAuditEvents, type AuditEventInput } from '../../src/kernel/audit/events.ts';
import { tenantReport } from '../../src/modules/audit/report-service.ts';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/** GET /api/v1/audit/report: the tenant's own security report per day, from its own log only. */
let t: TestApp;
let a: Account;
let b: Account;
let aViewer: Account;

const ev = (tenantId: string, action: string, outcome: 'success' | 'failure' = 'success', extra: Partial<AuditEventInput> = {}): AuditEventInput =>
  ({ tenantId, actor: { type: 'system' }, action, outcome, ...extra });
const append = (tenantId: string, events: AuditEventInput[]) => t.platform.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, events));
const times = (n: number, e: AuditEventInput) => Array.from({ length: n }, () => e);
const report = async (who: Account, query = '') => {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1/audit/report${query}`, headers: bearer(who) });
  expect(res.statusCode, res.body).toBe(200);
  return json(res);
};
const today = () => new Date().toISOString().slice(0, 10);

/** The events every tenant of this file gets: known counts of each series. */
function mix(tenantId: string): AuditEventInput[] {
  return [
    ...times(3, ev(tenantId, 'auth.login')),
    ...times(2, ev(tenantId, 'auth.login', 'failure')),
    ev(tenantId, 'auth.mfa_verified', 'failure'),
    ev(tenantId, 'auth.mfa_verified'), // a success: not a failure, not a sign-in
    ...times(4, ev(tenantId, 'access.denied', 'failure')),
    ev(tenantId, 'audit.exported'),
    ...times(2, ev(tenantId, 'member.role_changed')),
    ev(tenantId, 'knowledge.deleted'),
    ev(tenantId, 'knowledge.created'), // neither
    ev(tenantId, 'auth.throttled', 'failure', { target: { type: 'ip', id: '203.0.113.9' }, metadata: { refusals: 5 } }),
    // The same refusals summarised under the account they named: not counted twice.
    ev(tenantId, 'auth.throttled', 'failure', { target: { type: 'email', id: 'h' }, metadata: { refusals: 5 } }),
  ];
}

beforeAll(async () => {
  t = await startApp();
  a = await signup(t.app, 'Report A');
  b = await signup(t.app, 'Report B');
  aViewer = await addMember(t.app, a, 'viewer');
});
afterAll(() => t?.close());

describe('the tenant security report', () => {
  it('counts the tenant\'s own events per day, and never another tenant\'s', async () => {
    const before = await report(a);
    await append(a.tenantId, mix(a.tenantId));
    // Tenant B has a lot more of everything, on the same day.
    await append(b.tenantId, [...mix(b.tenantId), ...mix(b.tenantId), ...mix(b.tenantId)]);
    // A real denial in A's log: the viewer lacks audit:read.
    const denied = await t.app.inject({ method: 'GET', url: '/api/v1/audit/report', headers: bearer(aViewer) });
    expect(denied.statusCode).toBe(403);
    // The denial is recorded off the response path: wait for it.
    await drainAuditWrites();
    const after = await report(a);

    expect(after.days).toBe(7);
    expect(after.series).toHaveLength(7);
    expect(after.series.map((d: { date: string }) => d.date).at(-1)).toBe(today());
    expect(after.series.map((d: { date: string }) => d.date)).toEqual([...after.series.map((d: { date: string }) => d.date)].sort());
    const delta = (k: string) => after.series.at(-1)[k] - before.series.at(-1)[k];
    expect({
      signIns: delta('signIns'), signInFailures: delta('signInFailures'), deniedRequests: delta('deniedRequests'),
      exports: delta('exports'), adminActions: delta('adminActions'), throttledAttempts: delta('throttledAttempts'),
    }).toEqual({ signIns: 3, signInFailures: 3, deniedRequests: 5, exports: 1, adminActions: 3, throttledAttempts: 5 });
    // Totals are the sum of the days.
    for (const k of Object.keys(after.totals)) expect(after.totals[k]).toBe(after.series.reduce((n: number, d: Record<string, number>) => n + d[k]!, 0));

    // B's report holds B's events (three times the mix), not A's.
    const bReport = await report(b);
    expect(bReport.series.at(-1).deniedRequests).toBe(12);
    expect(bReport.series.at(-1).throttledAttempts).toBe(15);
  });

  it('puts each event on its UTC day: seen from tomorrow, today\'s events are on the day before the last', async () => {
    const tenant = await signup(t.app, 'Report days');
    await append(tenant.tenantId, mix(tenant.tenantId));
    const principal = { kind: 'user' as const, tenantId: tenant.tenantId, userId: tenant.userId };
    const tomorrow = new Date(Date.now() + 86_400_000);
    const seen = await tenantReport(t.platform, principal as never, 30, tomorrow);
    expect(seen.series).toHaveLength(30);
    expect(seen.series.at(-1)).toMatchObject({ date: tomorrow.toISOString().slice(0, 10), signIns: 0, deniedRequests: 0, exports: 0 });
    expect(seen.series.at(-2)).toMatchObject({ date: today(), deniedRequests: 4, exports: 1, throttledAttempts: 5, signInFailures: 3 });
    // Seen from 8 days on, the 7-day window no longer holds them.
    const later = await tenantReport(t.platform, principal as never, 7, new Date(Date.now() + 8 * 86_400_000));
    expect(later.totals).toEqual({ signIns: 0, signInFailures: 0, deniedRequests: 0, exports: 0, adminActions: 0, throttledAttempts: 0 });
  });

  it('answers 30 days, and refuses a bad `days` with a 400 problem', async () => {
    expect((await report(a, '?days=30')).series).toHaveLength(30);
    for (const q of ['?days=14', '?days=abc', '?days=-7', '?days=7.5', '?days=', '?days=7&tenant=x']) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/audit/report${q}`, headers: bearer(a) });
      expect(res.statusCode, q).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(json(res).code).toBe('OCS_VALIDATION_FAILED');
    }
  });

  it('refuses a viewer, a member and no token', async () => {
    const member = await addMember(t.app, a, 'member');
    for (const who of [aViewer, member]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/audit/report', headers: bearer(who) });
      expect(res.statusCode).toBe(403);
      expect(json(res).code).toBe('OCS_FORBIDDEN');
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/audit/report' })).statusCode).toBe(401);
  });
});
