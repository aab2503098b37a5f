/**
 * The per-tenant security summary of a period (`ocsuite access-log report`):
 * logins, failed logins, throttled auth requests, admin actions, exports and denied requests, read by
 * the maintenance role from audit events and access logs.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import { withMaintenance } from '../../db/transaction.ts';

export const REPORT_PERIODS = { day: 1, week: 7, month: 30 } as const;
export type ReportPeriod = keyof typeof REPORT_PERIODS;

/** Actions an administrator takes on the tenant (prefixes). */
export const ADMIN_ACTION_PREFIXES = ['member.', 'invitation.', 'apikey.', 'api_key.', 'keys.', 'tenant.', 'mfa.', 'connector.', 'knowledge.deleted'];

export interface TenantSummary {
  tenantId: string | null;
  logins: number;
  loginFailures: number;
  /** Auth requests refused with 429 (summed from the `auth.throttled` summaries of the platform log). */
  throttledRequests: number;
  adminActions: number;
  exports: number;
  deniedRequests: number;
  requests: number;
  errors: number;
}

type Fragment = ReturnType<typeof sql>;

/**
 * The counts of the report over audit events (one log), as SELECT columns: the one definition of
 * what a sign-in, a failure, an admin action, an export, a denial and a throttled attempt are,
 * shared by the operator-wide report and the tenant's own (GET /api/v1/audit/report).
 */
export function reportCountColumns(): Fragment {
  const prefixes = ADMIN_ACTION_PREFIXES.map((p) => (p.endsWith('.') ? `${p}%` : p));
  return sql`
      count(*) FILTER (WHERE action = 'auth.login' AND outcome = 'success')::int AS logins,
      count(*) FILTER (WHERE action IN ('auth.login', 'auth.mfa_verified') AND outcome = 'failure')::int AS login_failures,
      count(*) FILTER (WHERE action LIKE ANY (${sql.param(prefixes)}::text[]))::int AS admin_actions,
      count(*) FILTER (WHERE action = 'audit.exported')::int AS exports,
      count(*) FILTER (WHERE action = 'access.denied')::int AS denied,
      -- Each refusal is summarised under its IP (and again under the account it named): count the IP summaries.
      coalesce(sum((metadata->>'refusals')::int) FILTER (WHERE action = 'auth.throttled' AND target_type = 'ip'), 0)::int AS throttled`;
}

export interface ReportCounts { logins: number; login_failures: number; admin_actions: number; exports: number; denied: number; throttled: number }

/**
 * The counts per UTC day of `[from, to)` from `audit_events` as the caller's role sees them: run
 * under a tenant's RLS (queryAsTenant) it is that tenant's log and nothing else. Days without
 * events are absent (the caller fills them).
 */
export function dailyCountsStatement(from: string, to: string): Fragment {
  return sql`
    SELECT to_char((occurred_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, ${reportCountColumns()}
    FROM audit_events WHERE occurred_at >= ${from}::timestamptz AND occurred_at < ${to}::timestamptz GROUP BY 1 ORDER BY 1`;
}

export async function accessReport(db: Database, statementTimeoutMs: number, period: ReportPeriod, now = new Date()): Promise<{ from: string; to: string; tenants: TenantSummary[] }> {
  const to = now.toISOString();
  const from = new Date(now.getTime() - REPORT_PERIODS[period] * 86_400_000).toISOString();
  const events = (table: Fragment, key: Fragment) => sql`
    SELECT ${key} AS tenant_id, ${reportCountColumns()}
    FROM ${table} WHERE occurred_at >= ${from}::timestamptz AND occurred_at < ${to}::timestamptz GROUP BY 1`;
  return withMaintenance(db, { statementTimeoutMs }, async (tx) => {
    const rows = await tx.query<{ tenant_id: string | null } & ReportCounts>(sql`
      ${events(sql`audit_events`, sql`tenant_id::text`)} UNION ALL ${events(sql`platform_audit_events`, sql`NULL::text`)}`);
    const access = await tx.query<{ tenant_id: string | null; requests: number; errors: number; denied: number }>(sql`
      SELECT tenant_id::text, count(*)::int AS requests, count(*) FILTER (WHERE status >= 500)::int AS errors,
        count(*) FILTER (WHERE status IN (401, 403))::int AS denied
      FROM access_logs WHERE at >= ${from}::timestamptz AND at < ${to}::timestamptz GROUP BY 1
      UNION ALL
      SELECT NULL, count(*)::int, count(*) FILTER (WHERE status >= 500)::int, count(*) FILTER (WHERE status IN (401, 403))::int
      FROM platform_access_logs WHERE at >= ${from}::timestamptz AND at < ${to}::timestamptz`);
    const byTenant = new Map<string | null, TenantSummary>();
    const entry = (id: string | null) => {
      let s = byTenant.get(id);
      if (!s) byTenant.set(id, (s = { tenantId: id, logins: 0, loginFailures: 0, throttledRequests: 0, adminActions: 0, exports: 0, deniedRequests: 0, requests: 0, errors: 0 }));
      return s;
    };
    for (const r of rows) {
      const s = entry(r.tenant_id);
      s.logins += r.logins;
      s.loginFailures += r.login_failures;
      s.throttledRequests += r.throttled;
      s.adminActions += r.admin_actions;
      s.exports += r.exports;
      s.deniedRequests += r.denied;
    }
    for (const r of access) {
      if (r.requests === 0) continue;
      const s = entry(r.tenant_id);
      s.requests += r.requests;
      s.errors += r.errors;
      // 403s are already counted as access.denied events; 401s (no valid credential) only appear in the access log.
      s.deniedRequests = Math.max(s.deniedRequests, r.denied);
    }
    const tenants = [...byTenant.values()].sort((a, b) => (a.tenantId === null ? 1 : b.tenantId === null ? -1 : a.tenantId.localeCompare(b.tenantId)));
    return { from, to, tenants };
  });
}
