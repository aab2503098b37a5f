import { sql } from 'drizzle-orm';
import { erasePersonal, personalOf } from '../../kernel/audit/personal.ts';
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
    { name: 'translog_cosignatures', onTenantErasure: { retain: kept } },
    { name: 'platform_translog_cosignatures', onTenantErasure: { retain: 'the platform log' } },
    { name: 'audit_personal', onTenantErasure: 'erase' },
  ],
  auditEvents: ['access.denied', 'audit.exported', 'access_log.pruned', 'audit.log_key.rotated', 'audit.cosignature.stored', 'audit.cosignature.refused', 'audit.witness.conflict'],
  // The personal fields kept beside the log go with the tenant; the events (which only commit to them) stay.
  async eraseTenant(tx, tenantId) {
    const rows = await tx.query(sql`DELETE FROM audit_personal WHERE tenant_id = ${tenantId} RETURNING event_id`);
    return { audit_personal: rows.length };
  },
  async exportSubject(tx, subject) {
    const acted = await tx.query<{ id: string; occurred_at: Date; action: string; target_type: string | null; target_id: string | null; outcome: string }>(sql`
      SELECT id, occurred_at, action, target_type, target_id, outcome FROM audit_events
      WHERE tenant_id = ${subject.tenantId} AND ((actor_type = 'user' AND actor_id = ${subject.userId}) OR (target_type = 'user' AND target_id = ${subject.userId}))
      ORDER BY leaf_index`);
    const personal = await personalOf(tx, subject.tenantId, subject.userId, subject.email);
    return {
      events: acted.map((e) => ({ id: e.id, occurredAt: e.occurred_at.toISOString(), action: e.action, target: e.target_type === null ? null : { type: e.target_type, id: e.target_id }, outcome: e.outcome })),
      personalFields: personal.map((p) => ({ eventId: p.event_id, fields: p.fields })),
    };
  },
  // Events are evidence and stay (they hold the person's id only, a pseudonym once identity erased the account);
  // the cleartext beside them goes, and the leaves never change, so the log still verifies.
  async eraseSubject(tx, subject) {
    return { audit_personal: await erasePersonal(tx, subject.tenantId, subject.userId, subject.email) };
  },
});
