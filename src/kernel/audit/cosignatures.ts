/**
 * Witness cosignatures stored next to the checkpoints they sign (issue #22 §4,
 * migration 0099). Nothing is stored that did not verify against the
 * configured witness key; a cosignature that does not is refused, counted in
 * the platform audit log (`audit.cosignature.refused`) and never served.
 */
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { appendSignatureLines, verifyCosignatureLine, type Cosignature, type CosignatureVerifier } from '../translog/index.ts';
import { AuditError } from './errors.ts';
import { recordAuditEvent, type AuditEventInput } from './events.ts';
import type { AuditLog } from './logs.ts';

/** Cosignatures dated more than this far ahead of the platform's clock are refused (tlog-cosignature allows it). */
export const MAX_FUTURE_SECONDS = 300;

export async function checkpointNoteAt(tx: Session, log: AuditLog, size: number): Promise<string | undefined> {
  const [row] = await tx.query<{ note: string }>(sql`
    SELECT note FROM ${log.checkpoints} WHERE ${log.tables.keyColumn} = ${log.key} AND size = ${size}`);
  return row?.note;
}

/** Signature lines of the stored cosignatures of one checkpoint, oldest first. */
export async function cosignatureLines(tx: Session, log: AuditLog, size: number): Promise<string[]> {
  const rows = await tx.query<{ line: string }>(sql`
    SELECT line FROM ${log.cosignatures} WHERE ${log.tables.keyColumn} = ${log.key} AND size = ${size}
    ORDER BY received_at, witness, key_id`);
  return rows.map((r) => r.line);
}

/** The checkpoint note with its stored cosignature lines appended (signed-note: several signature lines). */
export async function cosignedNote(tx: Session, log: AuditLog, size: number, note: string): Promise<string> {
  return appendSignatureLines(note, await cosignatureLines(tx, log, size));
}

/** The largest checkpoint size of this log the witness key has a stored cosignature for. */
export async function lastCosignedSize(tx: Session, log: AuditLog, verifier: CosignatureVerifier): Promise<number | undefined> {
  const [row] = await tx.query<{ size: unknown }>(sql`
    SELECT max(size) AS size FROM ${log.cosignatures}
    WHERE ${log.tables.keyColumn} = ${log.key} AND witness = ${verifier.name} AND key_id = ${verifier.keyId.toString('hex')}`);
  return row?.size === null || row?.size === undefined ? undefined : Number(row.size);
}

export async function hasCosignature(tx: Session, log: AuditLog, size: number, verifier: CosignatureVerifier): Promise<boolean> {
  const [row] = await tx.query<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM ${log.cosignatures}
    WHERE ${log.tables.keyColumn} = ${log.key} AND size = ${size} AND witness = ${verifier.name} AND key_id = ${verifier.keyId.toString('hex')}`);
  return (row?.n ?? 0) > 0;
}

export class CosignatureRefusedError extends AuditError {}

export interface AcceptInput {
  log: AuditLog;
  size: number;
  /** Signature lines as a witness answered them (or an operator pasted them). */
  lines: readonly string[];
  verifier: CosignatureVerifier;
  actor: AuditEventInput['actor'];
  /** Where they came from, for the audit event: `push` or `operator`. */
  via: 'push' | 'operator';
  now?: Date;
}

/**
 * Verifies the lines of the witness's key against the stored checkpoint and
 * stores the valid ones (maintenance role). Lines of other keys are ignored,
 * as tlog-witness asks of clients. A line of this key that does not verify, or
 * an answer without any line of this key, is refused: one platform audit event
 * per refusal, nothing of it stored, and `{ refused }` returned, so the caller
 * commits the event and then fails (refusalError).
 */
export async function acceptCosignatures(tx: Session, input: AcceptInput): Promise<{ accepted: Cosignature[]; refused?: undefined } | { accepted?: undefined; refused: string }> {
  const { log, size, verifier } = input;
  const note = await checkpointNoteAt(tx, log, size);
  if (note === undefined) throw new CosignatureRefusedError('ERR_AUDIT_LOG_CORRUPT', `log ${log.name} has no checkpoint at size ${size}`);
  const keyName = `${verifier.name} `;
  const mine = input.lines.map((l) => l.replace(/\r?\n$/, '')).filter((l) => l.startsWith(`\u2014 ${keyName}`));
  const notAfter = Math.floor((input.now ?? new Date()).getTime() / 1000) + MAX_FUTURE_SECONDS;
  const accepted: Cosignature[] = [];
  let refusal: string | undefined = mine.length === 0 ? `no signature line by ${verifier.name}` : undefined;
  for (const line of mine) {
    try {
      accepted.push(verifyCosignatureLine(note, line, verifier, { notAfter }));
    } catch (err) {
      // Another key under the same name is someone else's line: ignored. A bad line of this key is refused.
      if ((err as { code?: string }).code === 'ERR_TRANSLOG_CHECKPOINT_UNVERIFIED' && mine.length > 1) continue;
      refusal = (err as Error).message;
      break;
    }
  }
  if (refusal === undefined && accepted.length === 0) refusal = `no signature line by ${verifier.name}+${verifier.keyId.toString('hex')}`;
  if (refusal !== undefined) {
    await recordRefusal(tx, input, refusal);
    return { refused: `cosignature of ${log.name} at size ${size} by ${verifier.name} refused: ${refusal}` };
  }
  for (const c of accepted) {
    await tx.query(sql`
      INSERT INTO ${log.cosignatures} (${log.tables.keyColumn}, size, witness, key_id, signed_at, line)
      VALUES (${log.key}, ${size}, ${c.name}, ${c.keyId}, ${c.timestamp}, ${c.line})
      ON CONFLICT DO NOTHING`);
  }
  // An operator's action is an event; a pushed cosignature is evidence enough itself (an event per push
  // would move the platform log's head, and its next checkpoint would be pushed again, without end).
  if (input.via === 'operator') await recordAuditEvent(tx, {
    tenantId: null,
    actor: input.actor,
    action: 'audit.cosignature.stored',
    target: { type: 'translog_checkpoint', id: `${log.name}/${size}` },
    outcome: 'success',
    metadata: { witness: verifier.name, keyId: verifier.keyId.toString('hex'), log: log.name, size, via: input.via, timestamp: accepted[0]!.timestamp },
  });
  return { accepted };
}

function recordRefusal(tx: Session, input: AcceptInput, reason: string): Promise<unknown> {
  return recordAuditEvent(tx, {
    tenantId: null,
    actor: input.actor,
    action: 'audit.cosignature.refused',
    target: { type: 'translog_checkpoint', id: `${input.log.name}/${input.size}` },
    outcome: 'failure',
    reason: reason.slice(0, 600),
    metadata: { witness: input.verifier.name, keyId: input.verifier.keyId.toString('hex'), log: input.log.name, size: input.size, via: input.via },
  });
}
