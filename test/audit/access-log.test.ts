import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { AccessLogWriter, type AccessLine } from '../../src/kernel/audit/access-log.ts';
import { bearer, signup, startApp } from '../support/app.ts';

describe('access logs', () => {
  it('writes one line per request in batches, and a clean shutdown loses none', async () => {
    // A flush interval far beyond the test: every line below reaches the database through the shutdown flush.
    const t = await startApp({ OCSUITE_ACCESS_LOG_FLUSH_MS: '60000' });
    try {
      const a = await signup(t.app, 'Logged');
      const ids: string[] = [];
      const requests = [
        ...Array.from({ length: 40 }, () => ({ method: 'GET' as const, url: '/api/v1/knowledge', headers: bearer(a) })),
        ...Array.from({ length: 10 }, () => ({ method: 'GET' as const, url: '/api/v1/knowledge/6f1c7a52-9e55-4c38-9d0e-2b8f5a1b7c11', headers: bearer(a) })),
        ...Array.from({ length: 10 }, () => ({ method: 'GET' as const, url: '/healthz' })),
        { method: 'GET' as const, url: '/api/v1/knowledge?token=ocs_rt_should_never_be_logged' , headers: { authorization: 'Bearer nope' } },
      ];
      const responses = await Promise.all(requests.map((r) => t.app.inject(r)));
      for (const res of responses) ids.push(String(res.headers['x-request-id']));
      expect(t.app.accessLog!.pending).toBeGreaterThanOrEqual(requests.length);

      await t.app.close();
      const rows = await withOwner(t.platform.db, (tx) => tx.query<{ request_id: string; tenant_id: string | null; user_id: string | null; route: string; status: number }>(sql`
        SELECT request_id, tenant_id::text, user_id::text, route, status FROM access_logs
        UNION ALL SELECT request_id, NULL, NULL, route, status FROM platform_access_logs`));
      const byId = new Map(rows.map((r) => [r.request_id, r]));
      for (const id of ids) expect(byId.has(id), `line of request ${id}`).toBe(true);
      const byIdOf = (i: number) => byId.get(ids[i]!)!;
      expect(byIdOf(0)).toMatchObject({ tenant_id: a.tenantId, user_id: a.userId, route: '/api/v1/knowledge', status: 200 });
      // The route template, never the concrete id or query string.
      expect(byIdOf(45)).toMatchObject({ route: '/api/v1/knowledge/:id', status: 404, tenant_id: a.tenantId });
      expect(byIdOf(55)).toMatchObject({ route: '/healthz', tenant_id: null });
      expect(byIdOf(60)).toMatchObject({ status: 401, tenant_id: null });
      expect(JSON.stringify(rows)).not.toContain('ocs_rt_');
    } finally {
      // Closes the app again (a no-op once closed), the platform, and purges the run's Redis prefix.
      await t.close();
    }
  });

  it('keeps lines the database refused and writes them with the next flush', async () => {
    const t = await startApp({ OCSUITE_ACCESS_LOG: 'false' });
    try {
      expect(t.app.accessLog).toBeNull();
      let failures = 1;
      const flaky: Database = {
        ...t.platform.db,
        kind: t.platform.db.kind,
        acquire: () => (failures-- > 0 ? Promise.reject(new Error('database unavailable')) : t.platform.db.acquire()),
        scopedQuery: (c, s) => t.platform.db.scopedQuery(c, s),
        close: () => Promise.resolve(),
      };
      const writer = new AccessLogWriter({ db: flaky, statementTimeoutMs: 5000, flushMs: 60_000 });
      const line = (i: number): AccessLine => ({ at: new Date(), tenantId: null, userId: null, method: 'GET', route: '/x', status: 200, durationMs: 1, ip: null, requestId: `retry-${i}` });
      for (let i = 0; i < 5; i++) writer.push(line(i));
      await writer.flush();
      expect(writer.pending).toBe(5);
      writer.push(line(5));
      await writer.close();
      expect(writer.pending).toBe(0);
      expect(writer.written).toBe(6);
      const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM platform_access_logs WHERE request_id LIKE 'retry-%'`));
      expect(row!.n).toBe(6);
    } finally {
      await t.close();
    }
  });
});
