import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { jobsRoutes } from './routes.ts';

/** The tenant's view of the job system (jobs/): its dead letters, to list, retry or discard. */
export const jobsModule = defineModule({
  name: 'jobs',
  description: 'Failed background jobs of the tenant: dead letters',
  api: { prefix: '', plugin: jobsRoutes },
  permissions: [
    { key: 'jobs:manage', description: "List, retry and discard the tenant's failed background jobs", grantedTo: ['admin'] },
  ],
  tables: [
    { name: 'job_dead_letters', onTenantErasure: 'erase' },
    { name: 'job_completions', onTenantErasure: 'erase' },
    { name: 'job_outbox', onTenantErasure: 'erase' },
    { name: 'job_platform_dead_letters', onTenantErasure: { retain: 'platform jobs carry no tenant data' } },
  ],
  async eraseTenant(tx, tenantId) {
    // Dead letters hold job payloads (tenant data in clear); completion records are bookkeeping.
    const dead = await tx.query(sql`DELETE FROM job_dead_letters WHERE tenant_id = ${tenantId} RETURNING id`);
    const done = await tx.query(sql`DELETE FROM job_completions WHERE tenant_id = ${tenantId} RETURNING job_id`);
    // Outbox rows a transaction of the tenant wrote (and tenant jobs sent outside one): payloads of the tenant.
    const outbox = await tx.query(sql`DELETE FROM job_outbox WHERE tenant_id = ${tenantId} OR envelope->>'tenantId' = ${tenantId} RETURNING id`);
    return { job_dead_letters: dead.length, job_completions: done.length, job_outbox: outbox.length };
  },
});
