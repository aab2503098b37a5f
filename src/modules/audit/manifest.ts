import { defineModule } from '../manifest.ts';
import { auditRoutes } from './routes.ts';

const kept = 'tamper evidence outlives the tenant: the log stays verifiable and holds no secret';

/** The audit trail, access logs and transparency logs (kernel/audit, kernel/translog) as the API shows them. */
export const auditModule = defineModule({
  name: 'audit',
  description: 'Audit events, their export, and the tenant transparency log with its proofs',
  api: { prefix: '', plugin: auditRoutes },
  permissions: [
    { key: 'audit:read', description: 'Read audit events, checkpoints and proofs of the tenant\'s log', grantedTo: ['admin'] },
    { key: 'audit:export', description: 'Download audit events (JSON Lines, CSV); needs a fresh second factor', grantedTo: ['admin'] },
  ],
  tables: [
    { name: 'audit_events', onTenantErasure: { retain: kept } },
    { name: 'translog_nodes', onTenantErasure: { retain: kept } },
    { name: 'translog_heads', onTenantErasure: { retain: kept } },
    { name: 'translog_checkpoints', onTenantErasure: { retain: kept } },
    { name: 'access_logs', onTenantErasure: { retain: 'evidence of access; pruned by retention (ocsuite access-log prune)' } },
    { name: 'platform_audit_events', onTenantErasure: { retain: 'the platform log' } },
    { name: 'platform_translog_nodes', onTenantErasure: { retain: 'the platform log' } },
    { name: 'platform_translog_heads', onTenantErasure: { retain: 'the platform log' } },
    { name: 'platform_translog_checkpoints', onTenantErasure: { retain: 'the platform log' } },
    { name: 'platform_access_logs', onTenantErasure: { retain: 'evidence of access; pruned by retention' } },
    { name: 'translog_keys', onTenantErasure: { retain: 'the checkpoint signing key' } },
    { name: 'translog_key_retirements', onTenantErasure: { retain: kept } },
  ],
  auditEvents: ['access.denied', 'audit.exported', 'access_log.pruned', 'audit.log_key.rotated'],
});
