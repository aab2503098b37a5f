import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { KernelError } from '../../kernel/errors.ts';
import type { Platform } from '../../kernel/platform.ts';
import { DELIVERY_QUEUE } from './queues.ts';
import { parseRetrySchedule } from './retry-schedule.ts';

/** A message body is at most 256 KiB (the column's bound): a webhook is a notification, not a data export. */
const MAX_BODY_BYTES = 262_144;

export interface Published {
  messageId: string;
  deliveryIds: string[];
}

/**
 * Writes a message of the tenant and one pending delivery per enabled endpoint
 * subscribed to its type, in `tx` (the caller's transaction: an event and its
 * webhook commit together or not at all). RLS scopes both the insert and the
 * endpoint lookup to the transaction's tenant, so a message can only ever
 * reach the tenant's own endpoints. `only` restricts it to one endpoint (the
 * test message).
 */
export async function recordMessage(tx: Session, tenantId: string, type: string, data: unknown, only?: string): Promise<Published> {
  const messageId = randomUUID();
  const [now] = await tx.query<{ at: Date }>(sql`SELECT now() AS at`);
  const body = JSON.stringify({ type, timestamp: new Date(now!.at).toISOString(), data });
  if (Buffer.byteLength(body) > MAX_BODY_BYTES) throw new KernelError('payload-too-large', `a webhook message is at most ${MAX_BODY_BYTES} bytes`);
  await tx.query(sql`INSERT INTO webhook_messages (tenant_id, id, event_type, body) VALUES (${tenantId}, ${messageId}, ${type}, ${body})`);
  const rows = await tx.query<{ id: string }>(sql`
    INSERT INTO webhook_deliveries (tenant_id, message_id, endpoint_id, next_attempt_at)
    SELECT tenant_id, ${messageId}, id, now() FROM webhook_endpoints
    WHERE status = 'enabled' AND ${only === undefined ? sql`${type} = ANY (event_types)` : sql`id = ${only}`}
    RETURNING id`);
  return { messageId, deliveryIds: rows.map((r) => r.id) };
}

/**
 * Queues the first (or a replayed) attempt of each delivery. With `tx`, as outbox rows of the
 * transaction that recorded the deliveries (they commit together); the sweep catches any lost.
 */
export async function queueDeliveries(platform: Platform, tenantId: string, deliveryIds: readonly string[], tx?: Session): Promise<void> {
  const first = parseRetrySchedule(platform.config.webhookRetrySchedule)[0] ?? 0;
  for (const deliveryId of deliveryIds) {
    await platform.jobs.send(DELIVERY_QUEUE.name, { deliveryId, attempt: 1 }, { tenantId, idempotencyKey: `${deliveryId}:1`, ...(first > 0 ? { delaySeconds: first } : {}), ...(tx ? { tx } : {}) });
  }
}

/**
 * The service other modules call to publish an event to the tenant's
 * subscribed endpoints. The event type must be one a manifest declares
 * (`webhookEvents`); `data` must be the tenant's own data for that type, and
 * nothing a holder of the type's permission could not read.
 */
export function createWebhookPublisher(platform: Platform) {
  const known = new Set(platform.webhookEvents.map((e) => e.type));
  const assertKnown = (type: string) => {
    if (!known.has(type)) throw new KernelError('validation-failed', `webhook event type ${type} is not declared by any module`);
  };
  return {
    /** In its own transaction, with the delivery jobs as outbox rows of it. */
    async publish(tenantId: string, type: string, data: unknown): Promise<Published> {
      assertKnown(type);
      await platform.jobs.assertRoom(DELIVERY_QUEUE.name);
      return platform.withTenant({ tenantId }, async (tx) => {
        const published = await recordMessage(tx, tenantId, type, data);
        await queueDeliveries(platform, tenantId, published.deliveryIds, tx);
        return published;
      });
    },
    /**
     * Inside the caller's tenant transaction: the message, its deliveries and their jobs
     * (outbox rows) commit with it, or nothing is sent.
     */
    async publishIn(tx: Session, tenantId: string, type: string, data: unknown): Promise<Published> {
      assertKnown(type);
      const published = await recordMessage(tx, tenantId, type, data);
      await queueDeliveries(platform, tenantId, published.deliveryIds, tx);
      return published;
    },
  };
}

export type WebhookPublisher = ReturnType<typeof createWebhookPublisher>;
