import { sql } from 'drizzle-orm';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { notFound } from '../../http/problem.ts';
import type { Platform } from '../../kernel/platform.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';

interface EntryRow {
  id: string;
  title: string;
  body: string;
  tags: string[];
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
  cursor_ts: string;
}

const columns = sql`id, title, body, tags, created_by, created_at, updated_at, created_at::text AS cursor_ts`;

const view = (r: EntryRow) => ({
  id: r.id,
  title: r.title,
  body: r.body,
  tags: r.tags,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/**
 * Knowledge entries. Every statement runs inside withTenant, so RLS scopes it to
 * the caller's tenant even where a query forgets to; the queries never take a
 * tenant id from input.
 */
export function createKnowledgeService(platform: Platform) {

  return {
    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined; tag?: string | undefined }) {
      const limit = q.limit ?? 20;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<EntryRow>(contextOf(principal), sql`
          SELECT ${columns} FROM knowledge_entries
          WHERE true
          ${after ? sql`AND (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
          ${q.tag ? sql`AND ${q.tag} = ANY (tags)` : sql``}
          ORDER BY created_at DESC, id DESC
          LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(view), nextCursor };
    },

    async get(principal: Principal, id: string) {
      const [row] = await platform.queryAsTenant<EntryRow>(contextOf(principal), sql`SELECT ${columns} FROM knowledge_entries WHERE id = ${id}`);
      if (!row) throw notFound('knowledge entry');
      return view(row);
    },

    async create(principal: Principal, input: { title: string; body: string; tags?: string[] | undefined }) {
      const [row] = await platform.queryAsTenant<EntryRow>(contextOf(principal), sql`
          INSERT INTO knowledge_entries (tenant_id, title, body, tags, created_by, updated_by)
          VALUES (${principal.tenantId}, ${input.title}, ${input.body}, ${sql.param(input.tags ?? [])}::text[], ${principal.userId}, ${principal.userId})
          RETURNING ${columns}`);
      return view(row!);
    },

    async update(principal: Principal, id: string, input: { title?: string | undefined; body?: string | undefined; tags?: string[] | undefined }) {
      const [row] = await platform.queryAsTenant<EntryRow>(contextOf(principal), sql`
          UPDATE knowledge_entries SET
            title = coalesce(${input.title ?? null}, title),
            body = coalesce(${input.body ?? null}, body),
            tags = coalesce(${sql.param(input.tags ?? null)}::text[], tags),
            updated_by = ${principal.userId},
            updated_at = now()
          WHERE id = ${id}
          RETURNING ${columns}`);
      if (!row) throw notFound('knowledge entry');
      return view(row);
    },

    async remove(principal: Principal, id: string) {
      // A deletion is an admin action: it is audited in the same transaction.
      const rows = await platform.withTenant(contextOf(principal), async (tx) => {
        const deleted = await tx.query<{ id: string; title: string }>(sql`DELETE FROM knowledge_entries WHERE id = ${id} RETURNING id, title`);
        if (deleted.length > 0) {
          await recordAuditEvent(tx, {
            tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'knowledge.deleted',
            target: { type: 'knowledge_entry', id }, outcome: 'success', metadata: { title: deleted[0]!.title.slice(0, 120) },
          });
        }
        return deleted;
      });
      if (rows.length === 0) throw notFound('knowledge entry');
    },
  };
}
