import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatModule } from '../../src/modules/chat/manifest.ts';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { api, createRoom, postMessage } from './support.ts';

/**
 * Moderation (issue #14 §4): reports, hide, delete, mutes and bans, each an
 * audit event; moderators see their own tenant's reports only; a member sees
 * that a message was removed, not its content; chat:moderate works through a
 * custom role. Room export (step-up, audited). Data-subject export and erasure.
 */
let t: TestApp;
let owner: Account;
let member: Account;
let other: Account;
let foreignOwner: Account;

async function auditActions(who: Account, prefix: string): Promise<string[]> {
  const res = await t.app.inject({ method: 'GET', url: `/api/v1/audit-events?action=${prefix}.*&limit=200`, headers: bearer(who) });
  expect(res.statusCode, res.body).toBe(200);
  return json(res).items.map((e: { action: string }) => e.action);
}

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Moderated');
  member = await addMember(t.app, owner, 'member');
  other = await addMember(t.app, owner, 'member');
  foreignOwner = await signup(t.app, 'Elsewhere');
});
afterAll(async () => t?.close());

describe('reports and removal', () => {
  it('lets a member report once; moderators see the report with the message; members see only "removed"', async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'reported' });
    const msg = await postMessage(t.app, member, room.id, 'buy cheap pills');
    expect((await api(t.app, other, 'POST', `/messages/${msg.id}/reports`, { reason: 'spam' })).statusCode).toBe(201);
    expect((await api(t.app, other, 'POST', `/messages/${msg.id}/reports`, { reason: 'spam again' })).statusCode).toBe(409);
    expect((await api(t.app, other, 'GET', '/reports')).statusCode).toBe(403);
    const reports = json(await api(t.app, owner, 'GET', '/reports')).items;
    expect(reports[0]).toMatchObject({ messageId: msg.id, reporterId: other.userId, reason: 'spam', status: 'open', message: { text: 'buy cheap pills', state: 'visible' } });
    // Another tenant's moderator sees none of it.
    const foreign = json(await api(t.app, foreignOwner, 'GET', '/reports')).items;
    expect(JSON.stringify(foreign)).not.toContain(msg.id);

    expect((await api(t.app, member, 'POST', `/messages/${msg.id}/hide`, { reason: 'x' })).statusCode).toBe(403);
    const hidden = await api(t.app, owner, 'POST', `/messages/${msg.id}/hide`, { reason: 'spam' });
    expect(json(hidden)).toEqual({ id: msg.id, state: 'removed' });
    const [shown] = json(await api(t.app, other, 'GET', `/rooms/${room.id}/messages`)).items;
    expect(shown).toMatchObject({ id: msg.id, state: 'removed', text: '', html: '' });
    expect(json(await api(t.app, owner, 'GET', '/reports')).items[0]).toMatchObject({ status: 'actioned', message: { text: 'buy cheap pills', state: 'removed' } });

    const second = await postMessage(t.app, member, room.id, 'rude words');
    expect(json(await api(t.app, owner, 'POST', `/messages/${second.id}/delete`, { reason: 'abuse' }))).toEqual({ id: second.id, state: 'removed' });
    expect(await auditActions(owner, 'chat.message')).toEqual(expect.arrayContaining(['chat.message.reported', 'chat.message.hidden', 'chat.message.deleted']));
  });
});

describe('mutes and bans', () => {
  it('mutes a member for a time in one room, and bans from a room and from the whole tenant chat — audited', async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'sanctions' });
    const elsewhere = await createRoom(t.app, member, { kind: 'public', name: 'elsewhere' });
    const mute = await api(t.app, owner, 'POST', `/rooms/${room.id}/mutes`, { userId: other.userId, durationSeconds: 600, reason: 'cool down' });
    expect(mute.statusCode, mute.body).toBe(201);
    expect(new Date(json(mute).until).getTime()).toBeGreaterThan(Date.now() + 590_000);
    expect((await api(t.app, other, 'POST', `/rooms/${room.id}/messages`, { text: 'muted?' })).statusCode).toBe(403);
    expect((await api(t.app, other, 'GET', `/rooms/${room.id}/messages`)).statusCode).toBe(200);
    await postMessage(t.app, other, elsewhere.id, 'still heard elsewhere');

    expect((await api(t.app, owner, 'POST', `/rooms/${room.id}/bans`, { userId: other.userId, reason: 'out' })).statusCode).toBe(201);
    expect((await api(t.app, other, 'GET', `/rooms/${room.id}/messages`)).statusCode).toBe(404);
    expect((await api(t.app, other, 'GET', `/rooms/${elsewhere.id}/messages`)).statusCode).toBe(200);
    expect((await api(t.app, owner, 'POST', `/rooms/${room.id}/bans`, { userId: other.userId, reason: 'everywhere', scope: 'tenant', durationSeconds: 3600 })).statusCode).toBe(201);
    expect((await api(t.app, other, 'GET', `/rooms/${elsewhere.id}/messages`)).statusCode).toBe(404);
    expect(json(await api(t.app, other, 'GET', '/rooms')).items).toEqual([]);

    // Not a member of this tenant, and a moderator on themselves: refused, nothing recorded.
    expect((await api(t.app, owner, 'POST', `/rooms/${room.id}/bans`, { userId: foreignOwner.userId, reason: 'x' })).statusCode).toBe(404);
    expect((await api(t.app, owner, 'POST', `/rooms/${room.id}/mutes`, { userId: owner.userId, durationSeconds: 60, reason: 'x' })).statusCode).toBe(409);
    const actions = await auditActions(owner, 'chat.user');
    expect(actions.filter((a) => a === 'chat.user.muted')).toHaveLength(1);
    expect(actions.filter((a) => a === 'chat.user.banned')).toHaveLength(2);
  });

  it('grants chat:moderate through a custom role', async () => {
    const role = json(await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(owner), payload: { name: `mod-${randomUUID().slice(0, 4)}`, permissions: ['chat:read', 'chat:moderate'] } }));
    const moderator = await addMember(t.app, owner, 'member');
    expect((await api(t.app, moderator, 'GET', '/reports')).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'PUT', url: `/api/v1/members/${moderator.userId}/roles`, headers: bearer(owner), payload: { roles: ['member', role.id] } })).statusCode).toBe(200);
    const room = await createRoom(t.app, member, { kind: 'public', name: 'modded' });
    const msg = await postMessage(t.app, member, room.id, 'hide me');
    expect((await api(t.app, moderator, 'GET', '/reports')).statusCode).toBe(200);
    expect((await api(t.app, moderator, 'POST', `/messages/${msg.id}/hide`, { reason: 'custom role' })).statusCode).toBe(200);
  });
});

describe('export', () => {
  it('needs chat:export and a fresh second factor, includes removed messages, and is audited', async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'exported' });
    const kept = await postMessage(t.app, member, room.id, 'kept');
    const gone = await postMessage(t.app, member, room.id, 'moderated away');
    await api(t.app, owner, 'POST', `/messages/${gone.id}/delete`, { reason: 'abuse' });
    expect((await api(t.app, member, 'GET', `/rooms/${room.id}/export`)).statusCode).toBe(403);
    const noStepUp = await api(t.app, owner, 'GET', `/rooms/${room.id}/export`);
    expect(json(noStepUp).type).toBe('urn:ocsuite:problem:step-up-required');
    const { enableMfa } = await import('../support/app.ts');
    await enableMfa(t.app, owner);
    const res = await api(t.app, owner, 'GET', `/rooms/${room.id}/export`);
    expect(res.statusCode, res.body).toBe(200);
    expect(json(res).messages.map((m: { id: string; state: string; moderationReason: string | null }) => [m.id, m.state, m.moderationReason]))
      .toEqual([[kept.id, 'visible', null], [gone.id, 'removed', 'abuse']]);
    expect(await auditActions(owner, 'chat.room')).toContain('chat.room.exported');
  });
});

describe('data-subject requests', () => {
  it("exports a person's messages and memberships, and erases them without touching anyone else's", async () => {
    const subject = await addMember(t.app, owner, 'member');
    const room = await createRoom(t.app, subject, { kind: 'private', name: 'subject room', members: [member.userId] });
    await postMessage(t.app, subject, room.id, 'my personal words');
    const theirs = await postMessage(t.app, member, room.id, 'not theirs');
    const ref = { tenantId: owner.tenantId, userId: subject.userId, email: subject.email };
    // The request's transaction carries chat:moderate (RLS of 0063 hides private rooms from anyone else).
    const dsar = { tenantId: owner.tenantId, userId: owner.userId, permissions: ['chat:moderate'] };
    const blind = await t.platform.withTenant({ tenantId: owner.tenantId }, (tx) => chatModule.exportSubject!(tx, ref));
    expect(blind.messages).toEqual([]);
    const exported = await t.platform.withTenant(dsar, (tx) => chatModule.exportSubject!(tx, ref));
    expect((exported.messages as Array<{ text: string }>).map((m) => m.text)).toEqual(['my personal words']);
    expect((exported.rooms as Array<{ roomId: string }>).map((r) => r.roomId)).toEqual([room.id]);

    const erased = await t.platform.withTenant(dsar, (tx) => chatModule.eraseSubject!(tx, ref));
    expect(erased).toMatchObject({ chat_messages: 1, chat_members: 1, chat_rooms: 1 });
    const history = json(await api(t.app, member, 'GET', `/rooms/${room.id}/messages`)).items;
    expect(history.map((m: { id: string }) => m.id)).toEqual([theirs.id]);
    const again = await t.platform.withTenant(dsar, (tx) => chatModule.exportSubject!(tx, ref));
    expect(again).toEqual({ messages: [], rooms: [], reports: [], sanctions: [] });
  });
});
