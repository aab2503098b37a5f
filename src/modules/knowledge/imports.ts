import { sql } from 'drizzle-orm';
import { auditActorOf, recordAuditEvent, recordAuditEventNow } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { isKernelError } from '../../kernel/errors.ts';
import type { Platform } from '../../kernel/platform.ts';
import { parseImport, screenImport, type ImportFile, type IngestPolicy } from './ingest.ts';

/**
 * Bulk import: the limits, the parse and the redaction scan all run before the one transaction
 * that writes every entry, so an import is all or nothing. Accepted imports and refusals are
 * audited (counts and rule names only: never a matched value).
 */
export function createKnowledgeImports(platform: Platform) {
  const settings = {
    async get(principal: Principal): Promise<{ ingestPolicy: IngestPolicy }> {
      const [row] = await platform.queryAsTenant<{ ingest_policy: IngestPolicy }>(contextOf(principal), sql`SELECT ingest_policy FROM knowledge_settings`);
      return { ingestPolicy: row?.ingest_policy ?? 'reject' };
    },
    async set(principal: Principal, input: { ingestPolicy: IngestPolicy }) {
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [before] = await tx.query<{ ingest_policy: IngestPolicy }>(sql`SELECT ingest_policy FROM knowledge_settings`);
        await tx.query(sql`
          INSERT INTO knowledge_settings (tenant_id, ingest_policy, updated_by) VALUES (${principal.tenantId}, ${input.ingestPolicy}, ${principal.userId ?? null})
          ON CONFLICT (tenant_id) DO UPDATE SET ingest_policy = EXCLUDED.ingest_policy, updated_by = EXCLUDED.updated_by, updated_at = now()`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'knowledge.settings.changed',
          target: { type: 'knowledge_settings' }, outcome: 'success', metadata: { ingestPolicy: input.ingestPolicy, was: before?.ingest_policy ?? 'reject' },
        });
        return { ingestPolicy: input.ingestPolicy };
      });
    },
  };

  return {
    settings,
    async import(principal: Principal, files: ImportFile[]) {
      const { ingestPolicy } = await settings.get(principal);
      let screened: ReturnType<typeof screenImport>;
      try {
        screened = screenImport(parseImport(files), ingestPolicy);
      } catch (err) {
        if (isKernelError(err)) {
          const ext = (err.extensions ?? {}) as { findings?: { kind: string }[] };
          await recordAuditEventNow(platform, {
            tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'knowledge.import.refused', outcome: 'failure',
            reason: err.kind, metadata: { files: files.length, policy: ingestPolicy, kinds: [...new Set((ext.findings ?? []).map((f) => f.kind))] },
          }).catch((e: unknown) => platform.log.warn({ err: (e as Error).message }, 'refused knowledge import not audited'));
        }
        throw err;
      }
      const { entries, findings } = screened;
      const byKind: Record<string, number> = {};
      for (const f of findings) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
      const ids = await platform.withTenant(contextOf(principal), async (tx) => {
        const rows = await tx.query<{ id: string }>(sql`
          INSERT INTO knowledge_entries (tenant_id, title, body, tags, created_by, updated_by)
          SELECT ${principal.tenantId}, e.title, e.body, ARRAY(SELECT jsonb_array_elements_text(e.tags)), ${principal.userId ?? null}, ${principal.userId ?? null}
          FROM unnest(${sql.param(entries.map((e) => e.title))}::text[], ${sql.param(entries.map((e) => e.body))}::text[],
                      ${sql.param(entries.map((e) => JSON.stringify(e.tags)))}::jsonb[]) WITH ORDINALITY AS e(title, body, tags, ord)
          ORDER BY e.ord
          RETURNING id`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'knowledge.imported', outcome: 'success',
          target: { type: 'knowledge_import' }, metadata: { files: files.length, entries: rows.length, policy: ingestPolicy, redacted: byKind },
        });
        return rows.map((r) => r.id);
      });
      return {
        imported: ids.length,
        ids,
        policy: ingestPolicy,
        redactions: findings.map((f) => ({ file: f.file, entry: f.entry, field: f.field, kind: f.kind })),
      };
    },
  };
}
