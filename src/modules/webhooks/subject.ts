import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import type { SubjectRef } from '../manifest.ts';

/**
 * Data-subject requests. What this module holds about a person: the endpoints
 * and receivers they created (by user id), and payloads that name them (by
 * address): messages published about them and inbound events such as a
 * bounce for their address. Erasure unlinks the creator and deletes the
 * payloads (a message's deliveries and attempt log go with it).
 */
const mentions = (column: ReturnType<typeof sql>, email: string) => sql`position(${email.toLowerCase()} in lower(${column})) > 0`;

export async function exportWebhookSubject(tx: Session, s: SubjectRef): Promise<Record<string, unknown>> {
  const endpoints = await tx.query(sql`SELECT id, url, event_types, created_at FROM webhook_endpoints WHERE tenant_id = ${s.tenantId} AND created_by = ${s.userId}`);
  const receivers = await tx.query(sql`SELECT id, name, event_types, created_at FROM webhook_receivers WHERE tenant_id = ${s.tenantId} AND created_by = ${s.userId}`);
  const messages = s.email ? await tx.query(sql`
    SELECT id, event_type, body, created_at FROM webhook_messages WHERE tenant_id = ${s.tenantId} AND ${mentions(sql`body`, s.email)} ORDER BY created_at LIMIT 1000`) : [];
  const inbound = s.email ? await tx.query(sql`
    SELECT id, receiver_id, event_type, payload, received_at FROM webhook_inbound_events WHERE tenant_id = ${s.tenantId} AND ${mentions(sql`payload::text`, s.email)} ORDER BY received_at LIMIT 1000`) : [];
  return { endpointsCreated: endpoints, receiversCreated: receivers, messages, inboundEvents: inbound };
}

export async function eraseWebhookSubject(tx: Session, s: SubjectRef): Promise<Record<string, number>> {
  const endpoints = await tx.query(sql`UPDATE webhook_endpoints SET created_by = NULL WHERE tenant_id = ${s.tenantId} AND created_by = ${s.userId} RETURNING id`);
  const receivers = await tx.query(sql`UPDATE webhook_receivers SET created_by = NULL WHERE tenant_id = ${s.tenantId} AND created_by = ${s.userId} RETURNING id`);
  const messages = s.email ? await tx.query(sql`DELETE FROM webhook_messages WHERE tenant_id = ${s.tenantId} AND ${mentions(sql`body`, s.email)} RETURNING id`) : [];
  const inbound = s.email ? await tx.query(sql`DELETE FROM webhook_inbound_events WHERE tenant_id = ${s.tenantId} AND ${mentions(sql`payload::text`, s.email)} RETURNING id`) : [];
  return { webhook_endpoints: endpoints.length, webhook_receivers: receivers.length, webhook_messages: messages.length, webhook_inbound_events: inbound.length };
}
