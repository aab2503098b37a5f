import { sql } from 'drizzle-orm';
import { notFound, ProblemError } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { readableEventTypes } from './event-catalogue.ts';
import { queueDeliveries, recordMessage } from './publish.ts';
import { DELIVERY_QUEUE } from './queues.ts';

interface MessageRow { id: string; event_type: string; body: string; created_at: Date; cursor_ts: string }
interface DeliveryRow {
  id: string; message_id: string; endpoint_id: string; event_type: string; status: 'pending' | 'succeeded' | 'dead';
  attempts: number; next_attempt_at: Date | null; last_status: number | null; created_at: Date; updated_at: Date; cursor_ts: string;
}
interface AttemptRow { attempt: number; started_at: Date; latency_ms: number; response_status: number | null; response_body: string; error: string | null }

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const messageView = (r: MessageRow) => ({
  id: r.id, webhookId: `msg_${r.id}`, eventType: r.event_type, payload: (JSON.parse(r.body) as { data?: unknown }).data ?? null, createdAt: iso(r.created_at)!,
});
const deliveryView = (r: DeliveryRow) => ({
  id: r.id, messageId: r.message_id, endpointId: r.endpoint_id, eventType: r.event_type, status: r.status, attempts: r.attempts,
  nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null, lastStatus: r.last_status, createdAt: iso(r.created_at)!, updatedAt: iso(r.updated_at)!,
});

/** Replaying "everything since" covers at most this many messages per call (page with a later `since`). */
const REPLAY_LIMIT = 1_000;

/**
 * Messages and their deliveries, as the tenant sees them. A member sees the
 * messages (and deliveries) of the event types whose permission they hold
 * only: webhooks:read does not widen what they may read.
 */
export function createMessagesService(platform: Platform) {
  return {
    async listMessages(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined; eventType?: string | undefined }) {
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const types = readableEventTypes(platform, principal);
      const rows = await platform.queryAsTenant<MessageRow>(contextOf(principal), sql`
        SELECT id, event_type, body, created_at, created_at::text AS cursor_ts FROM webhook_messages
        WHERE event_type = ANY (${sql.param(types)}::text[])
        ${q.eventType ? sql`AND event_type = ${q.eventType}` : sql``}
        ${after ? sql`AND (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(messageView), nextCursor };
    },

    async getMessage(principal: Principal, id: string) {
      const [row] = await platform.queryAsTenant<MessageRow>(contextOf(principal), sql`
        SELECT id, event_type, body, created_at, created_at::text AS cursor_ts FROM webhook_messages
        WHERE id = ${id} AND event_type = ANY (${sql.param(readableEventTypes(platform, principal))}::text[])`);
      if (!row) throw notFound('webhook message');
      return messageView(row);
    },

    async listDeliveries(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined; endpointId?: string | undefined; messageId?: string | undefined; status?: string | undefined }) {
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<DeliveryRow>(contextOf(principal), sql`
        SELECT d.id, d.message_id, d.endpoint_id, m.event_type, d.status, d.attempts, d.next_attempt_at, d.last_status, d.created_at, d.updated_at,
          d.created_at::text AS cursor_ts
        FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
        WHERE m.event_type = ANY (${sql.param(readableEventTypes(platform, principal))}::text[])
        ${q.endpointId ? sql`AND d.endpoint_id = ${q.endpointId}` : sql``}
        ${q.messageId ? sql`AND d.message_id = ${q.messageId}` : sql``}
        ${q.status ? sql`AND d.status = ${q.status}` : sql``}
        ${after ? sql`AND (d.created_at, d.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY d.created_at DESC, d.id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(deliveryView), nextCursor };
    },

    async getDelivery(principal: Principal, id: string) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [row] = await tx.query<DeliveryRow>(sql`
          SELECT d.id, d.message_id, d.endpoint_id, m.event_type, d.status, d.attempts, d.next_attempt_at, d.last_status, d.created_at, d.updated_at,
            d.created_at::text AS cursor_ts
          FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
          WHERE d.id = ${id} AND m.event_type = ANY (${sql.param(readableEventTypes(platform, principal))}::text[])`);
        if (!row) throw notFound('webhook delivery');
        const attempts = await tx.query<AttemptRow>(sql`
          SELECT attempt, started_at, latency_ms, response_status, response_body, error FROM webhook_attempts WHERE delivery_id = ${id} ORDER BY attempt`);
        return {
          ...deliveryView(row),
          attemptLog: attempts.map((a) => ({ attempt: a.attempt, startedAt: iso(a.started_at)!, latencyMs: a.latency_ms, responseStatus: a.response_status, responseBody: a.response_body, error: a.error })),
        };
      });
    },

    /** The test message: a `webhooks.test` event to one endpoint, whatever it subscribes to. */
    async sendTest(principal: Principal, endpointId: string) {
      await platform.jobs.assertRoom(DELIVERY_QUEUE.name);
      const published = await platform.withTenant(contextOf(principal), async (tx) => {
        const [endpoint] = await tx.query<{ status: string }>(sql`SELECT status FROM webhook_endpoints WHERE id = ${endpointId}`);
        if (!endpoint) throw notFound('webhook endpoint');
        if (endpoint.status !== 'enabled') throw new ProblemError('conflict', 409, 'The endpoint is disabled; enable it first.');
        const message = await recordMessage(tx, principal.tenantId, 'webhooks.test', { endpointId: endpointId.toLowerCase(), note: 'A test message sent on request.' }, endpointId);
        await queueDeliveries(platform, principal.tenantId, message.deliveryIds, tx);
        return message;
      });
      return { messageId: published.messageId, deliveryId: published.deliveryIds[0]! };
    },

    /**
     * Replays messages as new deliveries (fresh attempts, same webhook-id and
     * body: a receiver that already has one drops it): one message, or every
     * message since a time, to the endpoints it was delivered to (or only the
     * one given) that are enabled now.
     */
    async replay(principal: Principal, sel: { messageId?: string; since?: string; endpointId?: string | undefined }) {
      await platform.jobs.assertRoom(DELIVERY_QUEUE.name);
      const types = readableEventTypes(platform, principal);
      const ids = await platform.withTenant(contextOf(principal), async (tx) => {
        if (sel.endpointId) {
          const [endpoint] = await tx.query<{ status: string }>(sql`SELECT status FROM webhook_endpoints WHERE id = ${sel.endpointId}`);
          if (!endpoint) throw notFound('webhook endpoint');
          if (endpoint.status !== 'enabled') throw new ProblemError('conflict', 409, 'The endpoint is disabled; enable it first.');
        }
        if (sel.messageId) {
          const [m] = await tx.query(sql`SELECT 1 FROM webhook_messages WHERE id = ${sel.messageId} AND event_type = ANY (${sql.param(types)}::text[])`);
          if (!m) throw notFound('webhook message');
        }
        // Again to the endpoints each message went to (not to endpoints that subscribed later), still enabled.
        const rows = await tx.query<{ id: string }>(sql`
          INSERT INTO webhook_deliveries (tenant_id, message_id, endpoint_id, next_attempt_at)
          SELECT p.tenant_id, p.message_id, p.endpoint_id, now() FROM (
            SELECT DISTINCT d.tenant_id, d.message_id, d.endpoint_id, m.created_at
            FROM webhook_deliveries d
            JOIN webhook_messages m ON m.id = d.message_id
            JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.status = 'enabled'
            WHERE m.event_type = ANY (${sql.param(types)}::text[])
              ${sel.messageId ? sql`AND m.id = ${sel.messageId}` : sql`AND m.created_at >= ${sel.since!}::timestamptz`}
              ${sel.endpointId ? sql`AND d.endpoint_id = ${sel.endpointId}` : sql``}
            ORDER BY m.created_at LIMIT ${REPLAY_LIMIT}) p
          RETURNING id`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'webhook.messages.replayed',
          target: { type: sel.messageId ? 'webhook_message' : 'webhook_endpoint', id: sel.messageId ?? sel.endpointId ?? 'all' }, outcome: 'success',
          metadata: { deliveries: rows.length, ...(sel.since ? { since: sel.since } : {}), ...(sel.endpointId ? { endpointId: sel.endpointId } : {}) },
        });
        await queueDeliveries(platform, principal.tenantId, rows.map((r) => r.id), tx);
        return rows.map((r) => r.id);
      });
      return { deliveries: ids.length };
    },
  };
}
