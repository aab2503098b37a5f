import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { api, createRoom, postMessage } from './support.ts';

/**
 * Rooms and messages over REST: tenant-public rooms, private rooms with
 * members, direct rooms; history with the kernel cursor; edits, soft deletes
 * and read markers; another tenant's and a non-member's view is a 404.
 */
let t: TestApp;
let owner: Account;
let member: Account;
let other: Account;
let viewer: Account;
let foreign: Account;
let outsider: Account;

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Chat A');
  member = await addMember(t.app, owner, 'member');
  other = await addMember(t.app, owner, 'member');
  viewer = await addMember(t.app, owner, 'viewer');
  foreign = await signup(t.app, 'Chat B');
  outsider = await addMember(t.app, owner, 'member');
});
afterAll(async () => t?.close());

describe('public rooms', () => {
  it('are readable by every reader of the tenant and writable by members', async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'general' });
    const sent = await postMessage(t.app, member, room.id, 'hello **world**');
    expect(sent).toMatchObject({ state: 'visible', text: 'hello **world**', html: '<p>hello <strong>world</strong></p>' });
    const history = json(await api(t.app, viewer, 'GET', `/rooms/${room.id}/messages`));
    expect(history.items.map((m: { id: string }) => m.id)).toEqual([sent.id]);
    expect((await api(t.app, viewer, 'POST', `/rooms/${room.id}/messages`, { text: 'viewer speaks' })).statusCode).toBe(403);
    const list = json(await api(t.app, viewer, 'GET', '/rooms'));
    expect(list.items.map((r: { id: string }) => r.id)).toContain(room.id);
  });

  it('pages history newest first with the kernel cursor, and refuses a forged cursor', async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'paging' });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await postMessage(t.app, owner, room.id, `m${i}`)).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ id: string }>; nextCursor: string | null } = json(await api(t.app, member, "GET", `/rooms/${room.id}/messages?limit=3${cursor ? `&cursor=${cursor}` : ""}`));
      seen.push(...page.items.map((m: { id: string }) => m.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const forged = Buffer.from(JSON.stringify([1, "2020-01-01 00:00:00+00' OR 1=1", randomUUID()])).toString('base64url');
    const res = await api(t.app, member, 'GET', `/rooms/${room.id}/messages?cursor=${forged}`);
    expect(res.statusCode).toBe(400);
  });

  it('refuses a name-less room, oversized and blank text, and NUL, changing nothing', async () => {
    expect((await api(t.app, member, 'POST', '/rooms', { kind: 'public' })).statusCode).toBe(400);
    const room = await createRoom(t.app, member, { kind: 'public', name: 'limits' });
    expect((await api(t.app, member, 'POST', `/rooms/${room.id}/messages`, { text: 'x'.repeat(4001) })).statusCode).toBe(400);
    expect((await api(t.app, member, 'POST', `/rooms/${room.id}/messages`, { text: '   ' })).statusCode).toBe(400);
    expect((await api(t.app, member, 'POST', `/rooms/${room.id}/messages`, { text: 'a\u0000b' })).statusCode).toBe(400);
    expect(json(await api(t.app, member, 'GET', `/rooms/${room.id}/messages`)).items).toEqual([]);
  });
});

describe('private and direct rooms', () => {
  it("show nothing to a non-member: not the room, its members, its history, nor a way to post", async () => {
    const room = await createRoom(t.app, member, { kind: 'private', name: 'secret', members: [other.userId] });
    const msg = await postMessage(t.app, other, room.id, 'for members only');
    for (const [method, url, body] of [
      ['GET', `/rooms/${room.id}`], ['GET', `/rooms/${room.id}/members`], ['GET', `/rooms/${room.id}/messages`],
      ['POST', `/rooms/${room.id}/messages`, { text: 'let me in' }], ['POST', `/rooms/${room.id}/read`, { messageId: msg.id }],
      ['POST', `/messages/${msg.id}/reports`, { reason: 'curious' }], ['PATCH', `/messages/${msg.id}`, { text: 'edited' }],
    ] as const) {
      for (const who of [viewer, outsider]) {
        const res = await api(t.app, who, method, url, body);
        // A viewer lacks chat:write for the writes (403 by policy, before any lookup); reads are 404 for both.
        expect(res.statusCode, `${method} ${url}`).toBe(who === viewer && (url.endsWith('/messages') && method === 'POST' || method === 'PATCH') ? 403 : 404);
        expect(res.body).not.toContain('for members only');
      }
    }
    const list = json(await api(t.app, outsider, 'GET', '/rooms'));
    expect(list.items.map((r: { id: string }) => r.id)).not.toContain(room.id);
    // A moderator of the tenant (the owner) reads private rooms only through reports.
    expect((await api(t.app, owner, 'GET', `/rooms/${room.id}/messages`)).statusCode).toBe(404);
  });

  it('let the owner add and remove members; a removed member sees nothing more', async () => {
    const room = await createRoom(t.app, member, { kind: 'private', name: 'team' });
    expect((await api(t.app, other, 'POST', `/rooms/${room.id}/members`, { userId: viewer.userId })).statusCode).toBe(404);
    const added = await api(t.app, member, 'POST', `/rooms/${room.id}/members`, { userId: viewer.userId });
    expect(added.statusCode).toBe(201);
    expect((await api(t.app, viewer, 'GET', `/rooms/${room.id}/messages`)).statusCode).toBe(200);
    // Someone of another tenant is not a member to add.
    expect((await api(t.app, member, 'POST', `/rooms/${room.id}/members`, { userId: foreign.userId })).statusCode).toBe(404);
    expect((await api(t.app, member, 'DELETE', `/rooms/${room.id}/members/${viewer.userId}`)).statusCode).toBe(204);
    expect((await api(t.app, viewer, 'GET', `/rooms/${room.id}/messages`)).statusCode).toBe(404);
  });

  it('keep one direct room per pair, visible to the two only', async () => {
    const a = await createRoom(t.app, member, { kind: 'direct', members: [other.userId] });
    const b = await createRoom(t.app, other, { kind: 'direct', members: [member.userId] });
    expect(b.id).toBe(a.id);
    expect(a.name).toBeNull();
    await postMessage(t.app, other, a.id, 'just us');
    expect((await api(t.app, viewer, 'GET', `/rooms/${a.id}/messages`)).statusCode).toBe(404);
    expect((await api(t.app, member, 'POST', '/rooms', { kind: 'direct', members: [foreign.userId] })).statusCode).toBe(404);
  });
});

describe('edits, deletes and read markers', () => {
  it('lets the author edit and soft-delete; members then see "deleted" without the text', async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'edits' });
    const msg = await postMessage(t.app, member, room.id, 'first draft');
    expect((await api(t.app, other, 'PATCH', `/messages/${msg.id}`, { text: 'not mine' })).statusCode).toBe(403);
    const edited = json(await api(t.app, member, 'PATCH', `/messages/${msg.id}`, { text: '_final_' }));
    expect(edited).toMatchObject({ text: '_final_', html: '<p><em>final</em></p>' });
    expect(edited.editedAt).not.toBeNull();
    expect((await api(t.app, other, 'DELETE', `/messages/${msg.id}`)).statusCode).toBe(403);
    expect((await api(t.app, member, 'DELETE', `/messages/${msg.id}`)).statusCode).toBe(204);
    const [shown] = json(await api(t.app, other, 'GET', `/rooms/${room.id}/messages`)).items;
    expect(shown).toMatchObject({ id: msg.id, state: 'deleted', text: '', html: '' });
  });

  it('records the read marker of the caller', async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'markers' });
    const msg = await postMessage(t.app, member, room.id, 'read me');
    const res = await api(t.app, viewer, 'POST', `/rooms/${room.id}/read`, { messageId: msg.id });
    expect(res.statusCode).toBe(200);
    expect(json(await api(t.app, viewer, 'GET', `/rooms/${room.id}`)).lastReadId).toBe(msg.id);
    expect(json(await api(t.app, member, 'GET', `/rooms/${room.id}`)).lastReadId).toBeNull();
    expect((await api(t.app, viewer, 'POST', `/rooms/${room.id}/read`, { messageId: randomUUID() })).statusCode).toBe(404);
  });
});

describe('tenant isolation', () => {
  it("answers another tenant's room and message ids exactly like missing ones", async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'A only' });
    const msg = await postMessage(t.app, member, room.id, 'A secret');
    for (const [method, url, body] of [
      ['GET', `/rooms/${room.id}`], ['GET', `/rooms/${room.id}/messages`], ['POST', `/rooms/${room.id}/messages`, { text: 'from B' }],
      ['PATCH', `/messages/${msg.id}`, { text: 'B edit' }], ['DELETE', `/messages/${msg.id}`], ['POST', `/messages/${msg.id}/hide`, { reason: 'B' }],
      ['POST', `/rooms/${room.id}/bans`, { userId: member.userId, reason: 'B' }],
    ] as const) {
      const res = await api(t.app, foreign, method, url, body);
      const missing = await api(t.app, foreign, method, url.replace(room.id, randomUUID()).replace(msg.id, randomUUID()), body);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(json(res).detail).toBe(json(missing).detail);
    }
    expect(json(await api(t.app, foreign, 'GET', '/rooms')).items).toEqual([]);
    expect(json(await api(t.app, member, 'GET', `/rooms/${room.id}/messages`)).items[0]).toMatchObject({ id: msg.id, text: 'A secret', state: 'visible' });
  });
});
