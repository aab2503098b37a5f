import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { publishDraftAction, shareDraftAction } from './actions.ts';
import { contentRoutes } from './routes.ts';

const TABLES = ['content_drafts', 'content_providers', 'content_usage', 'content_settings'] as const;

/** The content generator: redacted prompts, metered model calls, rule-checked outputs (docs/content.md). */
export const contentModule = defineModule({
  name: 'content',
  description: 'Template and model drafts through an OpenAI-compatible or offline provider, with redaction, quotas and content rules',
  api: { prefix: '/content', plugin: contentRoutes },
  permissions: [
    { key: 'content:read', description: 'Read content settings, providers (without keys), usage and drafts', grantedTo: ['viewer', 'member', 'admin'] },
    { key: 'content:write', description: 'Create drafts from templates or a model (spends the tenant\'s token quota)', grantedTo: ['member', 'admin'] },
    { key: 'content:manage', description: 'Configure providers and their keys, the PII policy, storage, content rules and the quota', grantedTo: ['admin'] },
    { key: 'content:publish', description: 'Approve and run the publication of a draft (action content.draft.publish)', grantedTo: ['admin'] },
    { key: 'content:share', description: 'Approve and run emailing a draft to members (action content.draft.share)', grantedTo: ['admin'] },
  ],
  tables: TABLES.map((name) => ({ name, onTenantErasure: 'erase' as const })),
  sealedColumns: [
    { table: 'content_providers', column: 'key_sealed', idColumn: 'id', idType: 'uuid', scope: 'tenant', owner: 'modules/content' },
    { table: 'content_drafts', column: 'prompt_sealed', idColumn: 'id', idType: 'uuid', scope: 'tenant', owner: 'modules/content' },
    { table: 'content_drafts', column: 'output_sealed', idColumn: 'id', idType: 'uuid', scope: 'tenant', owner: 'modules/content' },
  ],
  auditEvents: [
    'content.settings_updated', 'content.provider_created', 'content.provider_deleted',
    'content.draft_created', 'content.draft_published', 'content.draft_shared',
  ],
  actions: [publishDraftAction, shareDraftAction],
  async eraseTenant(tx, tenantId) {
    const counts: Record<string, number> = {};
    for (const table of TABLES) {
      const rows = await tx.query(sql`DELETE FROM ${sql.identifier(table)} WHERE tenant_id = ${tenantId} RETURNING 1`);
      counts[table] = rows.length;
    }
    return counts;
  },
  async exportSubject(tx, subject) {
    const drafts = await tx.query<{ id: string; kind: string; title: string; status: string; created_at: Date; published_at: Date | null }>(sql`
      SELECT id, kind, title, status, created_at, published_at FROM content_drafts
      WHERE tenant_id = ${subject.tenantId} AND (created_by = ${subject.userId} OR published_by = ${subject.userId}) ORDER BY created_at, id`);
    const providers = await tx.query<{ id: string; name: string; created_at: Date }>(sql`
      SELECT id, name, created_at FROM content_providers WHERE tenant_id = ${subject.tenantId} AND created_by = ${subject.userId} ORDER BY created_at, id`);
    return {
      drafts: drafts.map((d) => ({ id: d.id, kind: d.kind, title: d.title, status: d.status, createdAt: d.created_at.toISOString(), publishedAt: d.published_at?.toISOString() ?? null })),
      providersCreated: providers.map((p) => ({ id: p.id, name: p.name, createdAt: p.created_at.toISOString() })),
    };
  },
  // Drafts are tenant content and stay (their sealed prompts and outputs go with the tenant key); the author link goes.
  async eraseSubject(tx, subject) {
    const created = await tx.query(sql`UPDATE content_drafts SET created_by = NULL WHERE tenant_id = ${subject.tenantId} AND created_by = ${subject.userId} RETURNING id`);
    const published = await tx.query(sql`UPDATE content_drafts SET published_by = NULL WHERE tenant_id = ${subject.tenantId} AND published_by = ${subject.userId} RETURNING id`);
    const providers = await tx.query(sql`UPDATE content_providers SET created_by = NULL WHERE tenant_id = ${subject.tenantId} AND created_by = ${subject.userId} RETURNING id`);
    return { content_drafts: created.length + published.length, content_providers: providers.length };
  },
});
