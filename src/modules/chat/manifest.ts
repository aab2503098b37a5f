import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { chatRoutes } from './routes.ts';

const TABLES = ['chat_tickets', 'chat_reports', 'chat_sanctions', 'chat_messages', 'chat_members', 'chat_rooms'] as const;

/** What a data-subject request's transaction carries to see the person's rows in private rooms (migration 0063). */
export const CHAT_SUBJECT_PERMISSIONS = ['chat:moderate'] as const;

/** Chat (issue #14): rooms, authenticated sockets, sanitised messages, audited moderation, Redis fan-out. */
export const chatModule = defineModule({
  name: 'chat',
  description: 'Tenant chat: rooms, direct messages, sockets and moderation',
  api: { prefix: '/chat', plugin: chatRoutes },
  permissions: [
    { key: 'chat:read', description: 'Read chat rooms the member belongs to, open chat sockets, report messages', grantedTo: ['viewer', 'member', 'admin'] },
    { key: 'chat:write', description: 'Post, edit and delete own chat messages, create rooms', grantedTo: ['member', 'admin'] },
    { key: 'chat:moderate', description: "Moderate the tenant's chat: see reports, hide and delete messages, mute and ban members", grantedTo: ['admin'] },
    { key: 'chat:export', description: "Export a room's whole history, moderated messages included (with step-up)", grantedTo: ['admin'] },
  ],
  tables: TABLES.map((name) => ({ name, onTenantErasure: 'erase' as const })),
  auditEvents: ['chat.message.reported', 'chat.message.hidden', 'chat.message.deleted', 'chat.user.muted', 'chat.user.banned', 'chat.room.exported'],
  // Public rooms' messages only (what every chat:read holder reads); private and direct rooms never publish.
  webhookEvents: [
    { type: 'chat.message.created', description: 'A message was posted in a public room of the tenant (text as written; render it yourself with care)', permission: 'chat:read' },
  ],
  async eraseTenant(tx, tenantId) {
    const counts: Record<string, number> = {};
    // Children before parents (reports reference messages, messages and members reference rooms).
    for (const table of TABLES) {
      const rows = await tx.query(sql`DELETE FROM ${sql.identifier(table)} WHERE tenant_id = ${tenantId} RETURNING 1`);
      counts[table] = rows.length;
    }
    return counts;
  },
  // Data-subject requests: private and direct rooms are behind RLS (migration 0063): the hooks'
  // transaction must carry chat:moderate (contextWithPermissions) to see the person's rows there.
  /** Everything chat holds about a person: their messages (with state), room memberships, reports filed, sanctions on them. */
  async exportSubject(tx, subject) {
    const messages = await tx.query(sql`
      SELECT id, room_id AS "roomId", text, created_at AS "createdAt", edited_at AS "editedAt", deleted_at AS "deletedAt", hidden_at AS "hiddenAt"
      FROM chat_messages WHERE tenant_id = ${subject.tenantId} AND author_id = ${subject.userId} ORDER BY created_at, id`);
    const rooms = await tx.query(sql`
      SELECT room_id AS "roomId", role, joined_at AS "joinedAt", last_read_at AS "lastReadAt"
      FROM chat_members WHERE tenant_id = ${subject.tenantId} AND user_id = ${subject.userId}`);
    const reports = await tx.query(sql`
      SELECT id, message_id AS "messageId", reason, created_at AS "createdAt" FROM chat_reports WHERE tenant_id = ${subject.tenantId} AND reporter_id = ${subject.userId}`);
    const sanctions = await tx.query(sql`
      SELECT kind, room_id AS "roomId", until, reason, created_at AS "createdAt" FROM chat_sanctions WHERE tenant_id = ${subject.tenantId} AND user_id = ${subject.userId}`);
    return { messages, rooms, reports, sanctions };
  },
  /**
   * A person's erasure: their messages go (with reports about them), their
   * memberships, read markers, tickets, reports and sanctions; rooms they
   * created stay for the others, without their name on them.
   */
  async eraseSubject(tx, subject) {
    const t = subject.tenantId;
    const u = subject.userId;
    const count = async (statement: ReturnType<typeof sql>) => (await tx.query(statement)).length;
    return {
      chat_messages: await count(sql`DELETE FROM chat_messages WHERE tenant_id = ${t} AND author_id = ${u} RETURNING 1`),
      chat_reports: await count(sql`DELETE FROM chat_reports WHERE tenant_id = ${t} AND reporter_id = ${u} RETURNING 1`),
      chat_sanctions: await count(sql`DELETE FROM chat_sanctions WHERE tenant_id = ${t} AND user_id = ${u} RETURNING 1`),
      chat_members: await count(sql`DELETE FROM chat_members WHERE tenant_id = ${t} AND user_id = ${u} RETURNING 1`),
      chat_tickets: await count(sql`DELETE FROM chat_tickets WHERE tenant_id = ${t} AND user_id = ${u} RETURNING 1`),
      chat_rooms: await count(sql`UPDATE chat_rooms SET created_by = NULL WHERE tenant_id = ${t} AND created_by = ${u} RETURNING 1`),
    };
  },
});
