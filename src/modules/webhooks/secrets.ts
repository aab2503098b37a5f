import { sql, type SQL } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { openForTenant, openWithWrappedKey, sealSecretForTenant, sealForTenant, wrappedKeyFor } from '../../kernel/crypto/tenant-keys.ts';
import type { Platform } from '../../kernel/platform.ts';

/**
 * Webhook secrets (`whsec_…`), sealed with the tenant's data key in the cell they
 * live in (the AAD binds tenant, table, column and row, so a sealed value moved
 * to another row or tenant does not open). Shown once, at creation or rotation;
 * never read back by the API.
 */
export type SecretTable = 'webhook_endpoints' | 'webhook_receivers';

const cell = (tenantId: string, table: SecretTable, column: 'secret_sealed' | 'previous_secret_sealed', rowId: string) =>
  ({ tenantId, table, column, rowId: rowId.toLowerCase() });

/** Seals a fresh current secret and its fingerprint (keyed to the tenant, so it is shredded with it). */
export function sealCurrentSecret(platform: Platform, tx: Session, tenantId: string, table: SecretTable, rowId: string, secret: string) {
  return sealSecretForTenant(tx, platform.keyring, cell(tenantId, table, 'secret_sealed', rowId), secret);
}

/** Seals the secret being rotated away into the previous-secret cell of the same row. */
export function sealPreviousSecret(platform: Platform, tx: Session, tenantId: string, table: SecretTable, rowId: string, secret: string) {
  return sealForTenant(tx, platform.keyring, cell(tenantId, table, 'previous_secret_sealed', rowId), secret);
}

export interface SealedSecrets {
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | string | null;
  /** The wrapped data keys, when the row was read with `sealedSecretColumns` (one round trip fewer). */
  secret_wrapped_key?: string | null;
  previous_wrapped_key?: string | null;
}

/**
 * The sealed secret columns of a webhook row and, selected beside them in the same snapshot, the
 * wrapped data keys they open with — so the hot paths (a delivery attempt, an inbound call) open
 * their secrets without a query of their own. `alias` is the caller's constant table alias.
 */
export function sealedSecretColumns(alias?: string): SQL {
  const c = (name: string): SQL => (alias ? sql`${sql.identifier(alias)}.${sql.identifier(name)}` : sql`${sql.identifier(name)}`);
  return sql`${c('secret_sealed')}, ${c('previous_secret_sealed')}, ${c('previous_secret_expires_at')},
    ${wrappedKeyFor(c('tenant_id'), c('secret_sealed'))} AS secret_wrapped_key,
    ${wrappedKeyFor(c('tenant_id'), c('previous_secret_sealed'))} AS previous_wrapped_key`;
}

/**
 * The secrets that sign or verify now: the current one first, and the previous
 * one while its overlap lasts.
 */
export async function openSecrets(platform: Platform, tx: Session, tenantId: string, table: SecretTable, rowId: string, row: SealedSecrets, now = new Date()): Promise<string[]> {
  const open = async (column: 'secret_sealed' | 'previous_secret_sealed', token: string, wrapped: string | null | undefined) => {
    const at = cell(tenantId, table, column, rowId);
    const bytes = wrapped !== undefined ? openWithWrappedKey(platform.keyring, at, token, wrapped) : await openForTenant(tx, platform.keyring, at, token);
    const text = bytes.toString('utf8');
    bytes.fill(0);
    return text;
  };
  const secrets = [await open('secret_sealed', row.secret_sealed, row.secret_wrapped_key)];
  if (row.previous_secret_sealed && row.previous_secret_expires_at && new Date(row.previous_secret_expires_at) > now) {
    secrets.push(await open('previous_secret_sealed', row.previous_secret_sealed, row.previous_wrapped_key));
  }
  return secrets;
}
