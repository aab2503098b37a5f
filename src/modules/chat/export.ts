import { sql } from 'drizzle-orm';
import { notFound } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextWithPermissions, type Principal } from '../../kernel/auth/principal.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { messageColumns, roomView, stateOf, type MessageRow, type RoomRow } from './service.ts';

/**
 * A room's whole history for a tenant admin (the seed's "conversation
 * exports"): oldest first, removed messages included with their moderation
 * reason, in pages of up to 5,000. Step-up and the `export` rate class are the
 * route's; each page is an audit event written in the transaction that read it.
 */
export function createExports(platform: Platform) {
  return {
    async room(principal: Principal, roomId: string, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 5000;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      return platform.withTenant(contextWithPermissions(principal, ['chat:export']), async (tx) => {
        const [room] = await tx.query<RoomRow>(sql`
          SELECT r.id, r.kind, r.name, r.topic, r.created_by, r.created_at, r.created_at::text AS cursor_ts, NULL::uuid AS last_read_id, NULL AS my_role
          FROM chat_rooms r WHERE r.id = ${roomId}`);
        if (!room) throw notFound('room');
        const rows = await tx.query<MessageRow>(sql`
          SELECT ${messageColumns} FROM chat_messages m WHERE m.room_id = ${roomId}
          ${after ? sql`AND (m.created_at, m.id) > (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
          ORDER BY m.created_at, m.id LIMIT ${limit + 1}`);
        const { items, nextCursor } = creationCursor.page(rows, limit, (m) => ({ createdAt: m.cursor_ts, id: m.id }));
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'chat.room.exported',
          target: { type: 'chat_room', id: roomId }, outcome: 'success', metadata: { messages: items.length, continued: Boolean(after) },
        });
        return {
          room: roomView(room),
          exportedAt: new Date().toISOString(),
          messages: items.map((m) => ({
            id: m.id, authorId: m.author_id, text: m.text, state: stateOf(m), createdAt: m.created_at.toISOString(),
            editedAt: m.edited_at?.toISOString() ?? null, moderationReason: m.moderation_reason,
          })),
          nextCursor,
        };
      });
    },
  };
}
