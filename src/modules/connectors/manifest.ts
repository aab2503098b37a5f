import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { connectorsRoutes } from './routes.ts';

/** Third-party credentials of a tenant, sealed with its data key; write-only after creation. */
export const connectorsModule = defineModule({
  name: 'connectors',
  description: 'Sealed third-party credentials (tokens, keys) with metadata and fingerprints',
  api: { prefix: '', plugin: connectorsRoutes },
  permissions: [
    { key: 'connectors:read', description: 'List connectors: metadata, fingerprint and last four characters only', grantedTo: ['admin'] },
    { key: 'connectors:manage', description: 'Store, rotate and delete third-party credentials (write-only secrets)', grantedTo: ['admin'] },
  ],
  tables: [{ name: 'connectors', onTenantErasure: 'erase' }],
  sealedColumns: [{ table: 'connectors', column: 'secret_sealed', idColumn: 'id', idType: 'uuid', scope: 'tenant', owner: 'modules/connectors' }],
  auditEvents: ['connector.created', 'connector.updated', 'connector.secret_rotated', 'connector.secret_used', 'connector.deleted'],
  async eraseTenant(tx, tenantId) {
    // Already unreadable once the tenant's keys are shredded; the rows go too.
    const rows = await tx.query(sql`DELETE FROM connectors WHERE tenant_id = ${tenantId} RETURNING id`);
    return { connectors: rows.length };
  },
});
