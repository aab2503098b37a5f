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
  return (await recordMessages(tx, tenantId, type, [data], only))[0]!;
}

/** The body's fixed parts: `{"type":…,"timestamp":"YYYY-MM-DDTHH:MM:SS.mmmZ","data":…}`. */
const bodyBytes = (type: string, data: string) => Buffer.byteLength(`{"type":${JSON.stringify(type)},"timestamp":"0000-00-00T00:00:00.000Z","data":${data}}`);

/**
 * Many messages of one type in one statement (a linked ledger chain publishes a
 * message per transfer): the messages and their deliveries in one round trip,
 * the body's timestamp taken from the transaction's clock as the row's.
 */
export async function recordMessages(tx: Session, tenantId: string, type: string, items: readonly unknown[], only?: string): Promise<Published[]> {
  const ids = items.map(() => randomUUID());
  const datas = items.map((d) => JSON.stringify(d));
  for (const d of datas) {
    if (bodyBytes(type, d) > MAX_BODY_BYTES) throw new KernelError('payload-too-large', `a webhook message is at most ${MAX_BODY_BYTES} bytes`);
  }
  const rows = await tx.query<{ id: string; message_id: string }>(sql`
    WITH m AS (
      INSERT INTO webhook_messages (tenant_id, id, event_type, body)
      SELECT ${tenantId}, x.id, ${type},
        format('{"type":%s,"timestamp":%s,"data":%s}', to_json(${type}::text),
          to_json(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')), x.data)
      FROM unnest(${sql.param(ids)}::uuid[], ${sql.param(datas)}::text[]) AS x(id, data)
      RETURNING id)
    INSERT INTO webhook_deliveries (tenant_id, message_id, endpoint_id, next_attempt_at)
    SELECT e.tenant_id, m.id, e.id, now() FROM m CROSS JOIN webhook_endpoints e
    WHERE e.status = 'enabled' AND ${only === undefined ? sql`${type} = ANY (e.event_types)` : sql`e.id = ${only}`}
    RETURNING id, message_id`);
  const byMessage = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const r of rows) byMessage.get(r.message_id)?.push(r.id);
  return ids.map((messageId) => ({ messageId, deliveryIds: byMessage.get(messageId)! }));
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
    /** `publishIn` for many events of one type, in one statement. */
    async publishManyIn(tx: Session, tenantId: string, type: string, items: readonly unknown[]): Promise<Published[]> {
      assertKnown(type);
      if (items.length === 0) return [];
      const published = await recordMessages(tx, tenantId, type, items);
      await queueDeliveries(platform, tenantId, published.flatMap((p) => p.deliveryIds), tx);
      return published;
    },
  };
}

export type WebhookPublisher = ReturnType<typeof createWebhookPublisher>;
