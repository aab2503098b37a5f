/**
 * THE registry of every database column that holds a sealed value. Rotation
 * walks it: master-key rotation reseals every `platform` column and rewraps
 * every tenant data key; data-key rotation re-encrypts every `tenant` column
 * of that tenant; `keys retire` counts what still depends on a key from it.
 *
 * The kernel's own columns are registered below; a module declares its columns
 * in its manifest (`sealedColumns`), which src/modules/index.ts registers, and in its migration
 * grants the maintenance role SELECT on (id column, sealed column[, tenant_id])
 * and UPDATE on the sealed column with a maintenance policy. test/vault/
 * registry.test.ts fails on a `*_sealed` column that is not listed here or
 * that the maintenance role cannot rotate, so a new secret cannot silently
 * stay under an old key.
 *
 * - `tenant`: sealed with the tenant data key (`osv1.<dataKeyVersion>.…`),
 *   AAD = tenant_id, table, column, row id, data-key version (sealed.ts);
 *   the table has `tenant_id`.
 * - `platform`: sealed with the master key (`omk1.<masterKeyId>.…`),
 *   AAD context `<table>|<column>|<row id>` (platformAadContext).
 */
export interface SealedColumn {
  table: string;
  column: string;
  /** Primary key column whose text value is the row id in the AAD. */
  idColumn: string;
  /** SQL type of the id column (rotation casts keyset cursors to it). */
  idType: 'uuid' | 'text';
  scope: 'tenant' | 'platform';
  /** Who writes it, for operator messages. */
  owner: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

const registry: SealedColumn[] = [];

/** Adds a sealed column; identifiers are checked because rotation quotes them into SQL. */
export function registerSealedColumn(entry: SealedColumn): void {
  for (const name of [entry.table, entry.column, entry.idColumn]) {
    if (!IDENTIFIER.test(name)) throw new Error(`sealed column registry: "${name}" is not a plain lower-case identifier`);
  }
  if (entry.scope !== 'tenant' && entry.scope !== 'platform') throw new Error('sealed column registry: scope must be tenant or platform');
  if (entry.idType !== 'uuid' && entry.idType !== 'text') throw new Error('sealed column registry: idType must be uuid or text');
  if (registry.some((c) => c.table === entry.table && c.column === entry.column)) {
    throw new Error(`sealed column registry: ${entry.table}.${entry.column} is registered twice`);
  }
  registry.push(Object.freeze({ ...entry }));
}

/** Every registered column, in registration order. */
export function sealedColumns(scope?: SealedColumn['scope']): readonly SealedColumn[] {
  return scope ? registry.filter((c) => c.scope === scope) : [...registry];
}

/** The AAD context of a platform secret: what it is and which row holds it. */
export function platformAadContext(column: Pick<SealedColumn, 'table' | 'column'>, rowId: string): string {
  return `${column.table}|${column.column}|${rowId}`;
}

// ─── The columns of this code base ──────────────────────────────────────────
registerSealedColumn({ table: 'signing_keys', column: 'private_key_sealed', idColumn: 'kid', idType: 'text', scope: 'platform', owner: 'kernel/auth (access-token signing keys)' });
registerSealedColumn({ table: 'translog_keys', column: 'private_key_sealed', idColumn: 'key_id', idType: 'text', scope: 'platform', owner: 'kernel/audit (checkpoint signing key)' });
registerSealedColumn({ table: 'user_mfa', column: 'totp_secret_sealed', idColumn: 'user_id', idType: 'uuid', scope: 'platform', owner: 'kernel/auth (TOTP seeds)' });
