import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { conflict, notFound } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { openWithWrappedKey, sealForTenant, wrappedKeyFor } from '../../kernel/crypto/tenant-keys.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createGenerator } from './generate.ts';
import { applyContentRules } from './rules.ts';
import { createSettingsService } from './settings.ts';
import { renderTemplate } from './templates.ts';

export const PROMPT_CELL = { table: 'content_drafts', column: 'prompt_sealed' } as const;
export const OUTPUT_CELL = { table: 'content_drafts', column: 'output_sealed' } as const;

interface DraftRow {
  id: string;
  kind: 'template' | 'model';
  title: string;
  provider_id: string | null;
  status: 'draft' | 'published';
  prompt_tokens: number;
  completion_tokens: number;
  redaction: Record<string, unknown>;
  created_by: string | null;
  created_at: Date;
  published_at: Date | null;
  published_approval: string | null;
  output_sealed: string | null;
  output_wrapped: string | null;
  prompt_stored: boolean;
}

const columns = sql`d.id, d.kind, d.title, d.provider_id, d.status, d.prompt_tokens, d.completion_tokens, d.redaction, d.created_by, d.created_at,
  d.published_at, d.published_approval, d.output_sealed, ${wrappedKeyFor(sql`d.tenant_id`, sql`d.output_sealed`)} AS output_wrapped,
  (d.prompt_sealed IS NOT NULL) AS prompt_stored`;

export type DraftInput =
  | { kind: 'template'; title: string; template: string; variables?: Record<string, string> | undefined }
  | { kind: 'model'; title: string; instructions: string; data?: Array<{ label: string; text: string }> | undefined; providerId?: string | undefined; maxTokens?: number | undefined };

export function createDraftsService(platform: Platform) {
  const generator = createGenerator(platform);
  const settings = createSettingsService(platform);

  const view = (tenantId: string, r: DraftRow, text?: string) => ({
    id: r.id,
    kind: r.kind,
    title: r.title,
    status: r.status,
    providerId: r.provider_id,
    text: text ?? (r.output_sealed ? openWithWrappedKey(platform.keyring, { tenantId, ...OUTPUT_CELL, rowId: r.id }, r.output_sealed, r.output_wrapped).toString('utf8') : null),
    stored: { prompt: r.prompt_stored, output: r.output_sealed !== null },
    usage: { promptTokens: r.prompt_tokens, completionTokens: r.completion_tokens },
    redaction: r.redaction,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at).toISOString(),
    publishedAt: r.published_at ? new Date(r.published_at).toISOString() : null,
    publishedApproval: r.published_approval,
  });

  const select = (tx: Session, id: string) => tx.query<DraftRow>(sql`SELECT ${columns} FROM content_drafts d WHERE d.id = ${id.toLowerCase()}`);

  return {
    /**
     * A draft from a template or from a model. The model call happens before any write: a
     * timeout, a provider error, a quota refusal or a blocked term leaves no row behind. What is
     * stored follows the tenant's settings (prompt as sent, i.e. redacted; output), both sealed.
     */
    async create(principal: Principal, input: DraftInput) {
      const id = randomUUID();
      let text: string;
      let meta: { providerId: string | null; promptTokens: number; completionTokens: number; redaction: object; sentPrompt: string | null; storePrompts: boolean; storeOutputs: boolean };
      if (input.kind === 'template') {
        const s = await settings.get(principal.tenantId);
        text = applyContentRules(renderTemplate(input.template, input.variables ?? {}), { blockedTerms: s.blockedTerms, requiredDisclaimer: s.requiredDisclaimer });
        meta = { providerId: null, promptTokens: 0, completionTokens: 0, redaction: {}, sentPrompt: null, storePrompts: false, storeOutputs: s.storeOutputs };
      } else {
        const g = await generator.generate(principal.tenantId, input);
        text = g.text;
        meta = {
          providerId: g.providerId, promptTokens: g.promptTokens, completionTokens: g.completionTokens, redaction: g.redaction,
          sentPrompt: g.sentPrompt, storePrompts: g.settings.storePrompts, storeOutputs: g.settings.storeOutputs,
        };
      }
      return platform.withTenant(contextOf(principal), async (tx) => {
        const cell = { tenantId: principal.tenantId, rowId: id };
        const prompt = meta.storePrompts && meta.sentPrompt ? await sealForTenant(tx, platform.keyring, { ...cell, ...PROMPT_CELL }, meta.sentPrompt) : null;
        const output = meta.storeOutputs ? await sealForTenant(tx, platform.keyring, { ...cell, ...OUTPUT_CELL }, text) : null;
        await tx.query(sql`
          INSERT INTO content_drafts (tenant_id, id, kind, title, provider_id, prompt_sealed, output_sealed, prompt_tokens, completion_tokens, redaction, created_by)
          VALUES (${principal.tenantId}, ${id}, ${input.kind}, ${input.title}, ${meta.providerId}, ${prompt}, ${output},
                  ${meta.promptTokens}, ${meta.completionTokens}, ${JSON.stringify(meta.redaction)}::jsonb, ${principal.userId})`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'content.draft_created',
          target: { type: 'content_draft', id }, outcome: 'success',
          metadata: { kind: input.kind, providerId: meta.providerId, promptTokens: meta.promptTokens, completionTokens: meta.completionTokens, redaction: meta.redaction, storedPrompt: prompt !== null, storedOutput: output !== null },
        });
        const [row] = await select(tx, id);
        return view(principal.tenantId, row!, text);
      });
    },

    async get(principal: Principal, id: string) {
      const [row] = await platform.withTenant(contextOf(principal), (tx) => select(tx, id));
      if (!row) throw notFound('draft');
      return view(principal.tenantId, row);
    },

    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<DraftRow & { cursor_ts: string }>(contextOf(principal), sql`
        SELECT ${columns}, d.created_at::text AS cursor_ts FROM content_drafts d
        ${after ? sql`WHERE (d.created_at, d.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY d.created_at DESC, d.id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map((r) => view(principal.tenantId, r)), nextCursor };
    },

    /** The `content.draft.publish` action: only ever called by the approvals module, under an approval. */
    async publish(principal: Principal, draftId: string, approvalId: string) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [row] = await tx.query<{ status: string; stored: boolean }>(sql`
          SELECT status, (output_sealed IS NOT NULL) AS stored FROM content_drafts WHERE id = ${draftId.toLowerCase()} FOR UPDATE`);
        if (!row) throw notFound('draft');
        if (row.status === 'published') throw conflict('The draft is already published.');
        if (!row.stored) throw conflict('The draft\'s text was not stored (tenant settings), so there is nothing to publish.');
        await tx.query(sql`UPDATE content_drafts SET status = 'published', published_at = now(), published_by = ${principal.userId}, published_approval = ${approvalId}
          WHERE id = ${draftId.toLowerCase()}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'content.draft_published',
          target: { type: 'content_draft', id: draftId.toLowerCase() }, outcome: 'success', metadata: { approvalId },
        });
        return { draftId: draftId.toLowerCase(), status: 'published' };
      });
    },

    /** The stored text of a draft, for an action that sends it. */
    async textOf(tenantId: string, draftId: string): Promise<{ title: string; text: string } | null> {
      const [row] = await platform.withTenant({ tenantId }, (tx) => select(tx, draftId));
      if (!row || !row.output_sealed) return null;
      return { title: row.title, text: view(tenantId, row).text! };
    },
  };
}
