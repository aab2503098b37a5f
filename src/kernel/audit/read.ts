/** Reading stored audit events back as the records their leaves were computed from. */
import { sql, type SQL } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import type { AuditEventRecord } from './leaf.ts';
import type { AuditLog } from './logs.ts';

export interface StoredAuditEvent extends AuditEventRecord {
  leafIndex: number;
  leafHash: Buffer;
}

export interface EventFilter {
  actorId?: string | undefined;
  actorType?: string | undefined;
  /** Exact action, or a prefix ending in `.*` ('auth.*'). */
  action?: string | undefined;
  outcome?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  /** Only leaves below this index (newest-first paging). */
  beforeIndex?: number | undefined;
  /** Only leaves at or above this index (oldest-first scans). */
  fromIndex?: number | undefined;
}

type Row = {
  leaf_index: unknown; leaf_hash: string; id: string; occurred_at: Date | string; actor_type: string; actor_id: string | null;
  action: string; target_type: string | null; target_id: string | null; outcome: string; reason: string | null;
  metadata: Record<string, unknown> | string | null; ip: string | null; user_agent: string | null; request_id: string | null;
};

const iso = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString();

export function rowToEvent(log: AuditLog, r: Row): StoredAuditEvent {
  return {
    leafIndex: Number(r.leaf_index),
    leafHash: Buffer.from(r.leaf_hash, 'hex'),
    id: r.id,
    tenantId: log.tenantId,
    occurredAt: iso(r.occurred_at),
    actorType: r.actor_type,
    actorId: r.actor_id,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    outcome: r.outcome,
    reason: r.reason,
    metadata: (typeof r.metadata === 'string' ? JSON.parse(r.metadata) : r.metadata ?? {}) as Record<string, unknown>,
    ip: r.ip,
    userAgent: r.user_agent,
    requestId: r.request_id,
  };
}

function conditions(log: AuditLog, f: EventFilter): SQL {
  const c: SQL[] = [sql`${log.tables.keyColumn} = ${log.key}`];
  if (f.actorId !== undefined) c.push(sql`actor_id = ${f.actorId}`);
  if (f.actorType !== undefined) c.push(sql`actor_type = ${f.actorType}`);
  if (f.action !== undefined) {
    if (f.action.endsWith('.*')) c.push(sql`starts_with(action, ${f.action.slice(0, -1)})`);
    else c.push(sql`action = ${f.action}`);
  }
  if (f.outcome !== undefined) c.push(sql`outcome = ${f.outcome}`);
  if (f.since !== undefined) c.push(sql`occurred_at >= ${f.since}::timestamptz`);
  if (f.until !== undefined) c.push(sql`occurred_at < ${f.until}::timestamptz`);
  if (f.beforeIndex !== undefined) c.push(sql`leaf_index < ${f.beforeIndex}`);
  if (f.fromIndex !== undefined) c.push(sql`leaf_index >= ${f.fromIndex}`);
  return sql.join(c, sql` AND `);
}

const COLUMNS = sql`leaf_index, encode(leaf_hash, 'hex') AS leaf_hash, id, occurred_at, actor_type, actor_id, action,
  target_type, target_id, outcome, reason, metadata, ip, user_agent, request_id`;

/** A page of events, newest first. */
export async function listEvents(tx: Session, log: AuditLog, filter: EventFilter, limit: number): Promise<StoredAuditEvent[]> {
  const rows = await tx.query<Row>(sql`
    SELECT ${COLUMNS} FROM ${log.events} WHERE ${conditions(log, filter)} ORDER BY leaf_index DESC LIMIT ${limit}`);
  return rows.map((r) => rowToEvent(log, r));
}

/** A run of events in leaf order, oldest first (verification, export). */
export async function scanEvents(tx: Session, log: AuditLog, filter: EventFilter, limit: number): Promise<StoredAuditEvent[]> {
  const rows = await tx.query<Row>(sql`
    SELECT ${COLUMNS} FROM ${log.events} WHERE ${conditions(log, filter)} ORDER BY leaf_index ASC LIMIT ${limit}`);
  return rows.map((r) => rowToEvent(log, r));
}

export async function findEvent(tx: Session, log: AuditLog, id: string): Promise<StoredAuditEvent | undefined> {
  const [row] = await tx.query<Row>(sql`SELECT ${COLUMNS} FROM ${log.events} WHERE ${log.tables.keyColumn} = ${log.key} AND id = ${id}`);
  return row ? rowToEvent(log, row) : undefined;
}
