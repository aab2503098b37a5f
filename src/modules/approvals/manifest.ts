import { sql } from 'drizzle-orm';
import type { Platform } from '../../kernel/platform.ts';
import { defineModule } from '../manifest.ts';
import { approvalsRoutes } from './routes.ts';
import { expireOverdueApprovals } from './service.ts';

/** Insights and human approval of proposed actions (docs/content.md, "Approvals"). */
export const approvalsModule = defineModule({
  name: 'approvals',
  description: 'Insights over tenant knowledge and the ActionApproval workflow (pending → approved / rejected / expired, four-eyes for high risk)',
  api: { prefix: '', plugin: approvalsRoutes },
  permissions: [
    { key: 'insights:generate', description: 'Ask the model about knowledge entries (spends the token quota; proposals become pending approvals)', grantedTo: ['member', 'admin'] },
    { key: 'insights:read', description: 'Read past insights', grantedTo: ['viewer', 'member', 'admin'] },
    { key: 'approvals:read', description: 'Read action approvals and the registered actions', grantedTo: ['viewer', 'member', 'admin'] },
    { key: 'approvals:request', description: 'Propose a registered action for approval', grantedTo: ['member', 'admin'] },
    { key: 'approvals:decide', description: 'Approve or reject actions (the action\'s own permission is needed as well)', grantedTo: ['admin'] },
  ],
  tables: [
    { name: 'action_approvals', onTenantErasure: 'erase' },
    { name: 'insights', onTenantErasure: 'erase' },
  ],
  sealedColumns: [{ table: 'insights', column: 'output_sealed', idColumn: 'id', idType: 'uuid', scope: 'tenant', owner: 'modules/approvals' }],
  auditEvents: ['insight.generated', 'approval.requested', 'approval.approved', 'approval.rejected', 'approval.refused', 'approval.executed', 'approval.expired'],
  webhookEvents: [
    { type: 'approvals.approval.decided', description: 'A proposed action was approved or rejected (status says which)', permission: 'approvals:read' },
  ],
  schedules: [{
    name: 'approvals-expire',
    cron: '* * * * *',
    description: 'Expire pending action approvals past their deadline',
    handler: (platform) => async () => {
      await expireOverdueApprovals(platform as Platform);
    },
  }],
  async eraseTenant(tx, tenantId) {
    const approvals = await tx.query(sql`DELETE FROM action_approvals WHERE tenant_id = ${tenantId} RETURNING 1`);
    const insights = await tx.query(sql`DELETE FROM insights WHERE tenant_id = ${tenantId} RETURNING 1`);
    return { action_approvals: approvals.length, insights: insights.length };
  },
  async exportSubject(tx, subject) {
    const approvals = await tx.query<{ id: string; action_type: string; summary: string; status: string; requested_by: string | null; decided_by: string | null; decision_note: string | null; created_at: Date; decided_at: Date | null }>(sql`
      SELECT id, action_type, summary, status, requested_by, decided_by, decision_note, created_at, decided_at FROM action_approvals
      WHERE tenant_id = ${subject.tenantId} AND (requested_by = ${subject.userId} OR decided_by = ${subject.userId}) ORDER BY created_at, id`);
    const insights = await tx.query<{ id: string; created_at: Date }>(sql`
      SELECT id, created_at FROM insights WHERE tenant_id = ${subject.tenantId} AND created_by = ${subject.userId} ORDER BY created_at, id`);
    return {
      approvals: approvals.map((a) => ({
        id: a.id, actionType: a.action_type, summary: a.summary, status: a.status, requested: a.requested_by === subject.userId,
        decided: a.decided_by === subject.userId, decisionNote: a.decided_by === subject.userId ? a.decision_note : null,
        createdAt: a.created_at.toISOString(), decidedAt: a.decided_at?.toISOString() ?? null,
      })),
      insightsAsked: insights.map((i) => ({ id: i.id, createdAt: i.created_at.toISOString() })),
    };
  },
  // Approvals are the tenant's decision record and stay without the person's id on them (four-eyes holds:
  // only one side of a decision is ever the same person, so the other stays set).
  async eraseSubject(tx, subject) {
    const requested = await tx.query(sql`UPDATE action_approvals SET requested_by = NULL WHERE tenant_id = ${subject.tenantId} AND requested_by = ${subject.userId} RETURNING id`);
    const decided = await tx.query(sql`UPDATE action_approvals SET decided_by = NULL, decision_note = NULL WHERE tenant_id = ${subject.tenantId} AND decided_by = ${subject.userId} RETURNING id`);
    const insights = await tx.query(sql`UPDATE insights SET created_by = NULL WHERE tenant_id = ${subject.tenantId} AND created_by = ${subject.userId} RETURNING id`);
    return { action_approvals: requested.length + decided.length, insights: insights.length };
  },
});
