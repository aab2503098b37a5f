import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';

/** How far the signed checkpoints trail the audit logs: `/metrics` reads this (no tenant labels). */
export interface CheckpointLag {
  /** Most audit entries of one log (a tenant's or the platform's) not yet covered by a signed checkpoint. */
  entries: number;
  /** Age of the oldest audit entry not yet covered by a signed checkpoint, 0 when every log is covered. */
  seconds: number;
}

/** One statement as the maintenance role (which reads every log); each log's first uncovered leaf by its primary key. */
export async function checkpointLag(tx: Session): Promise<CheckpointLag> {
  const [row] = await tx.query<{ entries: number | null; seconds: number | null }>(sql`
    WITH logs AS (
      SELECT h.size - coalesce((SELECT max(c.size) FROM translog_checkpoints c WHERE c.tenant_id = h.tenant_id), 0) AS lag,
             (SELECT e.occurred_at FROM audit_events e
               WHERE e.tenant_id = h.tenant_id
                 AND e.leaf_index = coalesce((SELECT max(c.size) FROM translog_checkpoints c WHERE c.tenant_id = h.tenant_id), 0)) AS oldest
        FROM translog_heads h
      UNION ALL
      SELECT h.size - coalesce((SELECT max(c.size) FROM platform_translog_checkpoints c), 0),
             (SELECT e.occurred_at FROM platform_audit_events e
               WHERE e.log = 'platform' AND e.leaf_index = coalesce((SELECT max(c.size) FROM platform_translog_checkpoints c), 0))
        FROM platform_translog_heads h
    )
    SELECT max(lag)::float8 AS entries,
           coalesce(max(extract(epoch FROM now() - oldest)) FILTER (WHERE lag > 0), 0)::float8 AS seconds
      FROM logs`);
  return { entries: Math.max(0, row?.entries ?? 0), seconds: Math.max(0, row?.seconds ?? 0) };
}
