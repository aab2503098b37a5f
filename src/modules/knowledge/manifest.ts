import { sql } from 'drizzle-orm';
import type { Platform } from '../../kernel/platform.ts';
import { defineModule } from '../manifest.ts';
import { createExportHandler, EXPORT_QUEUE, parseExportJob } from './export.ts';
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
    { key: 'knowledge:import', description: 'Bulk-import JSON Lines and Markdown files (scanned for secrets and personal data)', grantedTo: ['admin'] },
    { key: 'knowledge:configure', description: 'Set the ingestion redaction policy', grantedTo: ['admin'] },
    { key: 'knowledge:export', description: 'Export every entry with a signed manifest (with step-up)', grantedTo: ['admin'] },
  ],
  tables: [
    { name: 'knowledge_entries', onTenantErasure: 'erase' },
    { name: 'knowledge_settings', onTenantErasure: 'erase' },
    { name: 'knowledge_exports', onTenantErasure: 'erase' },
  ],
  auditEvents: [
    'knowledge.deleted', 'knowledge.imported', 'knowledge.import.refused', 'knowledge.settings.changed',
    'knowledge.export.requested', 'knowledge.exported', 'knowledge.export.downloaded',
  ],
  async jobs(platform: Platform) {
    await platform.jobs.define(EXPORT_QUEUE, createExportHandler(platform), { parse: parseExportJob });
  },
  async eraseTenant(tx, tenantId) {
    const exports = await tx.query(sql`DELETE FROM knowledge_exports WHERE tenant_id = ${tenantId} RETURNING id`);
    const settings = await tx.query(sql`DELETE FROM knowledge_settings WHERE tenant_id = ${tenantId} RETURNING tenant_id`);
    const rows = await tx.query(sql`DELETE FROM knowledge_entries WHERE tenant_id = ${tenantId} RETURNING id`);
    return { knowledge_entries: rows.length, knowledge_settings: settings.length, knowledge_exports: exports.length };
  },
  async exportSubject(tx, subject) {
    const entries = await tx.query<{ id: string; title: string; created_at: Date; updated_at: Date }>(sql`
      SELECT id, title, created_at, updated_at FROM knowledge_entries
      WHERE tenant_id = ${subject.tenantId} AND (created_by = ${subject.userId} OR updated_by = ${subject.userId}) ORDER BY created_at, id`);
    const exports = await tx.query<{ id: string; created_at: Date }>(sql`
      SELECT id, created_at FROM knowledge_exports WHERE tenant_id = ${subject.tenantId} AND requested_by = ${subject.userId} ORDER BY created_at, id`);
    return {
      entriesWritten: entries.map((e) => ({ id: e.id, title: e.title, createdAt: e.created_at.toISOString(), updatedAt: e.updated_at.toISOString() })),
      exportsRequested: exports.map((e) => ({ id: e.id, createdAt: e.created_at.toISOString() })),
    };
  },
  async eraseSubject(tx, subject) {
    // The entries are tenant content and stay; the person's name comes off them.
    const created = await tx.query(sql`UPDATE knowledge_entries SET created_by = NULL WHERE tenant_id = ${subject.tenantId} AND created_by = ${subject.userId} RETURNING id`);
    const updated = await tx.query(sql`UPDATE knowledge_entries SET updated_by = NULL WHERE tenant_id = ${subject.tenantId} AND updated_by = ${subject.userId} RETURNING id`);
    const exports = await tx.query(sql`UPDATE knowledge_exports SET requested_by = NULL WHERE tenant_id = ${subject.tenantId} AND requested_by = ${subject.userId} RETURNING id`);
    await tx.query(sql`UPDATE knowledge_settings SET updated_by = NULL WHERE tenant_id = ${subject.tenantId} AND updated_by = ${subject.userId}`);
    return { knowledge_entries: created.length + updated.length, knowledge_exports: exports.length };
  },
});
