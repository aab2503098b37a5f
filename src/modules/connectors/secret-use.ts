import { sql } from 'drizzle-orm';
import { recordAuditEvent, recordAuditEventNow } from '../../kernel/audit/events.ts';
import { isCryptoError } from '../../kernel/crypto/index.ts';
import { openWithWrappedKey, wrappedKeyFor } from '../../kernel/crypto/tenant-keys.ts';
import type { Platform } from '../../kernel/platform.ts';
import { SECRET_CELL } from './service.ts';
import { isUuid } from '../../kernel/ids.ts';

/** `<area>.<verb>`-like label of why a worker needs the secret, kept in the audit trail. */
const PURPOSE = /^[a-z][a-z0-9_]*(?:[.:-][a-z0-9_]+){0,4}$/;

export class ConnectorSecretError extends Error {
  readonly code: 'ERR_CONNECTOR_NOT_FOUND' | 'ERR_CONNECTOR_SECRET_UNREADABLE' | 'ERR_CONNECTOR_PURPOSE';

  constructor(code: ConnectorSecretError['code'], message: string) {
    super(message);
    this.name = 'ConnectorSecretError';
    this.code = code;
  }
}

export interface ConnectorCredential {
  connectorId: string;
  provider: string;
  kind: 'oauth_refresh_token' | 'api_key';
  scopes: string[];
  metadata: Record<string, unknown>;
  /** The credential in clear: hand it to the provider's client and drop it; never log or store it. */
  secret: string;
}

/**
 * The one code path that reads a connector secret in clear: a worker job of
 * the tenant calls it just before talking to the provider. It runs as the
 * runtime role inside the tenant (RLS), opens the value with the data key read
 * in the same snapshot, and records `connector.secret_used` with the purpose
 * in the same transaction — no use without an audit event. A value that does
 * not open (tampered, moved from another row or tenant, shredded) is refused
 * and the failure is audited too.
 */
export async function useConnectorSecret(platform: Platform, tenantId: string, connectorId: string, purpose: string): Promise<ConnectorCredential> {
  if (!PURPOSE.test(purpose) || purpose.length > 100) {
    throw new ConnectorSecretError('ERR_CONNECTOR_PURPOSE', 'purpose must be a short label such as "sync.contacts"');
  }
  if (!isUuid(connectorId)) throw new ConnectorSecretError('ERR_CONNECTOR_NOT_FOUND', 'no such connector');
  const id = connectorId.toLowerCase();
  const actor = { type: 'system' as const, id: `worker:${purpose}` };
  try {
    return await platform.withTenant({ tenantId }, async (tx) => {
      const [row] = await tx.query<{ provider: string; kind: ConnectorCredential['kind']; scopes: string[]; metadata: Record<string, unknown>; sealed: string; wrapped: string | null }>(sql`
        SELECT c.provider, c.kind, c.scopes, c.metadata, c.secret_sealed AS sealed, ${wrappedKeyFor(sql`c.tenant_id`, sql`c.secret_sealed`)} AS wrapped
        FROM connectors c WHERE c.id = ${id}`);
      if (!row) throw new ConnectorSecretError('ERR_CONNECTOR_NOT_FOUND', 'no such connector');
      const plaintext = openWithWrappedKey(platform.keyring, { tenantId, ...SECRET_CELL, rowId: id }, row.sealed, row.wrapped);
      const secret = plaintext.toString('utf8');
      plaintext.fill(0);
      await tx.query(sql`UPDATE connectors SET last_used_at = now() WHERE id = ${id}`);
      await recordAuditEvent(tx, {
        tenantId, actor, action: 'connector.secret_used', target: { type: 'connector', id }, outcome: 'success',
        metadata: { purpose, provider: row.provider },
      });
      return { connectorId: id, provider: row.provider, kind: row.kind, scopes: row.scopes, metadata: row.metadata, secret };
    });
  } catch (err) {
    if (!isCryptoError(err)) throw err;
    // The transaction rolled back; the refusal is a fact of its own.
    await recordAuditEventNow(platform, {
      tenantId, actor, action: 'connector.secret_used', target: { type: 'connector', id }, outcome: 'failure',
      reason: `the sealed secret could not be opened (${err.code})`, metadata: { purpose },
    });
    throw new ConnectorSecretError('ERR_CONNECTOR_SECRET_UNREADABLE', `connector secret cannot be opened (${err.code})`);
  }
}
