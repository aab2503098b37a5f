import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { ProblemError, forbidden, notFound } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent, recordAuditEventNow } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createWebhookPublisher } from '../webhooks/publish.ts';
import { DELIVERY_QUEUE, enqueueDelivery } from './delivery.ts';
import { readSettings } from './settings.ts';

interface CampaignRow {
  id: string;
  name: string;
  subject: string;
  body_text: string;
  version: number;
  contact_ids: string[] | null;
  status: 'draft' | 'sending' | 'sent';
  created_at: Date;
  updated_at: Date;
  send_requested_by: string | null;
  send_requested_at: Date | null;
  approval_id: string | null;
  completed_at: Date | null;
  queued: number;
  claimed: number;
  sent: number;
  failed: number;
  refused: number;
  cursor_ts: string;
}

const columns = sql`c.id, c.name, c.subject, c.body_text, c.version, c.contact_ids, c.status, c.created_at, c.updated_at,
  c.send_requested_by, c.send_requested_at, c.approval_id, c.completed_at, c.created_at::text AS cursor_ts,
  (SELECT count(*) FILTER (WHERE s.state = 'queued') FROM outreach_sends s WHERE s.campaign_id = c.id)::int AS queued,
  (SELECT count(*) FILTER (WHERE s.state = 'claimed') FROM outreach_sends s WHERE s.campaign_id = c.id)::int AS claimed,
  (SELECT count(*) FILTER (WHERE s.state = 'sent') FROM outreach_sends s WHERE s.campaign_id = c.id)::int AS sent,
  (SELECT count(*) FILTER (WHERE s.state = 'failed') FROM outreach_sends s WHERE s.campaign_id = c.id)::int AS failed,
  (SELECT count(*) FILTER (WHERE s.state = 'refused') FROM outreach_sends s WHERE s.campaign_id = c.id)::int AS refused`;

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
const view = (r: CampaignRow) => ({
  id: r.id,
  name: r.name,
  subject: r.subject,
  bodyText: r.body_text,
  version: r.version,
  contactIds: r.contact_ids,
  status: r.status,
  sendRequestedBy: r.send_requested_by,
  sendRequestedAt: iso(r.send_requested_at),
  approvalId: r.approval_id,
  completedAt: iso(r.completed_at),
  counts: { queued: r.queued, claimed: r.claimed, sent: r.sent, failed: r.failed, refused: r.refused },
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

interface SendRow {
  id: string;
  campaign_id: string;
  contact_id: string | null;
  campaign_version: number;
  state: string;
  refused_reason: string | null;
  message_id: string;
  attempts: number;
  claimed_at: Date | null;
  sent_at: Date | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}
const sendColumns = sql`id, campaign_id, contact_id, campaign_version, state, refused_reason, message_id, attempts, claimed_at, sent_at, last_error, created_at, updated_at, created_at::text AS cursor_ts`;
const sendView = (r: SendRow) => ({
  id: r.id,
  campaignId: r.campaign_id,
  contactId: r.contact_id,
  campaignVersion: r.campaign_version,
  state: r.state,
  refusedReason: r.refused_reason,
  messageId: r.message_id,
  attempts: r.attempts,
  claimedAt: iso(r.claimed_at),
  sentAt: iso(r.sent_at),
  lastError: r.last_error,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

interface CampaignInput {
  name: string;
  subject: string;
  bodyText: string;
  contactIds?: string[] | undefined;
}

/** Why a named recipient may not be mailed, as the problem lists it. */
export interface RefusedRecipient {
  contactId: string;
  reason: 'suppressed' | 'unconsented' | 'unknown';
}

async function lockedCampaign(tx: Session, id: string): Promise<CampaignRow> {
  const [row] = await tx.query<CampaignRow>(sql`SELECT ${columns} FROM outreach_campaigns c WHERE c.id = ${id} FOR UPDATE OF c`);
  if (!row) throw notFound('campaign');
  return row;
}

export function createCampaignsService(platform: Platform) {
  const webhooks = createWebhookPublisher(platform);
  const get = async (tx: Session, id: string) => {
    const [row] = await tx.query<CampaignRow>(sql`SELECT ${columns} FROM outreach_campaigns c WHERE c.id = ${id}`);
    if (!row) throw notFound('campaign');
    return view(row);
  };

  return {
    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<CampaignRow>(contextOf(principal), sql`
        SELECT ${columns} FROM outreach_campaigns c
        ${after ? sql`WHERE (c.created_at, c.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY c.created_at DESC, c.id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(view), nextCursor };
    },

    get: (principal: Principal, id: string) => platform.withTenant(contextOf(principal), (tx) => get(tx, id)),

    async create(principal: Principal, input: CampaignInput) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [row] = await tx.query<{ id: string }>(sql`
          INSERT INTO outreach_campaigns (tenant_id, name, subject, body_text, contact_ids, created_by)
          VALUES (${principal.tenantId}, ${input.name}, ${input.subject}, ${input.bodyText},
                  ${input.contactIds ? sql`${sql.param(input.contactIds.map((x) => x.toLowerCase()))}::uuid[]` : sql`NULL`}, ${principal.userId})
          RETURNING id`);
        return get(tx, row!.id);
      });
    },

    /** A draft only: what was (or is being) sent stays as it was sent. Each edit is a new version. */
    async update(principal: Principal, id: string, input: { name?: string | undefined; subject?: string | undefined; bodyText?: string | undefined; contactIds?: string[] | null | undefined }) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const current = await lockedCampaign(tx, id);
        if (current.status !== 'draft') throw new ProblemError('conflict', 409, `The campaign is ${current.status}; only a draft can be edited.`, { extensions: { reason: 'not-draft' } });
        await tx.query(sql`
          UPDATE outreach_campaigns SET
            name = coalesce(${input.name ?? null}, name),
            subject = coalesce(${input.subject ?? null}, subject),
            body_text = coalesce(${input.bodyText ?? null}, body_text),
            contact_ids = ${input.contactIds === undefined ? sql`contact_ids` : input.contactIds === null ? sql`NULL` : sql`${sql.param(input.contactIds.map((x) => x.toLowerCase()))}::uuid[]`},
            version = version + 1, updated_at = now()
          WHERE id = ${id}`);
        return get(tx, id);
      });
    },

    /**
     * Sends a campaign (also what the approvals module executes once a send is
     * approved). In one transaction: the campaign is locked; the tenant must have
     * a postal address (CAN-SPAM); every named recipient must be consented and
     * not suppressed, or the whole request is refused (409, recorded as
     * `outreach.send_refused`) and nothing is queued; one send row per recipient
     * is written (keyed by campaign and contact, so a repeated request queues
     * nobody twice). Then the delivery job is queued. Sending an already sending
     * campaign resumes its delivery and changes nothing else.
     */
    async sendCampaign(principal: Principal, campaignId: string, opts: { approvalId?: string | undefined } = {}) {
      // Callers other than the route (approvals) come through here too: the permission is checked again.
      if (!principal.permissions.has('outreach:send')) throw forbidden('Sending a campaign needs outreach:send.');
      const id = campaignId.toLowerCase();
      await platform.jobs.assertRoom(DELIVERY_QUEUE.name);
      const actor = auditActorOf(principal);
      const requestedBy = `${actor.type}:${actor.id ?? ''}`;
      let refused: RefusedRecipient[] = [];
      let version = 0;
      const outcome = await platform.withTenant(contextOf(principal), async (tx) => {
        const campaign = await lockedCampaign(tx, id);
        version = campaign.version;
        if (campaign.status !== 'draft') return { resumed: true as const, campaign: view(campaign) };
        const settings = await readSettings(tx);
        if (!settings.postal_address) {
          throw new ProblemError('conflict', 409, 'Set the postal address first (PATCH /api/v1/outreach/settings): every marketing mail must carry it (CAN-SPAM).', { extensions: { reason: 'postal-address-required' } });
        }
        if (campaign.contact_ids) {
          const rows = await tx.query<{ id: string; status: string; suppressed: boolean }>(sql`
            SELECT c.id, c.status, EXISTS (SELECT 1 FROM outreach_suppressions s WHERE s.address_hash = c.address_hash) AS suppressed
            FROM outreach_contacts c WHERE c.id = ANY (${sql.param(campaign.contact_ids)}::uuid[])`);
          const found = new Map(rows.map((r) => [r.id, r]));
          refused = campaign.contact_ids.flatMap((cid): RefusedRecipient[] => {
            const r = found.get(cid);
            if (!r) return [{ contactId: cid, reason: 'unknown' }];
            if (r.suppressed) return [{ contactId: cid, reason: 'suppressed' }];
            if (r.status !== 'subscribed') return [{ contactId: cid, reason: 'unconsented' }];
            return [];
          });
          if (refused.length > 0) return { refused: true as const };
        }
        const host = new URL(platform.config.publicUrl).hostname || 'ocsuite.invalid';
        const inserted = await tx.query<{ id: string }>(sql`
          INSERT INTO outreach_sends (tenant_id, id, campaign_id, contact_id, campaign_version, message_id)
          SELECT ${principal.tenantId}, r.id, ${id}, r.contact_id, ${campaign.version}, '<' || r.id || '@' || ${host} || '>'
          FROM (SELECT gen_random_uuid() AS id, c.id AS contact_id FROM outreach_contacts c
                WHERE c.status = 'subscribed'
                  AND NOT EXISTS (SELECT 1 FROM outreach_suppressions s WHERE s.address_hash = c.address_hash)
                  ${campaign.contact_ids ? sql`AND c.id = ANY (${sql.param(campaign.contact_ids)}::uuid[])` : sql``}) r
          ON CONFLICT (tenant_id, campaign_id, contact_id) DO NOTHING
          RETURNING id`);
        if (inserted.length === 0) {
          throw new ProblemError('conflict', 409, 'The campaign has no recipient who may be mailed (subscribed and not suppressed).', { extensions: { reason: 'no-recipients' } });
        }
        await tx.query(sql`
          UPDATE outreach_campaigns SET status = 'sending', send_requested_by = ${requestedBy}, send_requested_at = now(),
            approval_id = ${opts.approvalId ?? null}, updated_at = now()
          WHERE id = ${id}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor, action: 'outreach.campaign_sent', target: { type: 'outreach_campaign', id }, outcome: 'success',
          metadata: { version: campaign.version, recipients: inserted.length, approvalId: opts.approvalId ?? null },
        });
        // Subscribed endpoints hear that the send started (outbox: only if it commits); counts, never the recipients.
        await webhooks.publishIn(tx, principal.tenantId, 'outreach.campaign.sent', {
          campaignId: id, version: campaign.version, recipients: inserted.length, approvalId: opts.approvalId ?? null,
        });
        return { resumed: false as const };
      });
      if ('refused' in outcome) {
        // The refusal is a fact of its own: the transaction above wrote nothing.
        await recordAuditEventNow(platform, {
          tenantId: principal.tenantId, actor, action: 'outreach.send_refused', target: { type: 'outreach_campaign', id }, outcome: 'failure',
          reason: 'recipients suppressed, not consented or unknown',
          metadata: { version, approvalId: opts.approvalId ?? null, refused: refused.map((r) => ({ contactId: r.contactId, reason: r.reason })) },
        });
        throw new ProblemError('conflict', 409, `Refused: ${refused.length} recipient(s) may not be mailed (suppressed, not consented or unknown); nothing was sent.`, {
          extensions: { reason: 'recipients-refused', refused },
        });
      }
      await enqueueDelivery(platform, principal.tenantId, id, outcome.resumed ? `resume:${Math.floor(Date.now() / 60_000)}` : 'start');
      return platform.withTenant(contextOf(principal), (tx) => get(tx, id));
    },

    async listSends(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined; campaignId?: string | undefined; state?: string | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<SendRow>(contextOf(principal), sql`
        SELECT ${sendColumns} FROM outreach_sends WHERE true
        ${after ? sql`AND (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ${q.campaignId ? sql`AND campaign_id = ${q.campaignId}` : sql``}
        ${q.state ? sql`AND state = ${q.state}` : sql``}
        ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(sendView), nextCursor };
    },

    async getSend(principal: Principal, id: string) {
      const [row] = await platform.queryAsTenant<SendRow>(contextOf(principal), sql`SELECT ${sendColumns} FROM outreach_sends WHERE id = ${id}`);
      if (!row) throw notFound('send');
      return sendView(row);
    },
  };
}
