import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { lockHead, planAppend, writeAppend } from '../translog/db-log.ts';
import { auditLeafHash, type AuditEventRecord } from './leaf.ts';
import { logOf } from './logs.ts';

/**
 * Appends records of ONE log as consecutive leaves: lock the head, compute
 * leaf hashes and new nodes in memory, write events + nodes + head in one
 * statement. Two round trips per batch, whatever its size.
 */
export async function appendAuditRecords(tx: Session, records: readonly AuditEventRecord[]): Promise<void> {
  if (records.length === 0) return;
  const log = logOf(records[0]!.tenantId);
  const head = await lockHead(tx, log);
  const hashes = records.map(auditLeafHash);
  const plan = await planAppend(head, hashes);
  const col = <K extends keyof AuditEventRecord>(k: K) => sql.param(records.map((r) => r[k]));
  const insertLeaves = sql`
    INSERT INTO ${log.events} (${log.tables.keyColumn}, leaf_index, leaf_hash, id, occurred_at, actor_type, actor_id, action,
      target_type, target_id, outcome, reason, metadata, ip, user_agent, request_id)
    SELECT ${log.key}, ${head.size}::bigint + e.ord - 1, decode(e.leaf_hash, 'hex'), e.id, e.occurred_at, e.actor_type, e.actor_id, e.action,
      e.target_type, e.target_id, e.outcome, e.reason, e.metadata::jsonb, e.ip, e.user_agent, e.request_id
    FROM unnest(${sql.param(hashes.map((h) => h.toString('hex')))}::text[], ${col('id')}::uuid[], ${col('occurredAt')}::timestamptz[],
      ${col('actorType')}::text[], ${col('actorId')}::text[], ${col('action')}::text[], ${col('targetType')}::text[],
      ${col('targetId')}::text[], ${col('outcome')}::text[], ${col('reason')}::text[],
      ${sql.param(records.map((r) => JSON.stringify(r.metadata)))}::text[], ${col('ip')}::text[], ${col('userAgent')}::text[],
      ${col('requestId')}::text[])
      WITH ORDINALITY AS e(leaf_hash, id, occurred_at, actor_type, actor_id, action, target_type, target_id, outcome, reason,
        metadata, ip, user_agent, request_id, ord)`;
  await writeAppend(tx, log, plan, insertLeaves);
}
