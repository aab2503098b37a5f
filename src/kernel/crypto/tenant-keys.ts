import { sql, type SQL } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { generateDataKey, unwrapDataKey, wrapDataKey } from './datakey.ts';
import { CryptoError } from './errors.ts';
import { fingerprintSecret } from './fingerprint.ts';
import type { Keyring } from './keyring.ts';
import { dataKeyVersionOf, openValue, sealValue } from './sealed.ts';
import { unwrapDataKeyCached } from './data-key-cache.ts';
import { isUuid } from '../ids.ts';

/**
 * Tenant data keys in the database (table tenant_data_keys) and the two calls
 * modules use to keep a tenant secret in a column: sealForTenant and
 * openForTenant. Both run inside the caller's transaction; under withTenant,
 * RLS lets it see only its own tenant's keys, so a ciphertext or a tenant id
 * from elsewhere cannot reach another tenant's key.
 */

/** Advisory-lock namespace of tenant data keys ("okw1" as a 31-bit integer). */
const DATA_KEY_LOCK = 0x6f6b7731;

/** Where a sealed value lives: the AAD of sealed.ts binds all four. */
export interface TenantCell {
  tenantId: string;
  table: string;
  column: string;
  rowId: string;
}

const norm = (id: string) => id.toLowerCase();
/**
 * The row id as the database prints it, which is what rotation reads back and
 * binds: a UUID in upper case would seal a value no reader can open.
 */
const cellOf = (cell: TenantCell) => ({ ...cell, tenantId: norm(cell.tenantId), rowId: isUuid(cell.rowId) ? norm(cell.rowId) : cell.rowId });

/**
 * Sealing transactions hold this lock (shared) until they commit; a data-key
 * rotation takes it exclusively to switch the active version. So once the
 * switch commits, no transaction can still write a value under the old
 * version, and the rotation's walk cannot miss one.
 */
export async function holdTenantKeysShared(tx: Session, tenantId: string): Promise<void> {
  await tx.query(sql`SELECT pg_advisory_xact_lock_shared(${DATA_KEY_LOCK}::int, hashtext(${norm(tenantId)}::text))`);
}

export async function holdTenantKeysExclusive(tx: Session, tenantId: string): Promise<void> {
  await tx.query(sql`SELECT pg_advisory_xact_lock(${DATA_KEY_LOCK}::int, hashtext(${norm(tenantId)}::text))`);
}

interface KeyRow {
  version: number;
  wrapped_key: string | null;
}

/**
 * The tenant's active data key, unwrapped (zero it after use). The first call
 * for a tenant creates version 1, wrapped by the primary master key; two
 * concurrent first calls agree on one key through the primary-key conflict.
 */
export async function activeDataKey(tx: Session, keyring: Keyring, tenantId: string): Promise<{ version: number; key: Buffer }> {
  const tenant = norm(tenantId);
  for (let attempt = 0; attempt < 2; attempt++) {
    const [active] = await tx.query<KeyRow>(sql`
      SELECT version, wrapped_key FROM tenant_data_keys WHERE tenant_id = ${tenant} AND state = 'active'`);
    if (active?.wrapped_key) {
      return { version: active.version, key: unwrapDataKey(keyring, { tenantId: tenant, version: active.version }, active.wrapped_key) };
    }
    // A deleted tenant was crypto-shredded: never give it a key again (migration 0009 is the wall).
    const [next] = await tx.query<{ version: number; deleted: boolean | null }>(sql`
      SELECT coalesce(max(k.version), 0) + 1 AS version, (SELECT t.deleted_at IS NOT NULL FROM tenants t WHERE t.id = ${tenant}) AS deleted
      FROM tenant_data_keys k WHERE k.tenant_id = ${tenant}`);
    if (next?.deleted !== false) throw new CryptoError('ERR_TENANT_DELETED', 'the tenant was deleted (or is unknown): nothing can be sealed for it');
    const version = Number(next?.version ?? 1);
    const key = generateDataKey();
    const wrapped = wrapDataKey(keyring, { tenantId: tenant, version }, key);
    const inserted = await tx.query(sql`
      INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key) VALUES (${tenant}, ${version}, ${wrapped})
      ON CONFLICT DO NOTHING RETURNING version`);
    if (inserted.length === 1) return { version, key };
    key.fill(0); // another transaction created it first: use theirs
  }
  throw new CryptoError('ERR_DATAKEY_MISSING', 'the tenant has no active data key and none could be created');
}

/** One version of the tenant's data key, unwrapped; ERR_DATAKEY_MISSING once destroyed. */
export async function dataKeyOfVersion(tx: Session, keyring: Keyring, tenantId: string, version: number): Promise<Buffer> {
  const tenant = norm(tenantId);
  const [row] = await tx.query<KeyRow>(sql`
    SELECT version, wrapped_key FROM tenant_data_keys WHERE tenant_id = ${tenant} AND version = ${version}`);
  return unwrapVersion(keyring, tenant, version, row?.wrapped_key ?? null);
}

function unwrapVersion(keyring: Keyring, tenantId: string, version: number, wrapped: string | null): Buffer {
  if (!wrapped) {
    throw new CryptoError('ERR_DATAKEY_MISSING', `data key version ${version} of this tenant no longer exists (rotated away or shredded)`);
  }
  return unwrapDataKey(keyring, { tenantId, version }, wrapped);
}

/**
 * Runs `use` with the tenant's active data key under the shared key lock, and
 * zeroes the key after. Call it in the transaction that writes the value: the
 * lock lasts until that transaction ends (see holdTenantKeysShared).
 */
async function withActiveKey<T>(tx: Session, keyring: Keyring, tenantId: string, use: (key: Buffer, version: number) => T): Promise<T> {
  await holdTenantKeysShared(tx, tenantId);
  const { version, key } = await activeDataKey(tx, keyring, tenantId);
  try {
    return use(key, version);
  } finally {
    key.fill(0);
  }
}

/** Seals `plaintext` for one cell with the tenant's active data key (in the writing transaction). */
export function sealForTenant(tx: Session, keyring: Keyring, cell: TenantCell, plaintext: string | Uint8Array): Promise<string> {
  return withActiveKey(tx, keyring, cell.tenantId, (key, version) => sealValue(key, { ...cellOf(cell), dataKeyVersion: version }, plaintext));
}

/**
 * A write-only secret (a connector's credential): sealed for its cell, and
 * fingerprinted under the same data key (fingerprint.ts), so what the API
 * shows of it is keyed to the tenant and shredded with it.
 */
export function sealSecretForTenant(tx: Session, keyring: Keyring, cell: TenantCell, secret: string): Promise<{ sealed: string; fingerprint: string }> {
  return withActiveKey(tx, keyring, cell.tenantId, (key, version) => ({
    sealed: sealValue(key, { ...cellOf(cell), dataKeyVersion: version }, secret),
    fingerprint: fingerprintSecret(key, secret),
  }));
}

/** Opens a value read from `cell`; the token names the data-key version to fetch. */
export async function openForTenant(tx: Session, keyring: Keyring, cell: TenantCell, token: string): Promise<Buffer> {
  const version = dataKeyVersionOf(token);
  const tenant = norm(cell.tenantId);
  // The wrapped key is read in this transaction every time; only its unwrap is cached (data-key-cache.ts).
  const [row] = await tx.query<KeyRow>(sql`
    SELECT version, wrapped_key FROM tenant_data_keys WHERE tenant_id = ${tenant} AND version = ${version}`);
  return openValue(cachedKeyOf(keyring, tenant, version, row?.wrapped_key ?? null), { ...cellOf(cell), dataKeyVersion: version }, token);
}

function cachedKeyOf(keyring: Keyring, tenantId: string, version: number, wrapped: string | null) {
  if (!wrapped) {
    throw new CryptoError('ERR_DATAKEY_MISSING', `data key version ${version} of this tenant no longer exists (rotated away or shredded)`);
  }
  return unwrapDataKeyCached(keyring, tenantId, version, wrapped);
}

/**
 * A scalar subquery for the wrapped data key a sealed column's value needs.
 * Selected next to the value, it is read in the same snapshot, so a
 * concurrent rotation can never show the value under a version whose key it
 * has already destroyed. `tenantColumn` and `sealedColumn` are column
 * references of the caller's query (constant SQL, never input).
 */
export function wrappedKeyFor(tenantColumn: SQL, sealedColumn: SQL): SQL {
  const label = sql`split_part(${sealedColumn}, '.', 2)`;
  return sql`(SELECT k.wrapped_key FROM tenant_data_keys k WHERE k.tenant_id = ${tenantColumn}
    AND k.version = (CASE WHEN ${label} ~ '^[1-9][0-9]{0,8}$' THEN ${label}::int END))`;
}

/** Opens a value with the wrapped key selected beside it (wrappedKeyFor). */
export function openWithWrappedKey(keyring: Keyring, cell: TenantCell, token: string, wrappedKey: string | null): Buffer {
  const version = dataKeyVersionOf(token);
  const tenant = norm(cell.tenantId);
  return openValue(cachedKeyOf(keyring, tenant, version, wrappedKey), { ...cellOf(cell), dataKeyVersion: version }, token);
}
