import { sql } from 'drizzle-orm';
import type { Platform } from '../../kernel/platform.ts';
import { createTransfersService } from './transfers.ts';

/** Due pending transfers handled per run; the next run (a minute later) takes the rest. */
const BATCH = 500;

/**
 * The expiry schedule: every pending transfer past its timeout and not yet
 * posted or voided gets an `expire_pending` transfer that releases its amount
 * (nothing is updated: the expiry is itself an appended, logged transfer).
 * Finding them reads across tenants (maintenance role, read only); each
 * expiry is written as its tenant (runtime role). Idempotent: a pending
 * transfer is resolved once (unique index), so a rerun or a concurrent worker
 * finds it resolved and skips it.
 */
export async function expireDuePending(platform: Platform, limit = BATCH): Promise<{ expired: number; failed: number }> {
  const transfers = createTransfersService(platform);
  const due = await platform.withMaintenance((tx) => tx.query<{ tenant_id: string; id: string; amount: string }>(sql`
    SELECT p.tenant_id, p.id, p.amount::text AS amount FROM ledger_transfers p
    JOIN tenants t ON t.id = p.tenant_id AND t.deleted_at IS NULL
    WHERE p.kind = 'pending' AND p.expires_at IS NOT NULL AND p.expires_at <= now()
      AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.tenant_id = p.tenant_id AND r.pending_id = p.id)
    ORDER BY p.expires_at LIMIT ${limit}`));
  let expired = 0;
  let failed = 0;
  for (const p of due) {
    try {
      await transfers.expire(p.tenant_id, p);
      expired++;
    } catch (err) {
      // Posted or voided meanwhile (409), or a tenant deleted since: the next run sees the truth.
      failed++;
      platform.log.warn({ tenantId: p.tenant_id, pendingId: p.id, err: (err as Error).message }, 'pending ledger transfer not expired');
    }
  }
  return { expired, failed };
}
