import type { Session } from '../../db/client.ts';
import { openForTenant, sealSecretForTenant, sealForTenant } from '../../kernel/crypto/tenant-keys.ts';
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
}

/**
 * The secrets that sign or verify now: the current one first, and the previous
 * one while its overlap lasts.
 */
export async function openSecrets(platform: Platform, tx: Session, tenantId: string, table: SecretTable, rowId: string, row: SealedSecrets, now = new Date()): Promise<string[]> {
  const open = async (column: 'secret_sealed' | 'previous_secret_sealed', token: string) => {
    const bytes = await openForTenant(tx, platform.keyring, cell(tenantId, table, column, rowId), token);
    const text = bytes.toString('utf8');
    bytes.fill(0);
    return text;
  };
  const secrets = [await open('secret_sealed', row.secret_sealed)];
  if (row.previous_secret_sealed && row.previous_secret_expires_at && new Date(row.previous_secret_expires_at) > now) {
    secrets.push(await open('previous_secret_sealed', row.previous_secret_sealed));
  }
  return secrets;
}
