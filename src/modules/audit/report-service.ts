import { dailyCountsStatement, type ReportCounts } from '../../kernel/audit/report.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';

export const REPORT_DAYS = [7, 30] as const;
export type ReportDays = (typeof REPORT_DAYS)[number];

const DAY_MS = 86_400_000;

export interface ReportDay {
  date: string;
  signIns: number;
  signInFailures: number;
  deniedRequests: number;
  exports: number;
  adminActions: number;
  throttledAttempts: number;
}

const COUNTS = ['signIns', 'signInFailures', 'deniedRequests', 'exports', 'adminActions', 'throttledAttempts'] as const;
const zero = (date: string): ReportDay => ({ date, signIns: 0, signInFailures: 0, deniedRequests: 0, exports: 0, adminActions: 0, throttledAttempts: 0 });

/**
 * The tenant's own security report per UTC day: the last `days` days, today included (so far).
 * Counted in SQL from the tenant's audit events under its RLS, with the definitions of the
 * operator's `ocsuite access-log report` (kernel/audit/report.ts). Access-log numbers (401s,
 * platform-wide throttling) stay operator-only: they are not in the tenant's log.
 */
export async function tenantReport(platform: Platform, principal: Principal, days: ReportDays, now = new Date()) {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const from = new Date(today - (days - 1) * DAY_MS).toISOString();
  const to = new Date(today + DAY_MS).toISOString();
  const rows = await platform.queryAsTenant<{ day: string } & ReportCounts>(contextOf(principal), dailyCountsStatement(from, to));
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const series = Array.from({ length: days }, (_, i) => {
    const date = new Date(today - (days - 1 - i) * DAY_MS).toISOString().slice(0, 10);
    const r = byDay.get(date);
    if (!r) return zero(date);
    return { date, signIns: r.logins, signInFailures: r.login_failures, deniedRequests: r.denied, exports: r.exports, adminActions: r.admin_actions, throttledAttempts: r.throttled };
  });
  const totals = Object.fromEntries(COUNTS.map((k) => [k, series.reduce((n, d) => n + d[k], 0)])) as Record<(typeof COUNTS)[number], number>;
  return { days, from, to, series, totals };
}
