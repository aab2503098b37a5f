/**
 * `ocsuite access-log prune --older-than 90d` — retention of access logs (as
 *   the maintenance role; the prune is itself a platform audit event).
 * `ocsuite access-log report --period day|week|month [--json]` — per-tenant
 *   summary: logins, failed logins, admin actions, exports, denied requests.
 */
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { openDatabase, openReadDatabase } from '../db/open.ts';
import { accessReport, REPORT_PERIODS, type ReportPeriod } from '../kernel/audit/report.ts';
import { DEFAULT_RETENTION_DAYS, parseRetention, pruneAccessLogs } from '../kernel/audit/retention.ts';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}
const consoleIo: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) };

export async function accessLogCommand(config: Config, args: string[], io: CliIo = consoleIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'prune') {
    const { values } = parseArgs({ args: rest, options: { 'older-than': { type: 'string' } } });
    const days = parseRetention(values['older-than'] ?? `${DEFAULT_RETENTION_DAYS}d`);
    const db = await openDatabase(config);
    try {
      const r = await pruneAccessLogs(db, config.statementTimeoutMs, days, { type: 'operator', id: 'cli' });
      io.out(`pruned ${r.tenantLines + r.platformLines} access-log line(s) older than ${r.cutoff} (tenant ${r.tenantLines}, platform ${r.platformLines})`);
      return 0;
    } finally {
      await db.close();
    }
  }
  if (sub === 'report') {
    const { values } = parseArgs({ args: rest, options: { period: { type: 'string', default: 'week' }, json: { type: 'boolean' } } });
    const period = values.period as ReportPeriod;
    if (!(period in REPORT_PERIODS)) {
      io.err(`--period must be one of ${Object.keys(REPORT_PERIODS).join(', ')}`);
      return 2;
    }
    // A report only reads: on the standby of DATABASE_READ_URL when there is one.
    const db = config.readDatabaseUrl ? openReadDatabase(config) : await openDatabase(config);
    try {
      const report = await accessReport(db, config.statementTimeoutMs, period);
      if (values.json) {
        io.out(JSON.stringify(report, null, 2));
        return 0;
      }
      io.out(`access report ${report.from} → ${report.to}`);
      const header = ['TENANT', 'LOGINS', 'FAILED', 'THROTTLED', 'ADMIN', 'EXPORTS', 'DENIED', 'REQUESTS', '5XX'];
      const rows = report.tenants.map((s) => [s.tenantId ?? 'platform', s.logins, s.loginFailures, s.throttledRequests, s.adminActions, s.exports, s.deniedRequests, s.requests, s.errors].map(String));
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [header, ...rows]) io.out(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
      return 0;
    } finally {
      await db.close();
    }
  }
  io.err('usage: ocsuite access-log prune --older-than 90d | report --period day|week|month [--json]');
  return 2;
}
