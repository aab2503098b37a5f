import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { CryptoError } from './errors.ts';
import type { Keyring } from './keyring.ts';
import { sealedColumns } from './sealed-columns.ts';

/**
 * What the database knows about master keys (table master_keys): when each id
 * was first seen (key ages) and which ones are retired. Runs as the
 * maintenance role.
 */

/**
 * Records every configured id (first sighting) and marks the keyring's
 * retired keys as retired, so a key retired by `ocsuite keys retire` is
 * refused by this process too. A retired primary is a configuration error.
 */
export async function syncMasterKeys(tx: Session, keyring: Keyring): Promise<{ retired: string[] }> {
  const ids = keyring.ids();
  await tx.query(sql`INSERT INTO master_keys (id) SELECT unnest(${sql.param(ids)}::text[]) ON CONFLICT (id) DO NOTHING`);
  const rows = await tx.query<{ id: string }>(sql`
    SELECT id FROM master_keys WHERE retired_at IS NOT NULL AND id = ANY (${sql.param(ids)}::text[]) ORDER BY id`);
  const retired = rows.map((r) => r.id);
  if (retired.includes(keyring.primary.id)) {
    throw new CryptoError('ERR_KEY_RETIRED', `the primary master key "${keyring.primary.id}" was retired; configure a new primary`);
  }
  for (const id of retired) keyring.retire(id);
  return { retired };
}

export interface MasterKeyRecord {
  id: string;
  firstSeenAt: Date;
  retiredAt: Date | null;
}

export async function masterKeyRecords(tx: Session): Promise<MasterKeyRecord[]> {
  const rows = await tx.query<{ id: string; first_seen_at: Date; retired_at: Date | null }>(sql`
    SELECT id, first_seen_at, retired_at FROM master_keys ORDER BY first_seen_at, id`);
  return rows.map((r) => ({ id: r.id, firstSeenAt: new Date(r.first_seen_at), retiredAt: r.retired_at ? new Date(r.retired_at) : null }));
}

/** Rows that need one master key: a wrapped data key or a platform secret. */
export interface KeyDependency {
  table: string;
  column: string;
  masterKeyId: string;
  rows: number;
}

/**
 * Every master key in use, counted per table and column: wrapped data keys
 * (`okw1.<id>.…`) and the platform secrets of the registry (`omk1.<id>.…`).
 * Values sealed with a tenant data key depend on a master key only through
 * their tenant's wrapped key, so they are not counted twice.
 */
export async function masterKeyDependencies(tx: Session): Promise<KeyDependency[]> {
  const out: KeyDependency[] = [];
  const wrapped = await tx.query<{ id: string; rows: number }>(sql`
    SELECT split_part(wrapped_key, '.', 2) AS id, count(*)::int AS rows FROM tenant_data_keys
    WHERE wrapped_key IS NOT NULL GROUP BY 1 ORDER BY 1`);
  for (const w of wrapped) out.push({ table: 'tenant_data_keys', column: 'wrapped_key', masterKeyId: w.id, rows: w.rows });
  for (const c of sealedColumns('platform')) {
    const col = sql.identifier(c.column);
    const rows = await tx.query<{ id: string; rows: number }>(sql`
      SELECT split_part(${col}, '.', 2) AS id, count(*)::int AS rows FROM ${sql.identifier(c.table)}
      WHERE ${col} IS NOT NULL GROUP BY 1 ORDER BY 1`);
    for (const r of rows) out.push({ table: c.table, column: c.column, masterKeyId: r.id, rows: r.rows });
  }
  // Dead letters an operator may still retry: a sealed payload (mail) must still open then.
  const parked = await tx.query<{ id: string; rows: number }>(sql`
    SELECT split_part(payload->>'sealed', '.', 2) AS id, count(*)::int AS rows FROM job_platform_dead_letters
    WHERE status IN ('dead', 'retrying') AND retryable AND payload->>'sealed' LIKE 'omk1.%' GROUP BY 1 ORDER BY 1`);
  for (const d of parked) out.push({ table: 'job_platform_dead_letters', column: 'payload', masterKeyId: d.id, rows: d.rows });
  return out;
}

export type RetireResult =
  | { retired: true; alreadyRetired: boolean }
  | { retired: false; reason: 'primary' | 'unknown' | 'in-use'; dependencies: KeyDependency[] };

/**
 * Retires a master key when nothing depends on it: no row of the database
 * (masterKeyDependencies) and nothing of `inTransit`, the sealed payloads
 * outside it (queued mail, mailKeyDependencies). Retirement is recorded in
 * the database; this process refuses the key at once, every other one at its
 * next key reload (SIGNING_KEY_RELOAD_MS) or start, after which it can be
 * deleted from the configuration.
 */
export async function retireMasterKey(tx: Session, keyring: Keyring, id: string, inTransit: readonly KeyDependency[] = []): Promise<RetireResult> {
  if (id === keyring.primary.id) return { retired: false, reason: 'primary', dependencies: [] };
  const [known] = await tx.query<{ retired_at: Date | null }>(sql`SELECT retired_at FROM master_keys WHERE id = ${id} FOR UPDATE`);
  if (!known && !keyring.has(id)) return { retired: false, reason: 'unknown', dependencies: [] };
  const dependencies = [...await masterKeyDependencies(tx), ...inTransit].filter((d) => d.masterKeyId === id && d.rows > 0);
  if (dependencies.length > 0) return { retired: false, reason: 'in-use', dependencies };
  if (known?.retired_at) return { retired: true, alreadyRetired: true };
  await tx.query(sql`INSERT INTO master_keys (id, retired_at) VALUES (${id}, now())
    ON CONFLICT (id) DO UPDATE SET retired_at = now() WHERE master_keys.retired_at IS NULL`);
  if (keyring.has(id)) keyring.retire(id);
  return { retired: true, alreadyRetired: false };
}
