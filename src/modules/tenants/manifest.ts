import { defineModule } from '../manifest.ts';
import { tenantRoutes } from './routes.ts';

/** The tenant itself: deletion by crypto-shredding its data keys, then every module's erasure. */
export const tenantsModule = defineModule({
  name: 'tenants',
  description: 'The tenant: deletion by crypto-shredding, and its data keys',
  api: { prefix: '', plugin: tenantRoutes },
  permissions: [
    { key: 'tenant:delete', description: 'Delete the tenant: shreds its keys and erases its data (owners only by default)', grantedTo: [] },
    { key: 'keys:read', description: 'See the tenant\'s data-key versions, their state and dates (never key material)', grantedTo: ['admin'] },
  ],
  tables: [
    { name: 'tenants', onTenantErasure: { retain: 'a tombstone (no name) that the kept audit log references' } },
    { name: 'tenant_data_keys', onTenantErasure: { retain: 'destroyed by the shred itself before any module erases: rows of destroyed versions only' } },
    { name: 'master_keys', onTenantErasure: { retain: 'platform master-key registry' } },
    { name: 'key_rotation_runs', onTenantErasure: { retain: 'platform rotation bookkeeping' } },
  ],
  auditEvents: ['tenant.deleted', 'tenant.erased', 'keys.master_rotated', 'keys.tenant_rotated'],
});
