import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import { recordAuditEvent, type AuditEventInput } from '../../kernel/audit/events.ts';
import { holdTenantKeysExclusive } from '../../kernel/crypto/tenant-keys.ts';
import { revokeUserSessions } from '../identity/sessions.ts';
import type { Platform } from '../../kernel/platform.ts';

export interface TenantDeletionReceipt {
  tenantId: string;
  deletedAt: string;
  /** Data-key versions destroyed: every value sealed for the tenant is now unreadable, backups included once the master key is rotated. */
  shreddedKeyVersions: number;
  erasedConnectors: number;
  revokedSessions: number;
  /** Rows erased, by table, by the modules' eraseTenant hooks. */
  erasedRows: Record<string, number>;
  alreadyDeleted: boolean;
}

/**
 * Deletes a tenant by crypto-shredding (docs/security/encryption-key-rotation.md):
 *
 * 1. One maintenance transaction destroys every version of the tenant's data
 *    key, turns the tenant into a tombstone (status suspended, deleted_at set,
 *    name dropped) and records `tenant.deleted` in the platform log. The tenant
 *    row stays because its audit log is append-only and references it.
 * 2. In the tenant's own runtime transaction, every member's sessions are
 *    revoked (through the identity module) so no token keeps working.
 * 3. One maintenance transaction scoped to the (now deleted) tenant runs every
 *    module's `eraseTenant` hook, in composition order: their tables lose every
 *    row of the tenant. The erasure policies admit only a deleted tenant's rows.
 *    The audit trail and transparency log stay by design.
 *
 * Running it again on a deleted tenant repeats steps 2 and 3 (both idempotent),
 * so a deletion interrupted after step 1 is finished by running it again.
 */
export async function deleteTenant(
  platform: Pick<Platform, 'withMaintenance' | 'withTenant' | 'moduleHooks'>,
  tenantId: string,
  actor: AuditEventInput['actor'],
  opts: { confirmName?: string; onSessionsRevoked?: (sessionIds: string[]) => void } = {},
): Promise<TenantDeletionReceipt> {
  const id = tenantId.toLowerCase();
  const shred = await platform.withMaintenance(async (tx) => {
    // The key lock before the tenant row: a sealing request holds the key lock (shared) and then
    // needs the row (its foreign key check); taking them in the other order could deadlock with it.
    await holdTenantKeysExclusive(tx, id);
    const [tenant] = await tx.query<{ name: string; deleted_at: Date | null }>(sql`
      SELECT name, deleted_at FROM tenants WHERE id = ${id} FOR UPDATE`);
    if (!tenant) throw notFound('tenant');
    if (tenant.deleted_at) return { deletedAt: new Date(tenant.deleted_at), keys: 0, already: true };
    if (opts.confirmName !== undefined && opts.confirmName !== tenant.name) {
      throw new ProblemError('validation-failed', 400, 'confirmName does not match the name of the tenant; nothing was deleted.');
    }
    return shredTenant(tx, id, actor);
  });
  const revoked = await platform.withTenant({ tenantId: id }, async (tx) => {
    const members = await tx.query<{ user_id: string }>(sql`SELECT user_id FROM memberships`);
    const ids: string[] = [];
    for (const m of members) ids.push(...(await revokeUserSessions(tx, m.user_id, 'tenant-deleted')));
    return ids;
  });
  opts.onSessionsRevoked?.(revoked);
  const erasedRows = await platform.withMaintenance(async (tx) => {
    const counts: Record<string, number> = {};
    for (const hooks of platform.moduleHooks) Object.assign(counts, await hooks.eraseTenant?.(tx, id));
    // Evidence of what went, in the platform log (once: a re-run that erases nothing records nothing).
    if (Object.values(counts).some((n) => n > 0)) {
      await recordAuditEvent(tx, { tenantId: null, actor, action: 'tenant.erased', target: { type: 'tenant', id }, outcome: 'success', metadata: { rows: counts } });
    }
    return counts;
  }, { tenantId: id });
  return {
    tenantId: id,
    deletedAt: shred.deletedAt.toISOString(),
    shreddedKeyVersions: shred.keys,
    erasedConnectors: erasedRows.connectors ?? 0,
    revokedSessions: revoked.length,
    erasedRows,
    alreadyDeleted: shred.already,
  };
}

/** Step 1: in the caller's maintenance transaction, with the tenant row locked. */
async function shredTenant(tx: Session, id: string, actor: AuditEventInput['actor']) {
  // The caller holds the tenant-key lock exclusively (sealing transactions hold it shared until they
  // commit): every key and connector they wrote is seen by the statements below, none is written after.
  // Versions already destroyed by a rotation hold no key; the count is of keys destroyed now.
  const keys = (await tx.query<{ live: boolean }>(sql`
    DELETE FROM tenant_data_keys WHERE tenant_id = ${id} RETURNING wrapped_key IS NOT NULL AS live`)).filter((k) => k.live);
  const [row] = await tx.query<{ deleted_at: Date }>(sql`
    UPDATE tenants SET status = 'suspended', deleted_at = now(), name = 'deleted tenant' WHERE id = ${id} RETURNING deleted_at`);
  await recordAuditEvent(tx, {
    tenantId: null,
    actor,
    action: 'tenant.deleted',
    target: { type: 'tenant', id },
    outcome: 'success',
    metadata: { shreddedKeyVersions: keys.length },
  });
  return { deletedAt: new Date(row!.deleted_at), keys: keys.length, already: false };
}

/** What tenant deletion keeps, for the operator's message. */
export const KEPT_ON_DELETION = 'the audit trail, access logs and transparency log are kept by design (they stay verifiable and hold no secret); accounts of people who belong to other tenants stay';
