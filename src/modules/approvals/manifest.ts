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
});
