/**
 * Signed checkpoints of audit logs. A new checkpoint is signed only after the
 * stored tree is checked against the previous one: its root is recomputed
 * from stored nodes and a consistency proof from the last signed size is
 * verified, so the service never signs a fork of its own history.
 */
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { readHead, dbNodeReader } from '../translog/db-log.ts';
import { consistencyProof, rootAt, signCheckpoint, verifyConsistency } from '../translog/index.ts';
import { AuditError } from './errors.ts';
import { assertSignerActive, type LogSigner } from './log-key.ts';
import type { AuditLog } from './logs.ts';

export interface StoredCheckpoint {
  origin: string;
  size: number;
  root: Buffer;
  /** The signed note text (C2SP tlog-checkpoint in a signed-note). */
  note: string;
  /** true when this call signed it (a witness should hear about it). */
  created: boolean;
}

const corrupt = (log: AuditLog, what: string) => new AuditError('ERR_AUDIT_LOG_CORRUPT', `log ${log.name}: ${what}`);

export async function latestStoredCheckpoint(tx: Session, log: AuditLog): Promise<{ size: number; root: Buffer; note: string } | undefined> {
  const [row] = await tx.query<{ size: unknown; root: string; note: string }>(sql`
    SELECT size, encode(root, 'hex') AS root, note FROM ${log.checkpoints}
    WHERE ${log.tables.keyColumn} = ${log.key} ORDER BY size DESC LIMIT 1`);
  return row ? { size: Number(row.size), root: Buffer.from(row.root, 'hex'), note: row.note } : undefined;
}

/** The checkpoint of the current head, signing and storing it if the head moved since the last one. */
export async function checkpointHead(tx: Session, log: AuditLog, signer: LogSigner): Promise<StoredCheckpoint> {
  const origin = signer.originOf(log.name);
  const head = await readHead(tx, log);
  const last = await latestStoredCheckpoint(tx, log);
  if (last && last.size === head.size) {
    if (!last.root.equals(head.root)) throw corrupt(log, `head root differs from the checkpoint signed at size ${head.size}`);
    return { origin, size: last.size, root: last.root, note: last.note, created: false };
  }
  if (last && last.size > head.size) throw corrupt(log, `head size ${head.size} is behind signed size ${last.size}`);
  const reader = dbNodeReader(tx, log);
  const recomputed = await rootAt(reader, head.size);
  if (!recomputed.equals(head.root)) throw corrupt(log, `stored nodes do not fold to the head root at size ${head.size}`);
  if (last && last.size > 0) {
    try {
      verifyConsistency(last.size, head.size, await consistencyProof(reader, last.size, head.size), last.root, head.root);
    } catch {
      throw corrupt(log, `size ${head.size} is not an extension of the signed size ${last.size}`);
    }
  }
  await assertSignerActive(tx, signer);
  const note = signCheckpoint({ origin, size: head.size, root: head.root }, signer);
  await tx.query(sql`
    INSERT INTO ${log.checkpoints} (${log.tables.keyColumn}, size, root, note)
    VALUES (${log.key}, ${head.size}, decode(${head.root.toString('hex')}, 'hex'), ${note})
    ON CONFLICT DO NOTHING`);
  return { origin, size: head.size, root: head.root, note, created: true };
}
