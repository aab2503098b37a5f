import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { conflict, forbidden, notFound, ProblemError } from '../../http/problem.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createWebhookPublisher } from '../webhooks/publish.ts';
import { checkText, isForeignKeyViolation, userOf, visibleTo } from './access.ts';
import type { MessageView, Publish } from './events.ts';
import { renderMessage } from './render.ts';
import { MAX_TEXT } from './schemas.ts';

export interface RoomRow {
  id: string;
  kind: 'public' | 'private' | 'direct';
  name: string | null;
  topic: string;
  created_by: string | null;
  created_at: Date;
  cursor_ts: string;
  last_read_id: string | null;
  my_role: string | null;
}

export interface MessageRow {
  id: string;
  room_id: string;
  author_id: string | null;
  text: string;
  created_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
  removed_by: 'author' | 'moderator' | null;
  hidden_at: Date | null;
  moderation_reason: string | null;
  cursor_ts: string;
}

const roomColumns = (userId: string) => sql`r.id, r.kind, r.name, r.topic, r.created_by, r.created_at, r.created_at::text AS cursor_ts,
  (SELECT cm.last_read_id FROM chat_members cm WHERE cm.tenant_id = r.tenant_id AND cm.room_id = r.id AND cm.user_id = ${userId}) AS last_read_id,
  (SELECT cm.role FROM chat_members cm WHERE cm.tenant_id = r.tenant_id AND cm.room_id = r.id AND cm.user_id = ${userId}) AS my_role`;

export const messageColumns = sql`m.id, m.room_id, m.author_id, m.text, m.created_at, m.edited_at, m.deleted_at, m.removed_by, m.hidden_at,
  m.moderation_reason, m.created_at::text AS cursor_ts`;

export const roomView = (r: RoomRow) => ({
  id: r.id, kind: r.kind, name: r.name, topic: r.topic, createdBy: r.created_by,
  createdAt: r.created_at.toISOString(), lastReadId: r.last_read_id,
});

export function stateOf(m: Pick<MessageRow, 'deleted_at' | 'removed_by' | 'hidden_at'>): MessageView['state'] {
  if (m.hidden_at || (m.deleted_at && m.removed_by === 'moderator')) return 'removed';
  if (m.deleted_at) return 'deleted';
  return 'visible';
}

/** A message as members see it: a removed or deleted one says so and carries no text. */
export function messageView(m: MessageRow): MessageView {
  const state = stateOf(m);
  const shown = state === 'visible';
  return {
    id: m.id, roomId: m.room_id, authorId: m.author_id, state,
    text: shown ? m.text : '', html: shown ? renderMessage(m.text) : '',
    createdAt: m.created_at.toISOString(), editedAt: m.edited_at?.toISOString() ?? null,
  };
}

/**
 * Rooms, members, messages and read markers of a tenant. Every statement runs
 * as the runtime role in the caller's tenant (RLS), and every room lookup
 * carries the visibility rule (access.ts), so another tenant's room, a private
 * room one is not in and a missing room all look the same: 404.
 */
export function createChatService(platform: Platform, publish: Publish) {
  const webhooks = createWebhookPublisher(platform);
  async function visibleRoom(tx: Session, userId: string, roomId: string): Promise<RoomRow> {
    const [room] = await tx.query<RoomRow>(sql`SELECT ${roomColumns(userId)} FROM chat_rooms r WHERE r.id = ${roomId} AND ${visibleTo(userId)}`);
    if (!room) throw notFound('room');
    return room;
  }

  async function insertMembers(tx: Session, tenantId: string, roomId: string, members: ReadonlyArray<{ userId: string; role: 'owner' | 'member' }>) {
    try {
      for (const m of members) {
        await tx.query(sql`INSERT INTO chat_members (tenant_id, room_id, user_id, role) VALUES (${tenantId}, ${roomId}, ${m.userId}, ${m.role})
                           ON CONFLICT (tenant_id, room_id, user_id) DO NOTHING`);
      }
    } catch (err) {
      // The membership foreign key: someone who is not a member of this tenant.
      if (isForeignKeyViolation(err)) throw notFound('member');
      throw err;
    }
  }

  return {
    visibleRoom: (principal: Principal, roomId: string) =>
      platform.withTenant(contextOf(principal), (tx) => visibleRoom(tx, userOf(principal), roomId)),

    async listRooms(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const userId = userOf(principal);
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<RoomRow>(contextOf(principal), sql`
        SELECT ${roomColumns(userId)} FROM chat_rooms r WHERE ${visibleTo(userId)}
        ${after ? sql`AND (r.created_at, r.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY r.created_at DESC, r.id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map(roomView), nextCursor };
    },

    async getRoom(principal: Principal, roomId: string) {
      return roomView(await platform.withTenant(contextOf(principal), (tx) => visibleRoom(tx, userOf(principal), roomId)));
    },

    /** Public and private rooms take a name; a direct room is the one room of a pair of members (created once, then returned). */
    async createRoom(principal: Principal, input: { kind: 'public' | 'private' | 'direct'; name?: string | undefined; topic?: string | undefined; members?: string[] | undefined }) {
      const userId = userOf(principal);
      const others = (input.members ?? []).map((m) => m.toLowerCase()).filter((m) => m !== userId);
      if (input.kind === 'direct') {
        if (others.length !== 1 || input.name !== undefined) throw new ProblemError('validation-failed', 400, 'A direct room names exactly one other member and no name.');
      } else if (!input.name) {
        throw new ProblemError('validation-failed', 400, 'A public or private room needs a name.');
      } else if (input.kind === 'public' && others.length > 0) {
        throw new ProblemError('validation-failed', 400, 'A public room has no member list: every reader of the tenant sees it.');
      }
      return platform.withTenant(contextOf(principal), async (tx) => {
        const directKey = input.kind === 'direct' ? [userId, others[0]!].sort().join(':') : null;
        // The id is chosen here, not RETURNed: a new private room is not readable (RLS, 0041) until its owner's membership exists.
        let roomId: string = randomUUID();
        await tx.query(sql`
          INSERT INTO chat_rooms (tenant_id, id, kind, name, topic, direct_key, created_by)
          VALUES (${principal.tenantId}, ${roomId}, ${input.kind}, ${input.kind === 'direct' ? null : input.name!.trim()}, ${input.topic ?? ''}, ${directKey}, ${userId})
          ${directKey ? sql`ON CONFLICT (tenant_id, direct_key) WHERE direct_key IS NOT NULL DO NOTHING` : sql``}`);
        if (directKey) {
          // The pair's one direct room, new or existing: readable to both by its key.
          const [existing] = await tx.query<{ id: string }>(sql`SELECT id FROM chat_rooms WHERE direct_key = ${directKey}`);
          roomId = existing!.id;
        }
        if (input.kind !== 'public') {
          await insertMembers(tx, principal.tenantId, roomId, [
            { userId, role: input.kind === 'private' ? 'owner' : 'member' },
            ...others.map((m) => ({ userId: m, role: 'member' as const })),
          ]);
        }
        return roomView(await visibleRoom(tx, userId, roomId));
      });
    },

    async listMembers(principal: Principal, roomId: string) {
      const userId = userOf(principal);
      return platform.withTenant(contextOf(principal), async (tx) => {
        await visibleRoom(tx, userId, roomId);
        const rows = await tx.query<{ user_id: string; role: string; joined_at: Date }>(sql`
          SELECT user_id, role, joined_at FROM chat_members WHERE room_id = ${roomId} ORDER BY joined_at, user_id LIMIT 1000`);
        return { items: rows.map((r) => ({ userId: r.user_id, role: r.role, joinedAt: r.joined_at.toISOString() })) };
      });
    },

    /** Private rooms only: by the room's owner or a moderator. */
    async addMember(principal: Principal, roomId: string, member: string) {
      const userId = userOf(principal);
      return platform.withTenant(contextOf(principal), async (tx) => {
        const room = await visibleRoom(tx, userId, roomId);
        if (room.kind !== 'private') throw conflict('Only private rooms have members to add.');
        if (room.my_role !== 'owner' && !principal.permissions.has('chat:moderate')) throw forbidden('Only the room owner or a moderator adds members.');
        await insertMembers(tx, principal.tenantId, roomId, [{ userId: member.toLowerCase(), role: 'member' }]);
        const [row] = await tx.query<{ user_id: string; role: string; joined_at: Date }>(sql`
          SELECT user_id, role, joined_at FROM chat_members WHERE room_id = ${roomId} AND user_id = ${member}`);
        return { userId: row!.user_id, role: row!.role, joinedAt: row!.joined_at.toISOString() };
      });
    },

    /** Oneself from any room, or (the room's owner, a moderator) another member of a private room: their sockets leave it at once. */
    async removeMember(principal: Principal, roomId: string, member: string) {
      const userId = userOf(principal);
      await platform.withTenant(contextOf(principal), async (tx) => {
        const room = await visibleRoom(tx, userId, roomId);
        const self = member.toLowerCase() === userId;
        if (!self && (room.kind !== 'private' || (room.my_role !== 'owner' && !principal.permissions.has('chat:moderate')))) {
          throw forbidden('Only the room owner or a moderator removes other members.');
        }
        const removed = await tx.query(sql`DELETE FROM chat_members WHERE room_id = ${roomId} AND user_id = ${member} RETURNING user_id`);
        if (removed.length === 0) throw notFound('member');
      });
      publish({ type: 'access-changed', tenantId: principal.tenantId, roomId, userId: member.toLowerCase() });
    },

    /** History, newest first, keyset-paged with the kernel's cursor codec. */
    async history(principal: Principal, roomId: string, q: { limit?: number | undefined; cursor?: string | undefined }) {
      const userId = userOf(principal);
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.withTenant(contextOf(principal), async (tx) => {
        await visibleRoom(tx, userId, roomId);
        return tx.query<MessageRow>(sql`
          SELECT ${messageColumns} FROM chat_messages m WHERE m.room_id = ${roomId}
          ${after ? sql`AND (m.created_at, m.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
          ORDER BY m.created_at DESC, m.id DESC LIMIT ${limit + 1}`);
      });
      const { items, nextCursor } = creationCursor.page(rows, limit, (m) => ({ createdAt: m.cursor_ts, id: m.id }));
      return { items: items.map(messageView), nextCursor };
    },

    /** Stored first, then fanned out: a process that misses the event still serves the message from history. */
    async post(principal: Principal, roomId: string, text: string): Promise<MessageView> {
      const userId = userOf(principal);
      checkText(text, MAX_TEXT);
      const row = await platform.withTenant(contextOf(principal), async (tx) => {
        const [room] = await tx.query<{ id: string; kind: string; name: string | null; muted_until: Date | null }>(sql`
          SELECT r.id, r.kind, r.name, (SELECT max(s.until) FROM chat_sanctions s WHERE s.tenant_id = r.tenant_id AND s.user_id = ${userId} AND s.kind = 'mute'
                        AND (s.room_id IS NULL OR s.room_id = r.id) AND s.until > now()) AS muted_until
          FROM chat_rooms r WHERE r.id = ${roomId} AND ${visibleTo(userId)}`);
        if (!room) throw notFound('room');
        if (room.muted_until) throw forbidden(`You are muted in this room until ${room.muted_until.toISOString()}.`);
        const [inserted] = await tx.query<MessageRow>(sql`
          INSERT INTO chat_messages AS m (tenant_id, room_id, author_id, text) VALUES (${principal.tenantId}, ${roomId}, ${userId}, ${text})
          RETURNING ${messageColumns}`);
        // Public rooms only: every chat:read holder of the tenant reads them. A private or direct
        // room's messages never leave through a webhook (its subscribers are not its members).
        if (room.kind === 'public') {
          await webhooks.publishIn(tx, principal.tenantId, 'chat.message.created', {
            id: inserted!.id, roomId, roomName: room.name, authorId: inserted!.author_id, text: inserted!.text, createdAt: inserted!.created_at.toISOString(),
          });
        }
        return inserted!;
      });
      const view = messageView(row);
      publish({ type: 'message', tenantId: principal.tenantId, roomId, message: view });
      return view;
    },

    /** The author edits their own visible message. */
    async edit(principal: Principal, messageId: string, text: string): Promise<MessageView> {
      const userId = userOf(principal);
      checkText(text, MAX_TEXT);
      const row = await platform.withTenant(contextOf(principal), async (tx) => {
        const message = await visibleMessage(tx, userId, messageId);
        if (message.author_id !== userId) throw forbidden('Only the author edits a message.');
        if (stateOf(message) !== 'visible') throw conflict('The message was removed.');
        const [updated] = await tx.query<MessageRow>(sql`
          UPDATE chat_messages AS m SET text = ${text}, edited_at = now() WHERE m.id = ${messageId} RETURNING ${messageColumns}`);
        return updated!;
      });
      const view = messageView(row);
      publish({ type: 'message-updated', tenantId: principal.tenantId, roomId: row.room_id, message: view });
      return view;
    },

    /** The author's soft delete: the text stays for moderation, members see "deleted". */
    async removeOwn(principal: Principal, messageId: string): Promise<void> {
      const userId = userOf(principal);
      const roomId = await platform.withTenant(contextOf(principal), async (tx) => {
        const message = await visibleMessage(tx, userId, messageId);
        if (message.author_id !== userId) throw forbidden('Only the author deletes a message; moderators use /delete.');
        await tx.query(sql`UPDATE chat_messages SET deleted_at = coalesce(deleted_at, now()), removed_by = coalesce(removed_by, 'author') WHERE id = ${messageId}`);
        return message.room_id;
      });
      publish({ type: 'message-removed', tenantId: principal.tenantId, roomId, messageId, state: 'deleted' });
    },

    async markRead(principal: Principal, roomId: string, messageId: string) {
      const userId = userOf(principal);
      return platform.withTenant(contextOf(principal), async (tx) => {
        await visibleRoom(tx, userId, roomId);
        const [message] = await tx.query<{ id: string }>(sql`SELECT id FROM chat_messages WHERE id = ${messageId} AND room_id = ${roomId}`);
        if (!message) throw notFound('message');
        const [row] = await tx.query<{ last_read_at: Date }>(sql`
          INSERT INTO chat_members (tenant_id, room_id, user_id, last_read_id, last_read_at) VALUES (${principal.tenantId}, ${roomId}, ${userId}, ${messageId}, now())
          ON CONFLICT (tenant_id, room_id, user_id) DO UPDATE SET last_read_id = EXCLUDED.last_read_id, last_read_at = EXCLUDED.last_read_at
          RETURNING last_read_at`);
        return { roomId, lastReadId: messageId, lastReadAt: row!.last_read_at.toISOString() };
      });
    },

    /** Whether the user may still read the room and is not muted there (sockets re-check after access changes). */
    async access(principal: Principal, roomId: string): Promise<{ read: boolean }> {
      const userId = userOf(principal);
      const [row] = await platform.queryAsTenant<{ id: string }>(contextOf(principal), sql`SELECT r.id FROM chat_rooms r WHERE r.id = ${roomId} AND ${visibleTo(userId)}`);
      return { read: Boolean(row) };
    },
  };

  async function visibleMessage(tx: Session, userId: string, messageId: string): Promise<MessageRow> {
    const [message] = await tx.query<MessageRow>(sql`
      SELECT ${messageColumns} FROM chat_messages m JOIN chat_rooms r ON r.tenant_id = m.tenant_id AND r.id = m.room_id
      WHERE m.id = ${messageId} AND ${visibleTo(userId)}`);
    if (!message) throw notFound('message');
    return message;
  }
}

export type ChatService = ReturnType<typeof createChatService>;
