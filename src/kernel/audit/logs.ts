/**
 * The two table families of audit logs (docs/security/audit.md):
 * - tenant logs: audit_events / translog_nodes / translog_heads / translog_checkpoints,
 *   keyed by tenant_id, RLS-scoped like every tenant table;
 * - the platform log: platform_audit_events / platform_translog_*, keyed by the
 *   constant `log = 'platform'`, with no runtime grants at all.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { LogRef } from '../translog/db-log.ts';

export interface AuditLog extends LogRef {
  /** 'platform' or the tenant id: the last segment of the checkpoint origin. */
  name: string;
  tenantId: string | null;
  events: SQL;
  checkpoints: SQL;
  /** Verified witness cosignatures of its checkpoints (issue #22 §4). */
  cosignatures: SQL;
}

export function tenantLog(tenantId: string): AuditLog {
  const id = tenantId.toLowerCase();
  return {
    name: id,
    tenantId: id,
    key: sql`${id}::uuid`,
    events: sql`audit_events`,
    checkpoints: sql`translog_checkpoints`,
    cosignatures: sql`translog_cosignatures`,
    tables: { leaves: sql`audit_events`, nodes: sql`translog_nodes`, heads: sql`translog_heads`, keyColumn: sql`tenant_id` },
  };
}

export const PLATFORM_LOG_NAME = 'platform';

export function platformLog(): AuditLog {
  return {
    name: PLATFORM_LOG_NAME,
    tenantId: null,
    key: sql`'platform'::text`,
    events: sql`platform_audit_events`,
    checkpoints: sql`platform_translog_checkpoints`,
    cosignatures: sql`platform_translog_cosignatures`,
    tables: { leaves: sql`platform_audit_events`, nodes: sql`platform_translog_nodes`, heads: sql`platform_translog_heads`, keyColumn: sql`log` },
  };
}

export function logOf(tenantId: string | null): AuditLog {
  return tenantId === null ? platformLog() : tenantLog(tenantId);
}
