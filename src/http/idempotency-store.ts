import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../db/client.ts';
import { openForTenant, sealForTenant, type TenantCell } from '../kernel/crypto/tenant-keys.ts';
import type { Platform } from '../kernel/platform.ts';

/**
 * The table behind idempotency.ts (migration 0096): one row per key of one
 * principal of one tenant, claimed before the handler runs and completed with
 * the response it gave. The response body is sealed under the tenant's data key.
 */

export const IDEMPOTENCY_TABLE = 'idempotency_keys';
export const IDEMPOTENCY_CELL = { table: IDEMPOTENCY_TABLE, column: 'response_sealed' } as const;
/** How long a key and its first response are kept (and replayed). */
export const KEY_TTL_SECONDS = 24 * 60 * 60;

export interface KeyScope {
  tenantId: string;
  userId?: string | undefined;
  /** `user:<uuid>` or `api_key:<uuid>`. */
  principal: string;
  key: string;
}

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type Claim =
  | { state: 'claimed'; id: string }
  | { state: 'in-flight' }
  | { state: 'mismatch' }
  | { state: 'completed'; response: StoredResponse };

const cellOf = (tenantId: string, rowId: string): TenantCell => ({ tenantId, ...IDEMPOTENCY_CELL, rowId });

interface Row {
  id: string;
  fingerprint: string;
  status: number | null;
  response_headers: Record<string, string> | null;
  response_sealed: string | null;
}

/**
 * Claims the key for this request, or says what it is already used for. An
 * expired key (older than 24 h, not yet pruned) and an abandoned one (in
 * flight for longer than `abandonAfterMs`: its process died mid-request) are
 * taken over. Concurrent claims serialise on the primary key: one inserts,
 * the others see its row.
 */
export async function claimKey(platform: Pick<Platform, 'withTenant' | 'keyring'>, scope: KeyScope, route: string, fingerprint: string, abandonAfterMs: number): Promise<Claim> {
  return platform.withTenant({ tenantId: scope.tenantId, userId: scope.userId }, async (tx) => {
    const id = randomUUID();
    const claimed = await tx.query<{ id: string }>(sql`
      INSERT INTO idempotency_keys (tenant_id, principal, idempotency_key, id, route, fingerprint)
      VALUES (${scope.tenantId}, ${scope.principal}, ${scope.key}, ${id}, ${route}, ${fingerprint})
      ON CONFLICT (tenant_id, principal, idempotency_key) DO UPDATE
        SET id = EXCLUDED.id, route = EXCLUDED.route, fingerprint = EXCLUDED.fingerprint, created_at = now(),
            status = NULL, response_headers = NULL, response_sealed = NULL, completed_at = NULL
        WHERE idempotency_keys.created_at < now() - make_interval(secs => ${KEY_TTL_SECONDS})
           OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at < now() - make_interval(secs => ${abandonAfterMs / 1000}))
      RETURNING id`);
    if (claimed[0]) return { state: 'claimed', id: claimed[0].id };
    const [row] = await tx.query<Row>(sql`
      SELECT id, fingerprint, status, response_headers, response_sealed FROM idempotency_keys
      WHERE tenant_id = ${scope.tenantId} AND principal = ${scope.principal} AND idempotency_key = ${scope.key}`);
    if (!row) return { state: 'in-flight' }; // released between the two statements: the client may retry
    if (row.fingerprint !== fingerprint) return { state: 'mismatch' };
    if (row.status === null || row.response_sealed === null) return { state: 'in-flight' };
    const body = (await openForTenant(tx, platform.keyring, cellOf(scope.tenantId, row.id), row.response_sealed)).toString('utf8');
    return { state: 'completed', response: { status: row.status, headers: row.response_headers ?? {}, body } };
  });
}

/** Records the response of the request that claimed the key. */
export async function completeKey(platform: Pick<Platform, 'withTenant' | 'keyring'>, scope: KeyScope, id: string, response: StoredResponse): Promise<void> {
  await platform.withTenant({ tenantId: scope.tenantId, userId: scope.userId }, async (tx) => {
    const sealed = await sealForTenant(tx, platform.keyring, cellOf(scope.tenantId, id), response.body);
    await tx.query(sql`
      UPDATE idempotency_keys SET status = ${response.status}, response_headers = ${JSON.stringify(response.headers)}::jsonb,
        response_sealed = ${sealed}, completed_at = now()
      WHERE tenant_id = ${scope.tenantId} AND principal = ${scope.principal} AND idempotency_key = ${scope.key} AND id = ${id}`);
  });
}

/** Gives the key back (the request did not succeed): the client may retry with it. */
export async function releaseKey(platform: Pick<Platform, 'queryAsTenant'>, scope: KeyScope, id: string): Promise<void> {
  await platform.queryAsTenant({ tenantId: scope.tenantId, userId: scope.userId }, sql`
    DELETE FROM idempotency_keys
    WHERE tenant_id = ${scope.tenantId} AND principal = ${scope.principal} AND idempotency_key = ${scope.key} AND id = ${id} AND status IS NULL`);
}

/** The schedule's pass: keys older than 24 hours, across tenants (the maintenance policy admits nothing younger). */
export async function pruneExpiredKeys(platform: Pick<Platform, 'withMaintenance'>): Promise<number> {
  const rows = await platform.withMaintenance((tx) => tx.query(sql`
    DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => ${KEY_TTL_SECONDS}) RETURNING 1`));
  return rows.length;
}

/** Tenant deletion. */
export async function eraseTenantKeys(tx: Session, tenantId: string): Promise<number> {
  return (await tx.query(sql`DELETE FROM idempotency_keys WHERE tenant_id = ${tenantId} RETURNING 1`)).length;
}

/** Data-subject erasure: the keys (and kept responses) of one user. */
export async function eraseSubjectKeys(tx: Session, tenantId: string, userId: string): Promise<number> {
  return (await tx.query(sql`DELETE FROM idempotency_keys WHERE tenant_id = ${tenantId} AND principal = ${`user:${userId.toLowerCase()}`} RETURNING 1`)).length;
}
