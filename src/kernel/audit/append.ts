import { sql, type SQL } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { LRUCache } from 'lru-cache';
import { lockHead, planAppend, writeAppend, writeAppendIfHead, type LogHead } from '../translog/db-log.ts';
import { auditLeafHash, type AuditEventRecord } from './leaf.ts';
import { logOf } from './logs.ts';

/**
 * The head each log had after this process's last append to it. Only a hint: the write is a
 * compare-and-set on size and root in the database (writeAppendIfHead), so a stale or foreign
 * entry (another process appended, a transaction rolled back, another database in this process)
 * costs the locking path, never a wrong tree.
 */
const lastHeads = new LRUCache<string, LogHead>({ max: 10_000 });

/**
 * Appends records of ONE log as consecutive leaves: compute leaf hashes and new nodes in memory
 * from the head, write events + nodes + head in one statement. From the remembered head that is
 * one round trip; otherwise (or when the head moved) lock the head first: two.
 */
export async function appendAuditRecords(tx: Session, records: readonly AuditEventRecord[]): Promise<void> {
  if (records.length === 0) return;
  const log = logOf(records[0]!.tenantId);
  const hashes = records.map(auditLeafHash);
  const col = <K extends keyof AuditEventRecord>(k: K) => sql.param(records.map((r) => r[k]));
  const insertLeaves = (oldSize: number, gate?: SQL) => sql`
    INSERT INTO ${log.events} (${log.tables.keyColumn}, leaf_index, leaf_hash, id, occurred_at, actor_type, actor_id, action,
      target_type, target_id, outcome, reason, metadata, ip, user_agent, request_id)
    SELECT ${log.key}, ${oldSize}::bigint + e.ord - 1, decode(e.leaf_hash, 'hex'), e.id, e.occurred_at, e.actor_type, e.actor_id, e.action,
      e.target_type, e.target_id, e.outcome, e.reason, e.metadata::jsonb, e.ip, e.user_agent, e.request_id
    FROM unnest(${sql.param(hashes.map((h) => h.toString('hex')))}::text[], ${col('id')}::uuid[], ${col('occurredAt')}::timestamptz[],
      ${col('actorType')}::text[], ${col('actorId')}::text[], ${col('action')}::text[], ${col('targetType')}::text[],
      ${col('targetId')}::text[], ${col('outcome')}::text[], ${col('reason')}::text[],
      ${sql.param(records.map((r) => JSON.stringify(r.metadata)))}::text[], ${col('ip')}::text[], ${col('userAgent')}::text[],
      ${col('requestId')}::text[])
      WITH ORDINALITY AS e(leaf_hash, id, occurred_at, actor_type, actor_id, action, target_type, target_id, outcome, reason,
        metadata, ip, user_agent, request_id, ord)
    ${gate ? sql`WHERE ${gate}` : sql``}`;
  const remembered = lastHeads.get(log.name);
  if (remembered) {
    const plan = await planAppend(remembered, hashes);
    if (await writeAppendIfHead(tx, log, remembered, plan, (gate) => insertLeaves(remembered.size, gate))) {
      lastHeads.set(log.name, { size: plan.size, root: plan.root, peaks: plan.peaks });
      return;
    }
  }
  const head = await lockHead(tx, log);
  const plan = await planAppend(head, hashes);
  await writeAppend(tx, log, plan, insertLeaves(head.size));
  lastHeads.set(log.name, { size: plan.size, root: plan.root, peaks: plan.peaks });
}
