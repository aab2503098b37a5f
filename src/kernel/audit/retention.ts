/**
 * Retention of ACCESS LOGS only (audit events are kept for good; their log
 * proves none was removed). Runs as the maintenance role, the only role whose
 * DELETE the access-log trigger lets through, and only for lines older than a
 * day; each prune is itself an event of the platform log, in the same
 * transaction as the deletion.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import { withMaintenance } from '../../db/transaction.ts';
import { AuditError } from './errors.ts';
import { recordAuditEvent, type AuditEventInput } from './events.ts';

export const MIN_RETENTION_DAYS = 1;
export const DEFAULT_RETENTION_DAYS = 90;

/** `90d`, `12w` or a bare number of days. */
export function parseRetention(text: string): number {
  const m = /^([0-9]{1,5})(d|w)?$/.exec(text.trim());
  if (!m) throw new AuditError('ERR_AUDIT_INVALID', `retention "${text}" must look like 90d or 12w`);
  const days = Number(m[1]) * (m[2] === 'w' ? 7 : 1);
  if (days < MIN_RETENTION_DAYS) throw new AuditError('ERR_AUDIT_INVALID', `retention must be at least ${MIN_RETENTION_DAYS} day`);
  return days;
}

export interface PruneResult {
  cutoff: string;
  tenantLines: number;
  platformLines: number;
}

export async function pruneAccessLogs(
  db: Database,
  statementTimeoutMs: number,
  olderThanDays: number,
  actor: AuditEventInput['actor'],
): Promise<PruneResult> {
  if (!Number.isInteger(olderThanDays) || olderThanDays < MIN_RETENTION_DAYS) {
    throw new AuditError('ERR_AUDIT_INVALID', `retention must be a whole number of days, at least ${MIN_RETENTION_DAYS}`);
  }
  return withMaintenance(db, { statementTimeoutMs }, async (tx) => {
    const [{ cutoff }] = (await tx.query<{ cutoff: Date | string }>(sql`SELECT now() - make_interval(days => ${olderThanDays}) AS cutoff`)) as [{ cutoff: Date | string }];
    const iso = new Date(cutoff).toISOString();
    const [t] = await tx.query<{ n: number }>(sql`WITH d AS (DELETE FROM access_logs WHERE at < ${iso}::timestamptz RETURNING 1) SELECT count(*)::int AS n FROM d`);
    const [p] = await tx.query<{ n: number }>(sql`WITH d AS (DELETE FROM platform_access_logs WHERE at < ${iso}::timestamptz RETURNING 1) SELECT count(*)::int AS n FROM d`);
    const result = { cutoff: iso, tenantLines: t?.n ?? 0, platformLines: p?.n ?? 0 };
    await recordAuditEvent(tx, {
      tenantId: null,
      actor,
      action: 'access_log.pruned',
      target: { type: 'access_logs' },
      outcome: 'success',
      metadata: { olderThanDays, ...result },
    });
    return result;
  });
}
