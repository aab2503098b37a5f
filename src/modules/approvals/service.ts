import { sql } from 'drizzle-orm';
import { conflict, forbidden, notFound } from '../../http/problem.ts';
import type { ActionDeclaration } from '../../kernel/actions/registry.ts';
import { auditActorOf, recordAuditEvent, recordAuditEventNow } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { isKernelError } from '../../kernel/errors.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createWebhookPublisher } from '../webhooks/publish.ts';

/** How long a proposal waits for a decision before the schedule expires it. */
export const APPROVAL_TTL_HOURS = 72;

type Status = 'pending' | 'approved' | 'rejected' | 'expired';

interface ApprovalRow {
  id: string;
  action_type: string;
  payload: unknown;
  summary: string;
  risk: 'low' | 'high';
  origin: 'user' | 'model';
  insight_id: string | null;
  status: Status;
  requested_by: string | null;
  decided_by: string | null;
  decided_at: Date | null;
  decision_note: string | null;
  executed_at: Date | null;
  execution_outcome: 'succeeded' | 'failed' | null;
  execution_result: Record<string, unknown> | null;
  expires_at: Date;
  created_at: Date;
}

const columns = sql`id, action_type, payload, summary, risk, origin, insight_id, status, requested_by, decided_by, decided_at, decision_note,
  executed_at, execution_outcome, execution_result, expires_at, created_at`;
const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export const approvalView = (r: ApprovalRow) => ({
  id: r.id,
  actionType: r.action_type,
  payload: r.payload,
  summary: r.summary,
  risk: r.risk,
  origin: r.origin,
  insightId: r.insight_id,
  status: r.status,
  requestedBy: r.requested_by,
  decidedBy: r.decided_by,
  decidedAt: iso(r.decided_at),
  decisionNote: r.decision_note,
  executedAt: iso(r.executed_at),
  executionOutcome: r.execution_outcome,
  executionResult: r.execution_result,
  expiresAt: iso(r.expires_at)!,
  createdAt: iso(r.created_at)!,
});
export type ApprovalView = ReturnType<typeof approvalView>;

/** The webhook event of a decision (manifest `webhookEvents`): what approvals:read shows, without the action's payload. */
export const DECIDED_EVENT = 'approvals.approval.decided';
const decisionData = (r: ApprovalRow) => ({
  id: r.id, actionType: r.action_type, summary: r.summary, risk: r.risk, origin: r.origin, status: r.status,
  requestedBy: r.requested_by, decidedBy: r.decided_by, decidedAt: iso(r.decided_at), decisionNote: r.decision_note,
});

export interface ProposalInput {
  type: unknown;
  payload: unknown;
  origin: 'user' | 'model';
  insightId?: string | undefined;
}

/**
 * ActionApprovals: the only way a registered action runs. A proposal (from a
 * user or parsed from a model's answer) is checked against the registry's
 * schema and the action's own tenant checks, and gets its risk from the action
 * — never from whoever proposed it. Approval needs a user who holds the
 * action's permission, and for high risk one who is not the requester
 * (four-eyes, also a CHECK in the schema). The approver's principal runs the
 * action; every step is audited and the execution names its approval.
 */
export function createApprovalsService(platform: Platform) {
  const registry = platform.actions;
  const webhooks = createWebhookPublisher(platform);

  const requireUser = (principal: Principal) => {
    if (principal.kind !== 'user' || !principal.userId) throw forbidden('Approvals are requested and decided by people, not API keys.');
    return principal.userId;
  };

  async function refuse(principal: Principal, row: ApprovalRow, reason: string, detail: string): Promise<never> {
    await recordAuditEventNow(platform, {
      tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'approval.refused',
      target: { type: 'action_approval', id: row.id }, outcome: 'failure', reason,
      metadata: { actionType: row.action_type, risk: row.risk },
    });
    throw forbidden(detail);
  }

  async function load(principal: Principal, id: string): Promise<ApprovalRow> {
    const [row] = await platform.queryAsTenant<ApprovalRow>(contextOf(principal), sql`SELECT ${columns} FROM action_approvals WHERE id = ${id.toLowerCase()}`);
    if (!row) throw notFound('approval');
    return row;
  }

  async function execute(principal: Principal, row: ApprovalRow, action: ActionDeclaration<unknown, Platform>): Promise<void> {
    let outcome: 'succeeded' | 'failed' = 'succeeded';
    let result: Record<string, unknown>;
    try {
      result = await action.execute(platform, principal, row.payload, row.id);
    } catch (err) {
      outcome = 'failed';
      result = { error: isKernelError(err) ? err.code : 'OCS_INTERNAL' };
      if (!isKernelError(err)) platform.log.error({ err: { message: (err as Error).message }, approvalId: row.id }, 'approved action failed');
    }
    await platform.withTenant(contextOf(principal), async (tx) => {
      await tx.query(sql`UPDATE action_approvals SET executed_at = now(), execution_outcome = ${outcome}, execution_result = ${JSON.stringify(result)}::jsonb
        WHERE id = ${row.id} AND status = 'approved' AND executed_at IS NULL`);
      await recordAuditEvent(tx, {
        tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'approval.executed',
        target: { type: 'action_approval', id: row.id }, outcome: outcome === 'succeeded' ? 'success' : 'failure',
        metadata: { approvalId: row.id, actionType: row.action_type, risk: row.risk, result },
      });
    });
  }

  return {
    /** A proposal becomes a pending approval, or is refused with a problem (nothing stored). */
    async propose(principal: Principal, input: ProposalInput): Promise<ApprovalView> {
      const userId = requireUser(principal);
      const { action, payload } = registry.parse(input.type, input.payload);
      await action.validate?.(platform, principal, payload);
      const risk = action.risk(payload);
      const summary = (action.summarize?.(payload) ?? action.description).slice(0, 500);
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [row] = await tx.query<ApprovalRow>(sql`
          INSERT INTO action_approvals (tenant_id, action_type, payload, summary, risk, origin, insight_id, requested_by, expires_at)
          VALUES (${principal.tenantId}, ${action.type}, ${JSON.stringify(payload)}::jsonb, ${summary}, ${risk}, ${input.origin}, ${input.insightId ?? null},
                  ${userId}, now() + make_interval(hours => ${APPROVAL_TTL_HOURS}))
          RETURNING ${columns}`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'approval.requested',
          target: { type: 'action_approval', id: row!.id }, outcome: 'success',
          metadata: { actionType: action.type, risk, origin: input.origin, insightId: input.insightId ?? null },
        });
        return approvalView(row!);
      });
    },

    async list(principal: Principal, q: { status?: Status | undefined; limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<ApprovalRow & { cursor_ts: string }>(contextOf(principal), sql`
        SELECT ${columns}, created_at::text AS cursor_ts FROM action_approvals
        WHERE true
        ${q.status ? sql`AND status = ${q.status}` : sql``}
        ${after ? sql`AND (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(approvalView), nextCursor };
    },

    get: async (principal: Principal, id: string) => approvalView(await load(principal, id)),

    async approve(principal: Principal, id: string, note: string | undefined): Promise<ApprovalView> {
      const userId = requireUser(principal);
      const row = await load(principal, id);
      if (row.status !== 'pending') throw conflict(`The approval is ${row.status}.`);
      if (new Date(row.expires_at).getTime() <= Date.now()) throw conflict('The approval has expired.');
      const action = registry.get(row.action_type);
      if (!action) throw conflict('The action is no longer available in this build.');
      if (!principal.permissions.has(action.permission as never)) {
        await refuse(principal, row, 'missing-permission', `Approving ${row.action_type} needs the permission ${action.permission}.`);
      }
      if (row.risk === 'high' && row.requested_by === userId) {
        await refuse(principal, row, 'four-eyes', 'A high-risk action needs an approver other than its requester.');
      }
      // The payload is checked again at decision time: the tenant may have changed since the proposal.
      const { payload } = registry.parse(row.action_type, row.payload);
      await action.validate?.(platform, principal, payload);
      const decided = await platform.withTenant(contextOf(principal), async (tx) => {
        const [updated] = await tx.query<ApprovalRow>(sql`
          UPDATE action_approvals SET status = 'approved', decided_by = ${userId}, decided_at = now(), decision_note = ${note ?? null}
          WHERE id = ${row.id} AND status = 'pending' AND expires_at > now()
          RETURNING ${columns}`);
        if (!updated) return null;
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'approval.approved',
          target: { type: 'action_approval', id: row.id }, outcome: 'success',
          metadata: { actionType: row.action_type, risk: row.risk, requestedBy: row.requested_by },
        });
        await webhooks.publishIn(tx, principal.tenantId, DECIDED_EVENT, decisionData(updated));
        return updated;
      });
      if (!decided) throw conflict('The approval was decided or expired meanwhile.');
      await execute(principal, decided, action);
      return approvalView(await load(principal, row.id));
    },

    async reject(principal: Principal, id: string, note: string | undefined): Promise<ApprovalView> {
      const userId = requireUser(principal);
      const row = await load(principal, id);
      if (row.status !== 'pending') throw conflict(`The approval is ${row.status}.`);
      const action = registry.get(row.action_type);
      // The requester may withdraw their own proposal; anyone else needs the action's permission.
      if (row.requested_by !== userId && action && !principal.permissions.has(action.permission as never)) {
        await refuse(principal, row, 'missing-permission', `Rejecting ${row.action_type} needs the permission ${action.permission}.`);
      }
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [updated] = await tx.query<ApprovalRow>(sql`
          UPDATE action_approvals SET status = 'rejected', decided_by = ${userId}, decided_at = now(), decision_note = ${note ?? null}
          WHERE id = ${row.id} AND status = 'pending' RETURNING ${columns}`);
        if (!updated) throw conflict('The approval was decided meanwhile.');
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'approval.rejected',
          target: { type: 'action_approval', id: row.id }, outcome: 'success', metadata: { actionType: row.action_type, risk: row.risk },
        });
        await webhooks.publishIn(tx, principal.tenantId, DECIDED_EVENT, decisionData(updated));
        return approvalView(updated);
      });
    },
  };
}

/**
 * The expiry schedule: overdue pending approvals become `expired`, each in its
 * own tenant transaction with its audit event. Approval itself also refuses an
 * overdue one, so correctness never waits for this job.
 */
export async function expireOverdueApprovals(platform: Platform, limit = 500): Promise<number> {
  const overdue = await platform.withMaintenance((tx) => tx.query<{ tenant_id: string; id: string }>(sql`
    SELECT tenant_id, id FROM action_approvals WHERE status = 'pending' AND expires_at <= now() ORDER BY expires_at LIMIT ${limit}`));
  let expired = 0;
  for (const { tenant_id: tenantId, id } of overdue) {
    expired += await platform.withTenant({ tenantId }, async (tx) => {
      const rows = await tx.query<{ action_type: string }>(sql`
        UPDATE action_approvals SET status = 'expired', decided_at = now() WHERE id = ${id} AND status = 'pending' AND expires_at <= now()
        RETURNING action_type`);
      if (rows.length === 0) return 0;
      await recordAuditEvent(tx, {
        tenantId, actor: { type: 'system', id: 'schedule:approvals-expire' }, action: 'approval.expired',
        target: { type: 'action_approval', id }, outcome: 'success', metadata: { actionType: rows[0]!.action_type },
      });
      return 1;
    });
  }
  return expired;
}

