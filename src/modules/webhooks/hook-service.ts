import { sql } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { ProblemError } from '../../http/problem.ts';
import { recordAuditEvent } from '../../kernel/audit/events.ts';
import { isUuid } from '../../kernel/ids.ts';
import type { JobInfo } from '../../kernel/jobs/port.ts';
import type { Session } from '../../db/client.ts';
import type { Platform } from '../../kernel/platform.ts';
import { inboundWebhooks } from './inbound-events.ts';
import { addressAllowed, InboundRefused, typeAccepted, verifyInbound, type Scheme } from './inbound-verify.ts';
import { INBOUND_QUEUE, type InboundJob } from './queues.ts';
import { openSecrets, sealedSecretColumns, type SealedSecrets } from './secrets.ts';

/** One answer for every failed check: a prober learns nothing about which one (or whether the receiver exists). */
export const refused = () => new ProblemError('unauthenticated', 401, 'The webhook could not be verified.');

interface ReceiverRow extends SealedSecrets {
  scheme: Scheme;
  allowed_cidrs: string[];
  max_body_bytes: number;
  event_types: string[];
  enabled: boolean;
}

/** Receiver id → tenant id: a receiver never changes tenant, so a sender's repeat calls skip the lookup transaction. */
const OWNERS_CACHED = 10_000;

/** Refusals audited per receiver: at most one event a minute (with the count), so a flood cannot flood the log. */
const AUDIT_EVERY_SECONDS = 60;

/**
 * POST /hooks/{id}: verification, then hand-off. The receiver's tenant is
 * looked up by id (the identity role may read only id → tenant); everything
 * after runs in that tenant's transaction. A refused call changes nothing but
 * the receiver's refusal counter (and, rate-limited, an audit event).
 */
export function createHookService(platform: Platform) {
  // Only receivers that exist are remembered (a prober's random ids fill nothing); a deleted one is
  // still refused by the tenant transaction's own read, and forgotten there.
  const owners = new LRUCache<string, string>({ max: OWNERS_CACHED });
  async function ownerOf(receiverId: string): Promise<string | undefined> {
    const cached = owners.get(receiverId);
    if (cached) return cached;
    const [owner] = await platform.withIdentity((tx) => tx.query<{ tenant_id: string }>(sql`SELECT tenant_id FROM webhook_receivers WHERE id = ${receiverId}`));
    if (owner) owners.set(receiverId, owner.tenant_id);
    return owner?.tenant_id;
  }

  async function countRefusal(tenantId: string, receiverId: string, check: InboundRefused['check'], ip: string) {
    try {
      await platform.withTenant({ tenantId }, async (tx) => {
        const [row] = await tx.query<{ refused_count: string; audit: boolean }>(sql`
          UPDATE webhook_receivers SET refused_count = refused_count + 1, last_refused_at = now(),
            last_refusal_audited_at = CASE WHEN last_refusal_audited_at IS NULL OR last_refusal_audited_at < now() - make_interval(secs => ${AUDIT_EVERY_SECONDS}::double precision)
              THEN now() ELSE last_refusal_audited_at END
          WHERE id = ${receiverId}
          RETURNING refused_count, last_refusal_audited_at = now() AS audit`);
        if (row?.audit) {
          await recordAuditEvent(tx, {
            tenantId, actor: { type: 'system', id: 'webhooks.inbound' }, action: 'webhook.inbound.refused',
            target: { type: 'webhook_receiver', id: receiverId }, outcome: 'failure', reason: `verification failed (${check})`,
            metadata: { check, refusedCount: Number(row.refused_count), ip },
          });
        }
      });
    } catch (err) {
      platform.log.warn({ err: { message: (err as Error).message }, receiverId }, 'counting a refused webhook failed');
    }
  }

  return {
    async accept(receiverIdInput: string, headers: Record<string, string | string[] | undefined>, body: Buffer, ip: string): Promise<{ id: string }> {
      if (!isUuid(receiverIdInput)) throw refused();
      const receiverId = receiverIdInput.toLowerCase();
      const tenantId = await ownerOf(receiverId);
      if (!tenantId) throw refused();
      let check: InboundRefused['check'] | undefined;
      try {
        const result = await platform.withTenant({ tenantId }, async (tx) => {
          const [r] = await tx.query<ReceiverRow>(sql`
            SELECT scheme, ${sealedSecretColumns()}, allowed_cidrs, max_body_bytes, event_types, enabled
            FROM webhook_receivers WHERE id = ${receiverId}`);
          if (!r) owners.delete(receiverId);
          if (!r || !r.enabled) throw new InboundRefused('receiver');
          if (!addressAllowed(ip, r.allowed_cidrs)) throw new InboundRefused('address');
          if (body.length > r.max_body_bytes) throw new ProblemError('payload-too-large', 413, `This receiver accepts bodies up to ${r.max_body_bytes} bytes.`);
          const secrets = await openSecrets(platform, tx, tenantId, 'webhook_receivers', receiverId, r);
          const webhookId = verifyInbound(r.scheme, headers, body, secrets);
          // Verified: the sender is who it claims to be. What follows are answers it may learn from.
          let payload: unknown;
          try {
            payload = JSON.parse(body.toString('utf8'));
          } catch {
            throw new ProblemError('validation-failed', 400, 'The body is not JSON.');
          }
          const type = (payload as { type?: unknown } | null)?.type;
          if (typeof type !== 'string' || type.length < 1 || type.length > 100) throw new ProblemError('validation-failed', 400, 'The body has no "type" (a string of 1 to 100 characters).');
          if (!typeAccepted(type, r.event_types)) throw new ProblemError('validation-failed', 400, `This receiver does not accept events of type ${type}.`);
          const [row] = await tx.query<{ id: string }>(sql`
            INSERT INTO webhook_inbound_events (tenant_id, receiver_id, webhook_id, event_type, payload)
            VALUES (${tenantId}, ${receiverId}, ${webhookId}, ${type}, ${JSON.stringify(payload)}::jsonb)
            ON CONFLICT (tenant_id, receiver_id, webhook_id) DO NOTHING RETURNING id`);
          // The id was seen before (within the store's lifetime): a replay, refused like a forgery.
          if (!row) throw new InboundRefused('replay');
          return { id: row.id };
        });
        // After the commit. A lost send is caught by the sweep (status 'received'); the key makes a second send a no-op.
        await platform.jobs.send(INBOUND_QUEUE.name, { eventId: result.id }, { tenantId, idempotencyKey: result.id }).catch((err: unknown) =>
          platform.log.warn({ err: { message: (err as Error).message }, receiverId }, 'queueing an inbound webhook failed; the sweep will'));
        return result;
      } catch (err) {
        if (!(err instanceof InboundRefused)) throw err;
        check = err.check;
      }
      await countRefusal(tenantId, receiverId, check, ip);
      throw refused();
    },
  };
}

/** The job that hands a verified event to the subscribers of its type, in the receiver's tenant transaction. */
export function createInboundHandler(platform: Platform) {
  return async function dispatch(job: JobInfo<InboundJob>, tx: Session): Promise<void> {
    const [event] = await tx.query<{ id: string; receiver_id: string; webhook_id: string; event_type: string; payload: unknown; received_at: Date; status: string }>(sql`
      SELECT id, receiver_id, webhook_id, event_type, payload, received_at, status FROM webhook_inbound_events WHERE id = ${job.data.eventId} FOR UPDATE`);
    if (!event || event.status === 'dispatched') return;
    const handed = {
      id: event.id, tenantId: job.tenantId!, receiverId: event.receiver_id, webhookId: event.webhook_id,
      type: event.event_type, payload: event.payload, receivedAt: new Date(event.received_at).toISOString(),
    };
    for (const handler of inboundWebhooks(platform).handlersFor(event.event_type)) await handler(handed, tx);
    await tx.query(sql`UPDATE webhook_inbound_events SET status = 'dispatched', dispatched_at = now() WHERE id = ${event.id}`);
  };
}
