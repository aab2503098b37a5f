import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { recordAuditEvent, type AuditEventInput } from '../../kernel/audit/events.ts';
import { PoisonError } from '../../kernel/jobs/errors.ts';
import type { JobInfo, QueueDefinition } from '../../kernel/jobs/port.ts';
import type { Platform } from '../../kernel/platform.ts';
import { isUuid } from '../../kernel/ids.ts';
import { addressHash, signToken, tenantKey } from './keys.ts';
import { buildMessage } from './message.ts';
import { suppressHash } from './suppressions.ts';
import { openTransport, SmtpRefusal, type OutreachTransport } from './transport.ts';

/** Sends of one claim: small, so a lost worker strands few and the tenant's budget is shared fairly. */
const BATCH = 20;
/** Transient failures of one send before it is given up as failed. */
const MAX_ATTEMPTS = 5;

/** The delivery queue: one job per campaign run; it claims, sends and queues its own successor. */
export const DELIVERY_QUEUE: QueueDefinition = {
  name: 'outreach.deliver',
  scope: 'tenant',
  retryLimit: 10,
  retryDelaySeconds: 5,
  // Replaced by the configured lease (definitionFor): an attempt never outlives its claims.
  expireInSeconds: 120,
  maxDepth: 50_000,
  concurrency: 4,
  // One delivery run per tenant at a time: the tenant's rate limit is one budget.
  tenantConcurrency: 1,
  // It waits on SMTP: no transaction may stay open meanwhile (each statement is its own, see below).
  transactional: false,
};

export const definitionFor = (leaseSeconds: number): QueueDefinition => ({ ...DELIVERY_QUEUE, expireInSeconds: leaseSeconds });

interface DeliveryJob {
  campaignId: string;
}

function parseDeliveryJob(data: unknown): DeliveryJob {
  const campaignId = (data as { campaignId?: unknown } | null)?.campaignId;
  if (!isUuid(campaignId)) throw new PoisonError('delivery job without a campaign id');
  return { campaignId: campaignId.toLowerCase() };
}

/** Queues a delivery run; the key makes a retried enqueue (or a duplicate run's successor) one job. */
export async function enqueueDelivery(platform: Platform, tenantId: string, campaignId: string, key: string, delaySeconds?: number): Promise<void> {
  await platform.jobs.send(DELIVERY_QUEUE.name, { campaignId }, { tenantId, idempotencyKey: `${campaignId}:${key}`, ...(delaySeconds ? { delaySeconds } : {}) });
}

interface Claimed {
  id: string;
  contactId: string;
  email: string;
  messageId: string;
  attempts: number;
}

interface CampaignInfo {
  subject: string;
  body_text: string;
  version: number;
  status: string;
  send_requested_by: string | null;
  approval_id: string | null;
}

const systemActor = { type: 'system' as const, id: 'worker:outreach.deliver' };

/** The audit record of one send's outcome: who asked, which campaign and version, to whom, the result. */
function sendEvent(tenantId: string, campaignId: string, campaign: Pick<CampaignInfo, 'version' | 'send_requested_by' | 'approval_id'>, send: { id: string; contactId: string | null; messageId?: string },
  result: 'sent' | 'failed' | 'refused', extra: Record<string, unknown> = {}): AuditEventInput {
  return {
    tenantId, actor: systemActor, action: result === 'refused' ? 'outreach.send_refused' : 'outreach.send',
    target: { type: 'outreach_send', id: send.id }, outcome: result === 'sent' ? 'success' : 'failure',
    metadata: {
      campaignId, campaignVersion: campaign.version, contactId: send.contactId, requestedBy: campaign.send_requested_by,
      approvalId: campaign.approval_id, result, ...(send.messageId ? { messageId: send.messageId } : {}), ...extra,
    },
  };
}

/**
 * One claim, in one transaction of the tenant: the tenant's send budget (its
 * settings row, locked, so every run of the tenant shares one budget), then up
 * to that many sends of the campaign that are queued or whose claim outlived
 * the lease (its worker died). Each is checked against the suppression list
 * and the contact's consent right here, in the transaction that records the
 * claim: a suppressed or unconsented recipient is refused and audited, never
 * claimed. The claim commits before any SMTP traffic.
 */
async function claim(tx: Session, platform: Platform, tenantId: string, campaignId: string, campaign: CampaignInfo, leaseSeconds: number) {
  const [budget] = await tx.query<{ available: number; wait_seconds: number }>(sql`
    UPDATE outreach_settings SET
      window_started_at = CASE WHEN window_started_at <= now() - interval '1 minute' THEN now() ELSE window_started_at END,
      window_sent = CASE WHEN window_started_at <= now() - interval '1 minute' THEN 0 ELSE window_sent END
    WHERE tenant_id = ${tenantId}
    RETURNING greatest(rate_per_minute - window_sent, 0)::int AS available,
              greatest(ceil(extract(epoch FROM window_started_at + interval '1 minute' - now())), 1)::int AS wait_seconds`);
  if (!budget) return { claimed: [] as Claimed[], waitSeconds: 0, missingSettings: true };
  if (budget.available <= 0) return { claimed: [] as Claimed[], waitSeconds: budget.wait_seconds, missingSettings: false };

  const rows = await tx.query<{ id: string; contact_id: string | null; message_id: string; attempts: number; email: string | null; status: string | null; address_hash: string | null }>(sql`
    SELECT s.id, s.contact_id, s.message_id, s.attempts, c.email, c.status, c.address_hash
    FROM outreach_sends s LEFT JOIN outreach_contacts c ON c.id = s.contact_id
    WHERE s.campaign_id = ${campaignId}
      AND (s.state = 'queued' OR (s.state = 'claimed' AND s.claimed_at < now() - make_interval(secs => ${leaseSeconds})))
    ORDER BY s.created_at, s.id
    LIMIT ${Math.min(BATCH, budget.available)}
    FOR UPDATE OF s SKIP LOCKED`);
  const key = rows.length > 0 ? await tenantKey(tx, platform.keyring, tenantId) : undefined;
  const claimed: Claimed[] = [];
  const events: AuditEventInput[] = [];
  for (const r of rows) {
    // The stored hash is the one the contact was created with; recomputing it proves the key and address agree.
    const suppressed = r.address_hash && r.email
      ? (await tx.query(sql`SELECT 1 FROM outreach_suppressions WHERE address_hash IN (${r.address_hash}, ${addressHash(key!, r.email)})`)).length > 0
      : false;
    const reason = !r.contact_id || !r.email ? 'erased' : suppressed ? 'suppressed' : r.status !== 'subscribed' ? 'unconsented' : null;
    if (reason) {
      await tx.query(sql`UPDATE outreach_sends SET state = 'refused', refused_reason = ${reason}, updated_at = now() WHERE id = ${r.id}`);
      events.push(sendEvent(tenantId, campaignId, campaign, { id: r.id, contactId: r.contact_id }, 'refused', { reason }));
      continue;
    }
    await tx.query(sql`UPDATE outreach_sends SET state = 'claimed', claimed_at = now(), attempts = attempts + 1, updated_at = now() WHERE id = ${r.id}`);
    claimed.push({ id: r.id, contactId: r.contact_id!, email: r.email!, messageId: r.message_id, attempts: r.attempts + 1 });
  }
  if (claimed.length > 0) await tx.query(sql`UPDATE outreach_settings SET window_sent = window_sent + ${claimed.length} WHERE tenant_id = ${tenantId}`);
  if (events.length > 0) for (const e of events) await recordAuditEvent(tx, e);
  return { claimed, waitSeconds: 0, missingSettings: false, key };
}

/** Test seam: called after a claim commits and before its SMTP traffic (the crash test kills the process there). */
export const deliveryHooks: { afterClaim?: (sendIds: string[]) => Promise<void> | void } = {};

/**
 * A delivery run of one campaign. Sends are at-least-once with a fixed
 * Message-ID: a claim commits before SMTP, the outcome after. A worker that
 * dies between the two leaves a claim that a later run takes back once the
 * lease expired and sends again with the same Message-ID — never lost, and a
 * duplicate (only if the first SMTP transaction had completed) is recognisable
 * as such by the receiver. Exactly-once is not possible across SMTP.
 */
export function deliveryHandler(platform: Platform) {
  const lease = platform.config.outreachLeaseSeconds;
  return async (job: JobInfo<DeliveryJob>): Promise<void> => {
    const tenantId = job.tenantId!;
    const { campaignId } = job.data;
    const started = Date.now();
    const [campaign] = await platform.withTenant({ tenantId }, (tx) => tx.query<CampaignInfo & { tenant_name: string; postal_address: string | null; from_address: string | null; smtp_connector_id: string | null }>(sql`
      SELECT c.subject, c.body_text, c.version, c.status, c.send_requested_by, c.approval_id,
             t.name AS tenant_name, st.postal_address, st.from_address, st.smtp_connector_id
      FROM outreach_campaigns c JOIN tenants t ON t.id = c.tenant_id LEFT JOIN outreach_settings st ON st.tenant_id = c.tenant_id
      WHERE c.id = ${campaignId}`));
    if (!campaign || campaign.status !== 'sending') return; // gone, a draft, or already finished: nothing to do
    if (!campaign.postal_address) throw new PoisonError('the tenant has no postal address: nothing may be sent (CAN-SPAM)');

    let transport: OutreachTransport | undefined;
    let from: string | null = null;
    try {
      // Stop claiming with half the lease left, so every claim of this run finishes inside it.
      while (Date.now() - started < (lease * 1000) / 2 && !job.signal.aborted) {
        const batch = await platform.withTenant({ tenantId }, (tx) => claim(tx, platform, tenantId, campaignId, campaign, lease));
        if (batch.missingSettings) throw new PoisonError('the tenant has no outreach settings');
        if (batch.waitSeconds > 0) {
          await enqueueDelivery(platform, tenantId, campaignId, `${job.id}:rate`, batch.waitSeconds);
          return;
        }
        if (batch.claimed.length === 0) break;
        await deliveryHooks.afterClaim?.(batch.claimed.map((c) => c.id));
        if (!transport) ({ transport, from } = await openTransport(platform, tenantId, campaign.smtp_connector_id));
        for (const send of batch.claimed) {
          const token = signToken(batch.key!, 'unsubscribe', tenantId, send.contactId);
          const message = buildMessage({
            from: from ?? campaign.from_address ?? platform.config.mailFrom,
            to: send.email,
            subject: campaign.subject,
            body: campaign.body_text,
            postalAddress: campaign.postal_address,
            senderName: campaign.tenant_name,
            unsubscribeUrl: `${platform.config.publicUrl}/u/${token}`,
            messageId: send.messageId,
            campaignId,
          });
          await deliverOne(platform, tenantId, campaignId, campaign, send, () => transport!.send(message));
        }
      }
      await finishOrContinue(platform, tenantId, campaignId, job.id, lease);
    } finally {
      transport?.close();
    }
  };
}

/** SMTP for one claimed send, then its outcome in its own transaction (state machine: claimed → sent | failed | queued). */
async function deliverOne(platform: Platform, tenantId: string, campaignId: string, campaign: CampaignInfo, send: Claimed, smtp: () => Promise<{ response: string }>) {
  let response: string;
  try {
    ({ response } = await smtp());
  } catch (err) {
    const refusal = err instanceof SmtpRefusal ? err : new SmtpRefusal('SMTP delivery failed (unknown error)', false, undefined);
    const final = refusal.permanent || send.attempts >= MAX_ATTEMPTS;
    await platform.withTenant({ tenantId }, async (tx) => {
      const [row] = await tx.query<{ id: string }>(sql`
        UPDATE outreach_sends SET state = ${final ? 'failed' : 'queued'}, last_error = ${refusal.message.slice(0, 300)}, updated_at = now()
        WHERE id = ${send.id} AND state = 'claimed' RETURNING id`);
      if (!row) return;
      // A 5xx to the recipient is a hard bounce: the address goes on the list (RFC 3463 5.1.x: bad mailbox).
      if (refusal.permanent && (refusal.responseCode === 550 || refusal.responseCode === 551 || refusal.responseCode === 553)) {
        const [c] = await tx.query<{ address_hash: string; email: string }>(sql`SELECT address_hash, email FROM outreach_contacts WHERE id = ${send.contactId}`);
        if (c) await suppressHash(tx, { tenantId, hash: c.address_hash, address: c.email, reason: 'bounced', source: 'webhook' });
      }
      if (final) await recordAuditEvent(tx, sendEvent(tenantId, campaignId, campaign, { id: send.id, contactId: send.contactId, messageId: send.messageId }, 'failed', { error: refusal.message, attempts: send.attempts }));
    });
    if (!final) throw refusal; // the job retries with back-off; the send waits as queued
    return;
  }
  await platform.withTenant({ tenantId }, async (tx) => {
    const [row] = await tx.query<{ id: string }>(sql`
      UPDATE outreach_sends SET state = 'sent', sent_at = now(), last_error = NULL, updated_at = now()
      WHERE id = ${send.id} AND state = 'claimed' RETURNING id`);
    // Already final: another run took the claim back after the lease and finished it first.
    if (row) await recordAuditEvent(tx, sendEvent(tenantId, campaignId, campaign, { id: send.id, contactId: send.contactId, messageId: send.messageId }, 'sent', { smtp: response }));
  });
}

/** Marks the campaign sent once no send is open, or queues the next run (claims of others: after their lease). */
async function finishOrContinue(platform: Platform, tenantId: string, campaignId: string, jobId: string, lease: number) {
  const [open] = await platform.withTenant({ tenantId }, async (tx) => {
    const rows = await tx.query<{ queued: number; claimed: number }>(sql`
      SELECT count(*) FILTER (WHERE state = 'queued')::int AS queued, count(*) FILTER (WHERE state = 'claimed')::int AS claimed
      FROM outreach_sends WHERE campaign_id = ${campaignId}`);
    if (rows[0]!.queued === 0 && rows[0]!.claimed === 0) {
      await tx.query(sql`UPDATE outreach_campaigns SET status = 'sent', completed_at = now(), updated_at = now() WHERE id = ${campaignId} AND status = 'sending'`);
    }
    return rows;
  });
  if (open!.queued > 0) await enqueueDelivery(platform, tenantId, campaignId, `${jobId}:next`);
  else if (open!.claimed > 0) await enqueueDelivery(platform, tenantId, campaignId, `${jobId}:lease`, lease);
}

export async function registerDeliveryJobs(platform: Platform): Promise<void> {
  await platform.jobs.define(definitionFor(platform.config.outreachLeaseSeconds), deliveryHandler(platform), { parse: parseDeliveryJob });
}
