import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextWithPermissions, type Principal } from '../../kernel/auth/principal.ts';
import { isUuid } from '../../kernel/ids.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createWebhookPublisher } from '../webhooks/publish.ts';
import { notFound, ProblemError } from '../../http/problem.ts';

/** The permissions the alliances RLS policies consult (migration 0062). */
export const ALLIANCES_POLICY_PERMISSIONS = ['alliances:read', 'alliances:write', 'alliances:manage'] as const;

type Tier = 'standard' | 'silver' | 'gold' | 'strategic';
type PartnerStatus = 'prospect' | 'active' | 'inactive';
interface PartnerRow { id: string; name: string; website: string | null; tier: Tier; status: PartnerStatus; created_at: Date; updated_at: Date; cursor_ts: string }
interface ContactRow { id: string; partner_id: string; name: string; email: string | null; phone: string | null; job_title: string | null; created_at: Date; updated_at: Date }
interface PipelineRow { id: string; name: string; stages: string[]; created_at: Date; cursor_ts: string }
interface DealRow {
  id: string; pipeline_id: string; partner_id: string; title: string; stage: string; value_cents: string | number | null; currency: string | null;
  owner_id: string | null; created_at: Date; updated_at: Date;
}
interface NoteRow { id: string; partner_id: string; deal_id: string | null; contact_id: string | null; author_id: string | null; body: string; created_at: Date }

const partnerColumns = sql`id, name, website, tier, status, created_at, updated_at, created_at::text AS cursor_ts`;
const contactColumns = sql`id, partner_id, name, email, phone, job_title, created_at, updated_at`;
const pipelineColumns = sql`id, name, stages, created_at, created_at::text AS cursor_ts`;
const dealColumns = sql`id, pipeline_id, partner_id, title, stage, value_cents, currency, owner_id, created_at, updated_at`;
const noteColumns = sql`id, partner_id, deal_id, contact_id, author_id, body, created_at`;

const iso = (d: Date) => d.toISOString();
const partnerView = (r: PartnerRow) => ({ id: r.id, name: r.name, website: r.website, tier: r.tier, status: r.status, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at) });
export const contactView = (r: ContactRow) => ({
  id: r.id, partnerId: r.partner_id, name: r.name, email: r.email, phone: r.phone, jobTitle: r.job_title, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at),
});
const pipelineView = (r: PipelineRow) => ({ id: r.id, name: r.name, stages: r.stages, createdAt: iso(r.created_at) });
const dealView = (r: DealRow) => ({
  id: r.id, pipelineId: r.pipeline_id, partnerId: r.partner_id, title: r.title, stage: r.stage,
  valueCents: r.value_cents === null ? null : Number(r.value_cents), currency: r.currency, ownerId: r.owner_id, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at),
});
export const noteView = (r: NoteRow) => ({
  id: r.id, partnerId: r.partner_id, dealId: r.deal_id, contactId: r.contact_id, authorId: r.author_id, body: r.body, createdAt: iso(r.created_at),
});

/**
 * Alliances CRM. Every statement runs with the caller's alliances permissions
 * set for the RLS policies of migration 0062 (contextWithPermissions): CRM rows
 * need an alliances permission, and a note is visible only to its author and to
 * alliances:manage holders — the service filters notes the same way, so the
 * policy is a second wall, not the only one. Audit metadata carries ids, never
 * a contact's name, address or number (they are personal data, erasable).
 */
export function createAlliancesService(platform: Platform) {
  const ctx = (p: Principal) => contextWithPermissions(p, ALLIANCES_POLICY_PERMISSIONS);
  const webhooks = createWebhookPublisher(platform);
  /** A deal change in its transaction, its webhooks recorded in the same one (their jobs are outbox rows of it). */
  async function dealChange<T>(p: Principal, fn: (tx: Session, emit: (type: string, data: unknown) => Promise<void>) => Promise<T>): Promise<T> {
    return platform.withTenant(ctx(p), (tx) => fn(tx, async (type, data) => { await webhooks.publishIn(tx, p.tenantId, type, data); }));
  }
  const manages = (p: Principal) => p.permissions.has('alliances:manage');
  const audit = (tx: Session, p: Principal, action: string, target: { type: string; id: string }, metadata?: Record<string, unknown>) =>
    recordAuditEvent(tx, { tenantId: p.tenantId, actor: auditActorOf(p), action, target, outcome: 'success', ...(metadata ? { metadata } : {}) });

  async function one<T>(tx: Session, what: string, id: string, statement: (id: string) => ReturnType<typeof sql>): Promise<T> {
    if (!isUuid(id)) throw notFound(what);
    const [row] = await tx.query<T>(statement(id.toLowerCase()));
    if (!row) throw notFound(what);
    return row;
  }
  const partnerOf = (tx: Session, id: string) => one<PartnerRow>(tx, 'partner', id, (x) => sql`SELECT ${partnerColumns} FROM alliance_partners WHERE id = ${x}`);
  const contactOf = (tx: Session, id: string) => one<ContactRow>(tx, 'contact', id, (x) => sql`SELECT ${contactColumns} FROM alliance_contacts WHERE id = ${x}`);
  const pipelineOf = (tx: Session, id: string) => one<PipelineRow>(tx, 'pipeline', id, (x) => sql`SELECT ${pipelineColumns} FROM alliance_pipelines WHERE id = ${x}`);
  const dealOf = (tx: Session, id: string) => one<DealRow>(tx, 'deal', id, (x) => sql`SELECT ${dealColumns} FROM alliance_deals WHERE id = ${x}`);
  /** The caller's own notes, or every note for a manager (the RLS policy says the same). */
  const notesFilter = (p: Principal) => manages(p) ? sql`true` : sql`author_id = ${p.userId}`;

  function page<R extends { cursor_ts: string; id: string }>(rows: R[], limit: number) {
    return creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
  }
  const after = (cursor: string | undefined) => {
    const a = cursor ? creationCursor.decode(cursor) : undefined;
    return a ? sql`AND (created_at, id) < (${a.createdAt}::timestamptz, ${a.id}::uuid)` : sql``;
  };

  return {
    async listPartners(p: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 20;
      const rows = await platform.queryAsTenant<PartnerRow>(ctx(p), sql`
        SELECT ${partnerColumns} FROM alliance_partners WHERE true ${after(q.cursor)} ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = page(rows, limit);
      return { items: items.map(partnerView), nextCursor };
    },

    async getPartner(p: Principal, id: string) {
      return platform.withTenant(ctx(p), async (tx) => {
        const partner = await partnerOf(tx, id);
        const contacts = await tx.query<ContactRow>(sql`SELECT ${contactColumns} FROM alliance_contacts WHERE partner_id = ${partner.id} ORDER BY lower(name), id LIMIT 500`);
        return { ...partnerView(partner), contacts: contacts.map(contactView) };
      });
    },

    async createPartner(p: Principal, input: { name: string; website?: string | undefined; tier?: Tier | undefined; status?: PartnerStatus | undefined }) {
      return platform.withTenant(ctx(p), async (tx) => {
        const [row] = await tx.query<PartnerRow>(sql`
          INSERT INTO alliance_partners (tenant_id, name, website, tier, status, created_by)
          VALUES (${p.tenantId}, ${input.name}, ${input.website ?? null}, ${input.tier ?? 'standard'}, ${input.status ?? 'prospect'}, ${p.userId})
          RETURNING ${partnerColumns}`);
        await audit(tx, p, 'alliances.partner.created', { type: 'alliance_partner', id: row!.id });
        return partnerView(row!);
      });
    },

    async updatePartner(p: Principal, id: string, patch: { name?: string | undefined; website?: string | null | undefined; tier?: Tier | undefined; status?: PartnerStatus | undefined }) {
      return platform.withTenant(ctx(p), async (tx) => {
        const current = await partnerOf(tx, id);
        const [row] = await tx.query<PartnerRow>(sql`
          UPDATE alliance_partners SET name = ${patch.name ?? current.name}, website = ${patch.website === undefined ? current.website : patch.website},
            tier = ${patch.tier ?? current.tier}, status = ${patch.status ?? current.status}, updated_at = now()
          WHERE id = ${current.id} RETURNING ${partnerColumns}`);
        await audit(tx, p, 'alliances.partner.updated', { type: 'alliance_partner', id: current.id }, { fields: Object.keys(patch) });
        return partnerView(row!);
      });
    },

    async deletePartner(p: Principal, id: string) {
      await platform.withTenant(ctx(p), async (tx) => {
        const current = await partnerOf(tx, id);
        // Contacts, deals and notes go with it (foreign keys cascade).
        await tx.query(sql`DELETE FROM alliance_partners WHERE id = ${current.id}`);
        await audit(tx, p, 'alliances.partner.deleted', { type: 'alliance_partner', id: current.id });
      });
    },

    async createContact(p: Principal, partnerId: string, input: { name: string; email?: string | undefined; phone?: string | undefined; jobTitle?: string | undefined }) {
      return platform.withTenant(ctx(p), async (tx) => {
        const partner = await partnerOf(tx, partnerId);
        const [row] = await tx.query<ContactRow>(sql`
          INSERT INTO alliance_contacts (tenant_id, partner_id, name, email, phone, job_title, created_by)
          VALUES (${p.tenantId}, ${partner.id}, ${input.name}, ${input.email ?? null}, ${input.phone ?? null}, ${input.jobTitle ?? null}, ${p.userId})
          RETURNING ${contactColumns}`);
        await audit(tx, p, 'alliances.contact.created', { type: 'alliance_contact', id: row!.id }, { partnerId: partner.id });
        return contactView(row!);
      });
    },

    async getContact(p: Principal, id: string) {
      return platform.withTenant(ctx(p), async (tx) => contactView(await contactOf(tx, id)));
    },

    async updateContact(p: Principal, id: string, patch: { name?: string | undefined; email?: string | null | undefined; phone?: string | null | undefined; jobTitle?: string | null | undefined }) {
      return platform.withTenant(ctx(p), async (tx) => {
        const c = await contactOf(tx, id);
        const keep = <T>(next: T | undefined, now: T) => (next === undefined ? now : next);
        const [row] = await tx.query<ContactRow>(sql`
          UPDATE alliance_contacts SET name = ${patch.name ?? c.name}, email = ${keep(patch.email, c.email)}, phone = ${keep(patch.phone, c.phone)},
            job_title = ${keep(patch.jobTitle, c.job_title)}, updated_at = now()
          WHERE id = ${c.id} RETURNING ${contactColumns}`);
        await audit(tx, p, 'alliances.contact.updated', { type: 'alliance_contact', id: c.id }, { fields: Object.keys(patch) });
        return contactView(row!);
      });
    },

    async deleteContact(p: Principal, id: string) {
      await platform.withTenant(ctx(p), async (tx) => {
        const c = await contactOf(tx, id);
        await tx.query(sql`DELETE FROM alliance_contacts WHERE id = ${c.id}`);
        await audit(tx, p, 'alliances.contact.deleted', { type: 'alliance_contact', id: c.id }, { partnerId: c.partner_id });
      });
    },

    async listPipelines(p: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 20;
      const rows = await platform.queryAsTenant<PipelineRow>(ctx(p), sql`
        SELECT ${pipelineColumns} FROM alliance_pipelines WHERE true ${after(q.cursor)} ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = page(rows, limit);
      return { items: items.map(pipelineView), nextCursor };
    },

    async getPipeline(p: Principal, id: string) {
      return platform.withTenant(ctx(p), async (tx) => {
        const pipeline = await pipelineOf(tx, id);
        const deals = await tx.query<DealRow>(sql`SELECT ${dealColumns} FROM alliance_deals WHERE pipeline_id = ${pipeline.id} ORDER BY created_at, id LIMIT 1000`);
        return { ...pipelineView(pipeline), deals: deals.map(dealView) };
      });
    },

    async createPipeline(p: Principal, input: { name: string; stages: string[] }) {
      return platform.withTenant(ctx(p), async (tx) => {
        const [row] = await tx.query<PipelineRow>(sql`
          INSERT INTO alliance_pipelines (tenant_id, name, stages, created_by) VALUES (${p.tenantId}, ${input.name}, ${sql.param(input.stages)}::text[], ${p.userId})
          RETURNING ${pipelineColumns}`);
        await audit(tx, p, 'alliances.pipeline.created', { type: 'alliance_pipeline', id: row!.id });
        return pipelineView(row!);
      });
    },

    async deletePipeline(p: Principal, id: string) {
      await platform.withTenant(ctx(p), async (tx) => {
        const pipeline = await pipelineOf(tx, id);
        await tx.query(sql`DELETE FROM alliance_pipelines WHERE id = ${pipeline.id}`);
        await audit(tx, p, 'alliances.pipeline.deleted', { type: 'alliance_pipeline', id: pipeline.id });
      });
    },

    async createDeal(p: Principal, pipelineId: string, input: { partnerId: string; title: string; stage?: string | undefined; valueCents?: number | undefined; currency?: string | undefined }) {
      return dealChange(p, async (tx, emit) => {
        const pipeline = await pipelineOf(tx, pipelineId);
        const partner = await partnerOf(tx, input.partnerId);
        const stage = input.stage ?? pipeline.stages[0]!;
        assertStage(pipeline, stage);
        const [row] = await tx.query<DealRow>(sql`
          INSERT INTO alliance_deals (tenant_id, pipeline_id, partner_id, title, stage, value_cents, currency, owner_id)
          VALUES (${p.tenantId}, ${pipeline.id}, ${partner.id}, ${input.title}, ${stage}, ${input.valueCents ?? null}, ${input.currency ?? null}, ${p.userId})
          RETURNING ${dealColumns}`);
        await audit(tx, p, 'alliances.deal.created', { type: 'alliance_deal', id: row!.id }, { pipelineId: pipeline.id, partnerId: partner.id, stage });
        await emit('alliances.deal.created', dealView(row!));
        return dealView(row!);
      });
    },

    async getDeal(p: Principal, id: string) {
      return platform.withTenant(ctx(p), async (tx) => dealView(await dealOf(tx, id)));
    },

    async updateDeal(p: Principal, id: string, patch: { title?: string | undefined; stage?: string | undefined; valueCents?: number | null | undefined; currency?: string | null | undefined }) {
      return dealChange(p, async (tx, emit) => {
        const deal = await dealOf(tx, id);
        if (patch.stage !== undefined) assertStage(await pipelineOf(tx, deal.pipeline_id), patch.stage);
        const [row] = await tx.query<DealRow>(sql`
          UPDATE alliance_deals SET title = ${patch.title ?? deal.title}, stage = ${patch.stage ?? deal.stage},
            value_cents = ${patch.valueCents === undefined ? deal.value_cents : patch.valueCents},
            currency = ${patch.currency === undefined ? deal.currency : patch.currency}, updated_at = now()
          WHERE id = ${deal.id} RETURNING ${dealColumns}`);
        await audit(tx, p, 'alliances.deal.updated', { type: 'alliance_deal', id: deal.id },
          patch.stage !== undefined && patch.stage !== deal.stage ? { from: deal.stage, to: patch.stage } : { fields: Object.keys(patch) });
        await emit('alliances.deal.updated', { ...dealView(row!), previousStage: deal.stage });
        return dealView(row!);
      });
    },

    async deleteDeal(p: Principal, id: string) {
      await dealChange(p, async (tx, emit) => {
        const deal = await dealOf(tx, id);
        await tx.query(sql`DELETE FROM alliance_deals WHERE id = ${deal.id}`);
        await audit(tx, p, 'alliances.deal.deleted', { type: 'alliance_deal', id: deal.id });
        await emit('alliances.deal.deleted', { id: deal.id, pipelineId: deal.pipeline_id, partnerId: deal.partner_id });
      });
    },

    /** A note on a partner (optionally about one of its deals or contacts), visible to its author and managers. */
    async createNote(p: Principal, partnerId: string, input: { body: string; dealId?: string | undefined; contactId?: string | undefined }) {
      if (!p.userId) throw new ProblemError('validation-failed', 400, 'A note has a person as its author; an API key cannot write one.');
      return platform.withTenant(ctx(p), async (tx) => {
        const partner = await partnerOf(tx, partnerId);
        // The deal or contact must be the partner's: another partner's (or tenant's) reads like a missing one.
        if (input.dealId && (await dealOf(tx, input.dealId)).partner_id !== partner.id) throw notFound('deal');
        if (input.contactId && (await contactOf(tx, input.contactId)).partner_id !== partner.id) throw notFound('contact');
        const [row] = await tx.query<NoteRow>(sql`
          INSERT INTO alliance_notes (tenant_id, partner_id, deal_id, contact_id, author_id, body)
          VALUES (${p.tenantId}, ${partner.id}, ${input.dealId?.toLowerCase() ?? null}, ${input.contactId?.toLowerCase() ?? null}, ${p.userId}, ${input.body})
          RETURNING ${noteColumns}`);
        await audit(tx, p, 'alliances.note.created', { type: 'alliance_note', id: row!.id }, { partnerId: partner.id });
        return noteView(row!);
      });
    },

    async listNotes(p: Principal, partnerId: string) {
      return platform.withTenant(ctx(p), async (tx) => {
        const partner = await partnerOf(tx, partnerId);
        const rows = await tx.query<NoteRow>(sql`
          SELECT ${noteColumns} FROM alliance_notes WHERE partner_id = ${partner.id} AND ${notesFilter(p)} ORDER BY created_at DESC, id DESC LIMIT 500`);
        return { items: rows.map(noteView) };
      });
    },

    /** Deletes a note of the caller's (any note, for a manager); someone else's reads like a missing one. */
    async deleteNote(p: Principal, id: string) {
      await platform.withTenant(ctx(p), async (tx) => {
        const note = await one<NoteRow>(tx, 'note', id, (x) => sql`SELECT ${noteColumns} FROM alliance_notes WHERE id = ${x} AND ${notesFilter(p)}`);
        await tx.query(sql`DELETE FROM alliance_notes WHERE id = ${note.id}`);
        await audit(tx, p, 'alliances.note.deleted', { type: 'alliance_note', id: note.id }, { partnerId: note.partner_id, ownNote: note.author_id === p.userId });
      });
    },
  };
}

function assertStage(pipeline: PipelineRow, stage: string): void {
  if (!pipeline.stages.includes(stage)) {
    throw new ProblemError('validation-failed', 400, `"${stage}" is not a stage of this pipeline (${pipeline.stages.join(', ')}).`);
  }
}
