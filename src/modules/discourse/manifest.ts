import { sql } from 'drizzle-orm';
import { onMemberSessionsEnded } from '../identity/member-signals.ts';
import { defineModule } from '../manifest.ts';
import type { Platform } from '../../kernel/platform.ts';
import { CELLS, TABLE } from './config-service.ts';
import { createLogoutHandler, enqueueLogout, LOGOUT_QUEUE, parseLogoutJob } from './logout-sync.ts';
import { discoursePublicRoutes } from './public-routes.ts';
import { discourseRoutes } from './routes.ts';

// Removed members and administrator-ended sessions are logged out of Discourse too (a job with retries).
onMemberSessionsEnded(enqueueLogout);

const sealed = (column: string) => ({ table: TABLE, column, idColumn: 'id', idType: 'uuid' as const, scope: 'tenant' as const, owner: 'modules/discourse' });

/** DiscourseConnect provider: the tenant's forum signs people in here and learns only what the mapping allows. */
export const discourseModule = defineModule({
  name: 'discourse',
  description: 'DiscourseConnect single sign-on for a tenant forum, with an explicit group/admin mapping and logout sync',
  api: { prefix: '', plugin: discourseRoutes },
  publicRoutes: discoursePublicRoutes,
  permissions: [
    { key: 'discourse:manage', description: 'Configure DiscourseConnect: forum origin, shared secret, group and admin mapping, logout-sync API key', grantedTo: ['admin'] },
  ],
  tables: [
    { name: 'discourse_integrations', onTenantErasure: 'erase' },
    { name: 'discourse_nonces', onTenantErasure: 'erase' },
  ],
  sealedColumns: [sealed(CELLS.secret), sealed(CELLS.idKey), sealed(CELLS.apiKey)],
  auditEvents: [
    'discourse.integration_created', 'discourse.integration_updated', 'discourse.integration_deleted',
    'discourse.sso_signed_in', 'discourse.sso_refused', 'discourse.logout_synced',
  ],
  async jobs(platform: Platform) {
    await platform.jobs.define(LOGOUT_QUEUE, createLogoutHandler(platform), { parse: parseLogoutJob });
  },
  async eraseTenant(tx, tenantId) {
    const nonces = await tx.query(sql`DELETE FROM discourse_nonces WHERE tenant_id = ${tenantId} RETURNING tenant_id`);
    const integrations = await tx.query(sql`DELETE FROM discourse_integrations WHERE tenant_id = ${tenantId} RETURNING id`);
    return { discourse_integrations: integrations.length, discourse_nonces: nonces.length };
  },
});
