import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { rolesRoutes } from './routes.ts';

/** The permission catalogue, tenant-defined roles and members' role sets (issue #11 §4). */
export const rolesModule = defineModule({
  name: 'roles',
  description: 'Custom roles: named sets of catalogued permissions, assigned to members',
  api: { prefix: '', plugin: rolesRoutes },
  permissions: [
    { key: 'roles:manage', description: 'Define, edit and delete custom roles (never with a permission one does not hold)', grantedTo: [] },
  ],
  tables: [
    { name: 'tenant_roles', onTenantErasure: 'erase' },
    { name: 'member_roles', onTenantErasure: 'erase' },
  ],
  auditEvents: ['role.created', 'role.updated', 'role.deleted', 'member.roles_changed'],
  async eraseTenant(tx, tenantId) {
    // Assignments first: a role in use cannot be deleted.
    const assigned = await tx.query(sql`DELETE FROM member_roles WHERE tenant_id = ${tenantId} RETURNING role_id`);
    const roles = await tx.query(sql`DELETE FROM tenant_roles WHERE tenant_id = ${tenantId} RETURNING id`);
    return { member_roles: assigned.length, tenant_roles: roles.length };
  },
});
