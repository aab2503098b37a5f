import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { ProblemError, notFound } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent, type AuditEventInput } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createWebhookPublisher } from '../webhooks/publish.ts';
import { addressHash, normaliseAddress, tenantKey } from './keys.ts';

export type SuppressionReason = 'unsubscribed' | 'bounced' | 'complained' | 'manual' | 'erased';
export type SuppressionSource = 'unsubscribe_link' | 'one_click' | 'webhook' | 'api' | 'erasure';

interface SuppressionRow {
  id: string;
  address: string | null;
  address_hash: string;
  reason: SuppressionReason;
  source: SuppressionSource;
  note: string | null;
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}

const columns = sql`id, address, address_hash, reason, source, note, created_at, updated_at, created_at::text AS cursor_ts`;

const view = (r: SuppressionRow) => ({
  id: r.id,
  email: r.address,
  addressHash: r.address_hash,
  reason: r.reason,
  source: r.source,
  note: r.note,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

/**
 * Adds (or strengthens) the entry for one address hash inside the caller's
 * transaction. A manual entry takes the new reason (manual → manual is a no-op); an
 * unsubscribe, bounce, complaint or erasure keeps its reason (the trigger of migration 0055
 * refuses weakening one). Contacts of that address become unsubscribed in the
 * same transaction. Returns whether anything changed.
 */
export async function suppressHash(
  tx: Session,
  entry: { tenantId: string; hash: string; address: string | null; reason: SuppressionReason; source: SuppressionSource; note?: string | null; userId?: string | null },
): Promise<{ id: string; created: boolean; reason: SuppressionReason }> {
  const [row] = await tx.query<{ id: string; created: boolean; reason: SuppressionReason }>(sql`
    INSERT INTO outreach_suppressions (tenant_id, address_hash, address, reason, source, note, created_by)
    VALUES (${entry.tenantId}, ${entry.hash}, ${entry.address}, ${entry.reason}, ${entry.source}, ${entry.note ?? null}, ${entry.userId ?? null})
    ON CONFLICT (tenant_id, address_hash) DO UPDATE SET
      reason = CASE WHEN outreach_suppressions.reason = 'manual' THEN EXCLUDED.reason ELSE outreach_suppressions.reason END,
      source = CASE WHEN outreach_suppressions.reason = 'manual' THEN EXCLUDED.source ELSE outreach_suppressions.source END,
      updated_at = now()
    RETURNING id, (xmax = 0) AS created, reason`);
  if (entry.reason !== 'erased') {
    await tx.query(sql`
      UPDATE outreach_contacts SET status = 'unsubscribed', unsubscribed_at = coalesce(unsubscribed_at, now()), updated_at = now()
      WHERE address_hash = ${entry.hash} AND status <> 'unsubscribed'`);
  }
  return row!;
}

/** Whether the address hash is on the list, inside the caller's transaction (sends check it in the claiming one). */
export async function isSuppressed(tx: Session, hash: string): Promise<SuppressionReason | null> {
  const [row] = await tx.query<{ reason: SuppressionReason }>(sql`SELECT reason FROM outreach_suppressions WHERE address_hash = ${hash}`);
  return row?.reason ?? null;
}

const suppressedEvent = (tenantId: string, actor: AuditEventInput['actor'], id: string, reason: string, source: string): AuditEventInput => ({
  tenantId, actor, action: 'outreach.suppressed', target: { type: 'outreach_suppression', id }, outcome: 'success', metadata: { reason, source },
});

type MachineReason = 'bounced' | 'complained' | 'unsubscribed' | 'manual';

export function createSuppressionsService(platform: Platform) {
  const webhooks = createWebhookPublisher(platform);
  return {
    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<SuppressionRow>(contextOf(principal), sql`
        SELECT ${columns} FROM outreach_suppressions
        ${after ? sql`WHERE (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(view), nextCursor };
    },

    async create(principal: Principal, input: { email: string; reason: Exclude<SuppressionReason, 'erased'>; note?: string | undefined }) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const key = await tenantKey(tx, platform.keyring, principal.tenantId);
        const hash = addressHash(key, input.email);
        const done = await suppressHash(tx, {
          tenantId: principal.tenantId, hash, address: normaliseAddress(input.email), reason: input.reason, source: 'api', note: input.note ?? null, userId: principal.userId,
        });
        await recordAuditEvent(tx, suppressedEvent(principal.tenantId, auditActorOf(principal), done.id, done.reason, 'api'));
        const [row] = await tx.query<SuppressionRow>(sql`SELECT ${columns} FROM outreach_suppressions WHERE id = ${done.id}`);
        return { created: done.created, suppression: view(row!) };
      });
    },

    /** Lifts a manual entry; anything else is the person's word and stays (409). */
    async remove(principal: Principal, id: string) {
      await platform.withTenant(contextOf(principal), async (tx) => {
        const [row] = await tx.query<{ reason: string }>(sql`SELECT reason FROM outreach_suppressions WHERE id = ${id} FOR UPDATE`);
        if (!row) throw notFound('suppression');
        if (row.reason !== 'manual') {
          throw new ProblemError('conflict', 409, `A suppression of reason "${row.reason}" cannot be lifted: only manual entries can.`, { extensions: { reason: row.reason } });
        }
        await tx.query(sql`DELETE FROM outreach_suppressions WHERE id = ${id}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'outreach.suppression_lifted',
          target: { type: 'outreach_suppression', id }, outcome: 'success',
        });
      });
    },

    /**
     * For the inbound receivers of the webhooks module (bounces, complaints) and
     * any other machine path: suppresses `address` in `tenantId`, audited as a
     * system action. Idempotent: a repeated bounce changes nothing more.
     */
    suppress(tenantId: string, address: string, reason: MachineReason, source: SuppressionSource = 'webhook') {
      return platform.withTenant({ tenantId }, (tx) => suppressWithin(tx, tenantId, address, reason, source));
    },

    /**
     * The same inside a transaction of that tenant the caller already holds:
     * what a subscriber of the webhooks module's inbound bus (whose handlers get
     * the receiver tenant's transaction) calls, e.g.
     * `inboundWebhooks(platform).subscribe('mail.bounced', (e, tx) => svc.suppressWithin(tx, e.tenantId, email, 'bounced'))`.
     */
    suppressWithin,
  };

  async function suppressWithin(tx: Session, tenantId: string, address: string, reason: MachineReason, source: SuppressionSource = 'webhook') {
    const key = await tenantKey(tx, platform.keyring, tenantId);
    const done = await suppressHash(tx, { tenantId, hash: addressHash(key, address), address: normaliseAddress(address), reason, source });
    await recordAuditEvent(tx, suppressedEvent(tenantId, { type: 'system', id: `outreach:${source}` }, done.id, done.reason, source));
    // A reported bounce or complaint is an event for subscribed endpoints, recorded in this transaction (outbox);
    // the caller's transaction is the inbound bus's, so the webhooks sweep queues it (within a minute).
    if (done.created && (reason === 'bounced' || reason === 'complained')) {
      await webhooks.publishIn(tx, tenantId, 'outreach.address.bounced', { suppressionId: done.id, address: normaliseAddress(address), reason, source });
    }
    return { id: done.id, created: done.created, reason: done.reason };
  }
}
