import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { forbidden } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { openWithWrappedKey, sealForTenant, wrappedKeyFor } from '../../kernel/crypto/tenant-keys.ts';
import { isKernelError } from '../../kernel/errors.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createGenerator } from '../content/generate.ts';
import { createMembersService } from '../identity/members-service.ts';
import { createKnowledgeService } from '../knowledge/service.ts';
import { splitAnswer } from './proposals.ts';
import { createApprovalsService, type ApprovalView } from './service.ts';

export const INSIGHT_CELL = { table: 'insights', column: 'output_sealed' } as const;

/** What the model is told about proposing actions: a format, and that a human decides. */
function actionsSystem(platform: Platform, memberIds: readonly string[]): string {
  const actions = platform.actions.list().map((a) => `- ${a.type}: ${a.description} Payload JSON schema: ${JSON.stringify(a.payloadSchema)}`);
  return [
    'You may propose actions. A person reviews every proposal; you cannot run anything yourself.',
    'To propose, end your answer with one block:\n```actions\n[{"type": "<action type>", "payload": { ... }}]\n```',
    'Available actions:', ...actions,
    `Members of this tenant by user id: ${memberIds.join(', ') || '(none)'}.`,
  ].join('\n');
}

interface InsightRow {
  id: string;
  provider_id: string | null;
  output_sealed: string | null;
  wrapped: string | null;
  created_by: string | null;
  created_at: Date;
}

/**
 * Insights: a question over the tenant's knowledge entries, answered by the
 * tenant's model through the content generator (redaction, quota, rules). The
 * entries reach the model only as delimited, escaped data. Proposed actions in
 * the answer become pending ActionApprovals requested by the asking user —
 * validated like any proposal; the ones that fail are discarded and counted.
 */
export function createInsightsService(platform: Platform) {
  const generator = createGenerator(platform);
  const approvals = createApprovalsService(platform);
  const knowledge = createKnowledgeService(platform);

  return {
    async generate(principal: Principal, input: { question: string; knowledgeEntryIds?: string[] | undefined; providerId?: string | undefined }) {
      if (principal.kind !== 'user') throw forbidden('Insights are asked by people, not API keys.');
      const ids = input.knowledgeEntryIds ?? [];
      if (ids.length > 0 && !principal.permissions.has('knowledge:read' as never)) throw forbidden('Reading knowledge entries needs knowledge:read.');
      const entries = await Promise.all(ids.map((id) => knowledge.get(principal, id)));
      const members = await createMembersService(platform, () => {}).list(principal);
      const g = await generator.generate(principal.tenantId, {
        instructions: input.question,
        data: entries.map((e) => ({ label: `knowledge: ${e.title}`, text: e.body })),
        system: actionsSystem(platform, members.map((m) => m.userId)),
        providerId: input.providerId,
      });
      const { text, proposals, malformed } = splitAnswer(g.text);
      const id = randomUUID();
      // The insight row first: proposals name it.
      await platform.withTenant(contextOf(principal), async (tx) => {
        const sealed = g.settings.storeOutputs ? await sealForTenant(tx, platform.keyring, { tenantId: principal.tenantId, ...INSIGHT_CELL, rowId: id }, text) : null;
        await tx.query(sql`INSERT INTO insights (tenant_id, id, provider_id, output_sealed, created_by)
          VALUES (${principal.tenantId}, ${id}, ${g.providerId}, ${sealed}, ${principal.userId})`);
      });
      const created: ApprovalView[] = [];
      const refused: string[] = [];
      for (const p of proposals) {
        try {
          created.push(await approvals.propose(principal, { type: p.type, payload: p.payload, origin: 'model', insightId: id }));
        } catch (err) {
          if (!isKernelError(err)) throw err;
          refused.push(err.code);
        }
      }
      await platform.withTenant(contextOf(principal), async (tx) => {
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'insight.generated',
          target: { type: 'insight', id }, outcome: 'success',
          metadata: { providerId: g.providerId, promptTokens: g.promptTokens, completionTokens: g.completionTokens, redaction: g.redaction,
            proposed: created.length, discarded: refused.length + malformed, refusals: refused, knowledgeEntries: ids.length },
        });
      });
      return { id, text, proposals: created, discarded: refused.length + malformed, usage: { promptTokens: g.promptTokens, completionTokens: g.completionTokens } };
    },

    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<InsightRow & { cursor_ts: string; proposals: number }>(contextOf(principal), sql`
        SELECT i.id, i.provider_id, i.output_sealed, ${wrappedKeyFor(sql`i.tenant_id`, sql`i.output_sealed`)} AS wrapped, i.created_by, i.created_at,
          i.created_at::text AS cursor_ts,
          (SELECT count(*)::int FROM action_approvals a WHERE a.insight_id = i.id) AS proposals
        FROM insights i
        ${after ? sql`WHERE (i.created_at, i.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY i.created_at DESC, i.id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return {
        items: items.map((r) => ({
          id: r.id,
          providerId: r.provider_id,
          text: r.output_sealed ? openWithWrappedKey(platform.keyring, { tenantId: principal.tenantId, ...INSIGHT_CELL, rowId: r.id }, r.output_sealed, r.wrapped).toString('utf8') : null,
          proposals: r.proposals,
          createdBy: r.created_by,
          createdAt: new Date(r.created_at).toISOString(),
        })),
        nextCursor,
      };
    },
  };
}
