import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner, withTenant, type TenantContext } from '../../src/db/transaction.ts';
import { addMember, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { api, createRoom, postMessage } from './support.ts';

/**
 * Private rooms and direct messages behind RLS (migration 0041): straight SQL
 * as the runtime role, with the service's filter bypassed and another user in
 * app.user_id, reads none of a private room's or a direct room's rows or
 * messages and cannot write into them; chat:moderate (moderation) and
 * chat:export (export) holders see what their paths need — in their tenant only.
 */
let t: TestApp;
let owner: Account;
let alice: Account;
let bob: Account;
let mallory: Account;
let foreign: Account;
let priv: { id: string };
let direct: { id: string };
let pub: { id: string };
let privMsg: { id: string };
let directMsg: { id: string };
let pubMsg: { id: string };

const opts = { statementTimeoutMs: 5000 };
/** Straight SQL as the runtime role: no service, no application filter. */
const asRuntime = <T>(ctx: TenantContext, fn: Parameters<typeof withTenant<T>>[3]) => withTenant(t.platform.db, ctx, opts, fn);
const ids = (ctx: TenantContext, table: string, column = 'id') =>
  asRuntime(ctx, async (tx) => (await tx.query<{ v: string }>(sql`SELECT ${sql.identifier(column)}::text AS v FROM ${sql.identifier(table)}`)).map((r) => r.v));

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Chat RLS A');
  alice = await addMember(t.app, owner, 'member');
  bob = await addMember(t.app, owner, 'member');
  mallory = await addMember(t.app, owner, 'member');
  foreign = await signup(t.app, 'Chat RLS B');
  priv = await createRoom(t.app, alice, { kind: 'private', name: 'board', members: [bob.userId] });
  direct = await createRoom(t.app, alice, { kind: 'direct', members: [bob.userId] });
  pub = await createRoom(t.app, alice, { kind: 'public', name: 'lobby' });
  privMsg = await postMessage(t.app, bob, priv.id, 'private words');
  directMsg = await postMessage(t.app, alice, direct.id, 'direct words');
  pubMsg = await postMessage(t.app, alice, pub.id, 'public words');
  const rep = await api(t.app, bob, 'POST', `/messages/${privMsg.id}/reports`, { reason: 'spam' });
  expect(rep.statusCode, rep.body).toBe(201);
});
afterAll(async () => t?.close());

describe('a non-member with the application filter bypassed', () => {
  const asMallory = () => ({ tenantId: owner.tenantId, userId: mallory.userId });

  it('reads no private or direct room, member row, message or report', async () => {
    const rooms = await ids(asMallory(), 'chat_rooms');
    expect(rooms).toContain(pub.id);
    expect(rooms).not.toContain(priv.id);
    expect(rooms).not.toContain(direct.id);
    const members = await ids(asMallory(), 'chat_members', 'room_id');
    expect(members).not.toContain(priv.id);
    expect(members).not.toContain(direct.id);
    const messages = await ids(asMallory(), 'chat_messages');
    expect(messages).toContain(pubMsg.id);
    expect(messages).not.toContain(privMsg.id);
    expect(messages).not.toContain(directMsg.id);
    expect(await ids(asMallory(), 'chat_reports')).toEqual([]);
    // Asked by id, joined through another table, counted: still nothing.
    const [n] = await asRuntime(asMallory(), (tx) => tx.query<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM chat_messages m WHERE m.room_id IN (${priv.id}::uuid, ${direct.id}::uuid)`));
    expect(n!.n).toBe(0);
  });

  it('claiming an unrelated permission in the context widens nothing', async () => {
    const ctx = { tenantId: owner.tenantId, userId: mallory.userId, permissions: ['chat:read', 'chat:write'] };
    expect(await ids(ctx, 'chat_rooms')).not.toContain(priv.id);
    expect(await ids(ctx, 'chat_messages')).not.toContain(privMsg.id);
  });

  it('cannot post into, edit, remove or delete a private room or its messages', async () => {
    await expect(asRuntime(asMallory(), (tx) => tx.query(sql`
      INSERT INTO chat_messages (tenant_id, room_id, author_id, text) VALUES (${owner.tenantId}, ${priv.id}, ${mallory.userId}, 'planted')`)))
      .rejects.toThrow(/row-level security/);
    expect(await asRuntime(asMallory(), (tx) => tx.query(sql`UPDATE chat_messages SET text = 'pwned' WHERE id = ${privMsg.id} RETURNING id`))).toEqual([]);
    expect(await asRuntime(asMallory(), (tx) => tx.query(sql`UPDATE chat_messages SET hidden_at = now() WHERE id = ${directMsg.id} RETURNING id`))).toEqual([]);
    expect(await asRuntime(asMallory(), (tx) => tx.query(sql`DELETE FROM chat_messages WHERE room_id = ${priv.id} RETURNING id`))).toEqual([]);
    expect(await asRuntime(asMallory(), (tx) => tx.query(sql`DELETE FROM chat_members WHERE room_id = ${priv.id} RETURNING user_id`))).toEqual([]);
    const [still] = await withOwner(t.platform.db, (tx) => tx.query<{ text: string; hidden: boolean; members: number }>(sql`
      SELECT m.text, m.hidden_at IS NOT NULL AS hidden,
             (SELECT count(*)::int FROM chat_members WHERE tenant_id = ${owner.tenantId} AND room_id = ${priv.id}) AS members
      FROM chat_messages m WHERE m.tenant_id = ${owner.tenantId} AND m.id = ${privMsg.id}`));
    expect(still).toEqual({ text: 'private words', hidden: false, members: 2 });
  });

  it('the API agrees: 404 for the private room, its history and its message', async () => {
    for (const url of [`/rooms/${priv.id}`, `/rooms/${priv.id}/messages`, `/rooms/${direct.id}/messages`]) {
      expect((await api(t.app, mallory, 'GET', url)).statusCode, url).toBe(404);
    }
  });
});

describe('members, moderators and exporters', () => {
  it('members read their private and direct rooms, co-members and messages', async () => {
    const ctx = { tenantId: owner.tenantId, userId: bob.userId };
    expect(await ids(ctx, 'chat_rooms')).toEqual(expect.arrayContaining([priv.id, direct.id, pub.id]));
    expect(await ids(ctx, 'chat_messages')).toEqual(expect.arrayContaining([privMsg.id, directMsg.id]));
    const members = await asRuntime(ctx, (tx) => tx.query<{ user_id: string }>(sql`SELECT user_id::text FROM chat_members WHERE room_id = ${priv.id}`));
    expect(new Set(members.map((m) => m.user_id))).toEqual(new Set([alice.userId, bob.userId]));
    // Bob's own report, and nobody else's.
    expect((await ids(ctx, 'chat_reports', 'message_id'))).toEqual([privMsg.id]);
  });

  it('a member removed from a private room reads it no more', async () => {
    const room = await createRoom(t.app, alice, { kind: 'private', name: 'shrinking', members: [bob.userId] });
    const msg = await postMessage(t.app, alice, room.id, 'before removal');
    const ctx = { tenantId: owner.tenantId, userId: bob.userId };
    expect(await ids(ctx, 'chat_messages')).toContain(msg.id);
    expect((await api(t.app, alice, 'DELETE', `/rooms/${room.id}/members/${bob.userId}`)).statusCode).toBe(204);
    expect(await ids(ctx, 'chat_rooms')).not.toContain(room.id);
    expect(await ids(ctx, 'chat_messages')).not.toContain(msg.id);
  });

  it('chat:moderate and chat:export holders see private rooms of their tenant, and nothing of another', async () => {
    for (const permission of ['chat:moderate', 'chat:export']) {
      const ctx = { tenantId: owner.tenantId, userId: owner.userId, permissions: [permission] };
      expect(await ids(ctx, 'chat_rooms'), permission).toEqual(expect.arrayContaining([priv.id, direct.id]));
      expect(await ids(ctx, 'chat_messages'), permission).toEqual(expect.arrayContaining([privMsg.id, directMsg.id]));
      const away = { tenantId: foreign.tenantId, userId: foreign.userId, permissions: [permission] };
      expect(await ids(away, 'chat_rooms')).toEqual([]);
      expect(await ids(away, 'chat_messages')).toEqual([]);
    }
    expect(await ids({ tenantId: owner.tenantId, userId: owner.userId, permissions: ['chat:moderate'] }, 'chat_reports', 'message_id')).toEqual([privMsg.id]);
    // Without the permission in the transaction (the owner is in neither room) they see neither.
    expect(await ids({ tenantId: owner.tenantId, userId: owner.userId }, 'chat_rooms')).not.toContain(priv.id);
  });

  it('moderation and export through the API still reach private rooms', async () => {
    const reports = json(await api(t.app, owner, 'GET', '/reports'));
    expect(reports.items.map((r: { messageId: string }) => r.messageId)).toContain(privMsg.id);
    const hide = await api(t.app, owner, 'POST', `/messages/${privMsg.id}/hide`, { reason: 'spam' });
    expect(hide.statusCode, hide.body).toBe(200);
    const history = json(await api(t.app, bob, 'GET', `/rooms/${priv.id}/messages`));
    expect(history.items.find((m: { id: string }) => m.id === privMsg.id)).toMatchObject({ state: 'removed', text: '' });
  });
});
