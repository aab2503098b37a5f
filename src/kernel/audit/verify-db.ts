/** Loads one audit log from the database (maintenance role, read only) and re-verifies it from its leaves. */
import { createPublicKey } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import { withIdentity, withMaintenance } from '../../db/transaction.ts';
import { readHead } from '../translog/db-log.ts';
import { parseVerifierKey, verifierKeyString, type CheckpointVerifier } from '../translog/index.ts';
import { logOf } from './logs.ts';
import { scanEvents } from './read.ts';
import { verifyAuditLog, type LeafRow, type LogVerification } from './verify-log.ts';

const CHUNK = 5_000;

/** The stored active verifier key (for operators; an outsider passes the key they trust instead). */
export async function storedVerifierKey(db: Database, statementTimeoutMs: number): Promise<string> {
  const [row] = await withIdentity(db, { statementTimeoutMs }, (tx) =>
    tx.query<{ key_name: string; public_key: string }>(sql`
      SELECT key_name, encode(public_key, 'hex') AS public_key FROM translog_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1`));
  if (!row) throw new Error('no translog key exists yet');
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(row.public_key, 'hex').toString('base64url') }, format: 'jwk' });
  return verifierKeyString(row.key_name, publicKey);
}

/** No audit log for this tenant in the database (an unknown id, or a log never written). */
export class LogNotFoundError extends Error {
  readonly code = 'ERR_AUDIT_LOG_NOT_FOUND';
}

/**
 * `kept` are signed checkpoints held outside the database (a witness's, an
 * earlier download): checked like the stored ones, so a log cut back to an
 * older size together with its stored checkpoints is still found out.
 */
export async function verifyStoredLog(
  db: Database,
  statementTimeoutMs: number,
  tenantId: string | null,
  verifierKey: string,
  kept: readonly string[] = [],
  onProgress?: (done: number, total: number) => void,
): Promise<LogVerification & { origin: string }> {
  const verifier: CheckpointVerifier = parseVerifierKey(verifierKey);
  const log = logOf(tenantId);
  const opts = { statementTimeoutMs };
  const { checkpoints, head, exists } = await withMaintenance(db, opts, async (tx) => ({
    checkpoints: (await tx.query<{ note: string }>(sql`
      SELECT note FROM ${log.checkpoints} WHERE ${log.tables.keyColumn} = ${log.key} ORDER BY size`)).map((r) => r.note),
    head: await readHead(tx, log),
    // The platform log always exists (it may be empty); a tenant's exists with its tenant or its head.
    exists: tenantId === null
      || (await tx.query(sql`SELECT 1 FROM ${log.tables.heads} WHERE ${log.tables.keyColumn} = ${log.key}`)).length > 0
      || (await tx.query(sql`SELECT 1 FROM tenants WHERE id = ${tenantId}`)).length > 0,
  }));
  // Verifying nothing is not a success: a mistyped tenant id must not print OK.
  if (!exists && kept.length === 0) throw new LogNotFoundError(`no audit log for tenant ${tenantId} in this database`);
  async function* rows(): AsyncGenerator<LeafRow> {
    let from = 0;
    for (;;) {
      const chunk = await withMaintenance(db, opts, (tx) => scanEvents(tx, log, { fromIndex: from }, CHUNK));
      yield* chunk;
      const done = chunk.length > 0 ? chunk[chunk.length - 1]!.leafIndex + 1 : from;
      onProgress?.(done, Math.max(head.size, done));
      if (chunk.length < CHUNK) return;
      from = done;
    }
  }
  const origin = `${verifier.keyName}/${log.name}`;
  const result = await verifyAuditLog({ rows: rows(), checkpoints: [...checkpoints, ...kept], verifier, origin, tenantId: log.tenantId, head: { size: head.size, root: head.root } });
  return { ...result, origin };
}
