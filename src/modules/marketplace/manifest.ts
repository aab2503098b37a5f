import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { marketplaceRoutes } from './routes.ts';
import { eraseMarketplaceSubject, exportMarketplaceSubject } from './service.ts';

/** The module marketplace: catalogue, installs as scoped machine principals, module insights (issue #16 §3). */
export const marketplaceModule = defineModule({
  name: 'marketplace',
  description: 'Installable modules, each granted exactly the permissions and event types it declares',
  api: { prefix: '/marketplace', plugin: marketplaceRoutes },
  permissions: [
    { key: 'marketplace:read', description: 'See the module catalogue, the tenant\'s installs and module insights (usage, last activity, scopes)', grantedTo: ['admin'] },
    { key: 'marketplace:manage', description: 'Install and uninstall modules (step-up), granting them their declared permissions (never beyond one\'s own)', grantedTo: ['admin'] },
  ],
  tables: [{ name: 'marketplace_installs', onTenantErasure: 'erase' }],
  auditEvents: ['marketplace.module_installed', 'marketplace.module_uninstalled'],
  webhookEvents: [
    { type: 'marketplace.module.installed', description: 'A module was installed for the tenant (with the scopes and event types it was granted)', permission: 'marketplace:read' },
    { type: 'marketplace.module.uninstalled', description: 'An installed module was uninstalled (its credential revoked)', permission: 'marketplace:read' },
  ],
  async eraseTenant(tx, tenantId) {
    // Before identity erases api_keys, which installs reference.
    const rows = await tx.query(sql`DELETE FROM marketplace_installs WHERE tenant_id = ${tenantId} RETURNING id`);
    return { marketplace_installs: rows.length };
  },
  exportSubject: async (tx, subject) => ({ installs: await exportMarketplaceSubject(tx, subject.tenantId, subject.userId) }),
  eraseSubject: async (tx, subject) => ({ marketplace_installs: await eraseMarketplaceSubject(tx, subject.tenantId, subject.userId) }),
});
