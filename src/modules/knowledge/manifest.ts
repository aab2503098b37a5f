import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { knowledgeRoutes } from './routes.ts';

/** Knowledge entries of a tenant: the smallest module, and the worked example of docs/architecture.md. */
export const knowledgeModule = defineModule({
  name: 'knowledge',
  description: 'Knowledge entries of a tenant',
  api: { prefix: '', plugin: knowledgeRoutes },
  permissions: [
    { key: 'knowledge:read', description: 'Read knowledge entries', grantedTo: ['viewer', 'member', 'admin'] },
    { key: 'knowledge:write', description: 'Create and edit knowledge entries', grantedTo: ['member', 'admin'] },
    { key: 'knowledge:delete', description: 'Delete knowledge entries', grantedTo: ['admin'] },
  ],
  tables: [{ name: 'knowledge_entries', onTenantErasure: 'erase' }],
  auditEvents: ['knowledge.deleted'],
  async eraseTenant(tx, tenantId) {
    const rows = await tx.query(sql`DELETE FROM knowledge_entries WHERE tenant_id = ${tenantId} RETURNING id`);
    return { knowledge_entries: rows.length };
  },
});
