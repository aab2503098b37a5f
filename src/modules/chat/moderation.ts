import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { conflict, notFound } from '../../http/problem.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, contextWithPermissions, type Principal } from '../../kernel/auth/principal.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { isForeignKeyViolation, isUniqueViolation, userOf, visibleTo } from './access.ts';
import type { Publish } from './events.ts';
import { messageColumns, stateOf, type MessageRow } from './service.ts';

interface ReportRow {
  id: string;
  message_id: string;
  room_id: string;
  reporter_id: string | null;
  reason: string;
  status: string;
  created_at: Date;
  cursor_ts: string;
  author_id: string | null;
  text: string;
  deleted_at: Date | null;
  removed_by: 'author' | 'moderator' | null;
  hidden_at: Date | null;
}

interface SanctionRow {
  id: string;
  kind: string;
  user_id: string;
  room_id: string | null;
  until: Date | null;
  reason: string;
  created_at: Date;
}

const sanctionView = (s: SanctionRow) => ({
  id: s.id, kind: s.kind, userId: s.user_id, roomId: s.room_id, until: s.until?.toISOString() ?? null,
  reason: s.reason, createdAt: s.created_at.toISOString(),
});

/**
 * Reports, hiding and deleting messages, mutes and bans. Members report what
 * they can read; everything else needs chat:moderate (the route's policy), and
 * every action is an audit event of the tenant written in the transaction of
 * the change. Moderators act on the whole tenant's chat, private rooms
 * included, but read a private room's messages only through reports.
 */
export function createModeration(platform: Platform, publish: Publish) {
  // Moderation reads and changes private rooms' rows: the RLS policies of 0041 admit chat:moderate holders.
  const moderating = (p: Principal) => contextWithPermissions(p, ['chat:moderate']);
  const audit = (tx: Session, principal: Principal, action: string, target: { type: string; id: string }, metadata: Record<string, unknown>) =>
    recordAuditEvent(tx, { tenantId: principal.tenantId, actor: auditActorOf(principal), action, target, outcome: 'success', metadata });

  async function moderate(principal: Principal, messageId: string, reason: string, how: 'hide' | 'delete') {
    const moderator = userOf(principal);
    const row = await platform.withTenant(moderating(principal), async (tx) => {
      const [message] = await tx.query<MessageRow>(sql`
        UPDATE chat_messages AS m SET
          ${how === 'hide' ? sql`hidden_at = coalesce(m.hidden_at, now())` : sql`deleted_at = now(), removed_by = 'moderator'`},
          moderated_by = ${moderator}, moderation_reason = ${reason}
        WHERE m.id = ${messageId} RETURNING ${messageColumns}`);
      if (!message) throw notFound('message');
      await tx.query(sql`UPDATE chat_reports SET status = 'actioned' WHERE message_id = ${messageId} AND status = 'open'`);
      await audit(tx, principal, how === 'hide' ? 'chat.message.hidden' : 'chat.message.deleted', { type: 'chat_message', id: messageId },
        { roomId: message.room_id, authorId: message.author_id, reason: reason.slice(0, 200) });
      return message;
    });
    publish({ type: 'message-removed', tenantId: principal.tenantId, roomId: row.room_id, messageId, state: 'removed' });
    return { id: messageId, state: stateOf(row) };
  }

  async function sanction(principal: Principal, roomId: string, kind: 'mute' | 'ban',
    input: { userId: string; durationSeconds?: number | undefined; reason: string; scope?: 'room' | 'tenant' | undefined }) {
    const moderator = userOf(principal);
    const target = input.userId.toLowerCase();
    const tenantWide = input.scope === 'tenant';
    const row = await platform.withTenant(moderating(principal), async (tx) => {
      const [room] = await tx.query<{ id: string }>(sql`SELECT id FROM chat_rooms WHERE id = ${roomId}`);
      if (!room) throw notFound('room');
      if (target === moderator) throw conflict('Moderators do not sanction themselves.');
      let inserted: SanctionRow | undefined;
      try {
        [inserted] = await tx.query<SanctionRow>(sql`
          INSERT INTO chat_sanctions (tenant_id, kind, room_id, user_id, until, reason, created_by)
          VALUES (${principal.tenantId}, ${kind}, ${tenantWide ? null : roomId}, ${target},
                  ${input.durationSeconds ? sql`now() + make_interval(secs => ${input.durationSeconds})` : sql`NULL`}, ${input.reason}, ${moderator})
          RETURNING id, kind, user_id, room_id, until, reason, created_at`);
      } catch (err) {
        // The membership foreign key: the person is not a member of this tenant.
        if (isForeignKeyViolation(err)) throw notFound('member');
        throw err;
      }
      await audit(tx, principal, kind === 'mute' ? 'chat.user.muted' : 'chat.user.banned', { type: 'user', id: target },
        { roomId: tenantWide ? null : roomId, scope: tenantWide ? 'tenant' : 'room', until: inserted!.until?.toISOString() ?? null, reason: input.reason.slice(0, 200) });
      return inserted!;
    });
    if (kind === 'ban') publish({ type: 'access-changed', tenantId: principal.tenantId, roomId: tenantWide ? null : roomId, userId: target });
    return sanctionView(row);
  }

  return {
    /** Any reader of the message reports it once; the report is for moderators of the tenant only. */
    async report(principal: Principal, messageId: string, reason: string) {
      const userId = userOf(principal);
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [message] = await tx.query<{ id: string; room_id: string }>(sql`
          SELECT m.id, m.room_id FROM chat_messages m JOIN chat_rooms r ON r.tenant_id = m.tenant_id AND r.id = m.room_id
          WHERE m.id = ${messageId} AND ${visibleTo(userId)}`);
        if (!message) throw notFound('message');
        try {
          const [row] = await tx.query<{ id: string; status: string }>(sql`
            INSERT INTO chat_reports (tenant_id, message_id, reporter_id, reason) VALUES (${principal.tenantId}, ${messageId}, ${userId}, ${reason})
            RETURNING id, status`);
          await audit(tx, principal, 'chat.message.reported', { type: 'chat_message', id: messageId }, { roomId: message.room_id, reportId: row!.id });
          return row!;
        } catch (err) {
          if (isUniqueViolation(err)) throw conflict('You already reported this message.');
          throw err;
        }
      });
    },

    async reports(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<ReportRow>(moderating(principal), sql`
        SELECT p.id, p.message_id, m.room_id, p.reporter_id, p.reason, p.status, p.created_at, p.created_at::text AS cursor_ts,
               m.author_id, m.text, m.deleted_at, m.removed_by, m.hidden_at
        FROM chat_reports p JOIN chat_messages m ON m.tenant_id = p.tenant_id AND m.id = p.message_id
        WHERE true ${after ? sql`AND (p.created_at, p.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY p.created_at DESC, p.id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return {
        items: items.map((r) => ({
          id: r.id, messageId: r.message_id, roomId: r.room_id, reporterId: r.reporter_id, reason: r.reason, status: r.status,
          createdAt: r.created_at.toISOString(), message: { authorId: r.author_id, text: r.text, state: stateOf(r) },
        })),
        nextCursor,
      };
    },

    hide: (principal: Principal, messageId: string, reason: string) => moderate(principal, messageId, reason, 'hide'),
    delete: (principal: Principal, messageId: string, reason: string) => moderate(principal, messageId, reason, 'delete'),
    mute: (principal: Principal, roomId: string, input: { userId: string; durationSeconds: number; reason: string; scope?: 'room' | 'tenant' | undefined }) =>
      sanction(principal, roomId, 'mute', input),
    ban: (principal: Principal, roomId: string, input: { userId: string; durationSeconds?: number | undefined; reason: string; scope?: 'room' | 'tenant' | undefined }) =>
      sanction(principal, roomId, 'ban', input),
  };
}
