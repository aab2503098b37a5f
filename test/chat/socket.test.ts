import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { api, connect, createRoom, join, listen, postMessage, ticketOf, upgradeStatus, type Client } from './support.ts';

/**
 * The socket at /api/v1/chat/ws (issue #14 §2): authenticated at the upgrade by
 * a one-time ticket or the bearer subprotocol, Origin-checked, tenant-scoped
 * rooms, flood and size limits answered with error frames, and sessions
 * re-checked so a revoked one is disconnected within 5 s.
 */
let t: TestApp;
let url: string;
let owner: Account;
let member: Account;
let other: Account;
let foreign: Account;
const clients: Client[] = [];

async function open(who: Account, opts: { origin?: string } = {}): Promise<Client> {
  const c = await connect(url, { ticket: await ticketOf(t.app, who), ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  t = await startApp({ CORS_ORIGINS: 'https://app.example' });
  url = await listen(t);
  owner = await signup(t.app, 'Socket A');
  member = await addMember(t.app, owner, 'member');
  other = await addMember(t.app, owner, 'member');
  foreign = await signup(t.app, 'Socket B');
});
afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await t?.close();
});

describe('the upgrade', () => {
  it('refuses no credential, a garbled, expired or reused ticket, and a token in the URL', async () => {
    expect(await upgradeStatus(url, {})).toBe(401);
    expect(await upgradeStatus(url, { ticket: 'A'.repeat(64) })).toBe(401);
    expect(await upgradeStatus(`${url}?access_token=${member.accessToken}`, {})).toBe(401);

    const ticket = await ticketOf(t.app, member);
    expect(await upgradeStatus(url, { ticket })).toBe(101);
    expect(await upgradeStatus(url, { ticket }), 'a ticket is single use').toBe(401);

    const stale = await ticketOf(t.app, member);
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE chat_tickets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`));
    expect(await upgradeStatus(url, { ticket: stale })).toBe(401);
  });

  it("refuses another site's page (Origin) and admits the allowed origins", async () => {
    expect(await upgradeStatus(url, { ticket: await ticketOf(t.app, member), origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(url, { ticket: await ticketOf(t.app, member), origin: 'https://app.example.evil.example' })).toBe(403);
    expect(await upgradeStatus(url, { ticket: await ticketOf(t.app, member), origin: 'null' })).toBe(403);
    expect(await upgradeStatus(url, { ticket: await ticketOf(t.app, member), origin: 'https://app.example' })).toBe(101);
    expect(await upgradeStatus(url, { ticket: await ticketOf(t.app, member), origin: 'http://ocsuite.test' })).toBe(101);
  });

  it('accepts the access token as the bearer subprotocol and never echoes it back', async () => {
    const c = await connect(url, { token: member.accessToken });
    clients.push(c);
    expect(c.ws.protocol).toBe('ocsuite.v1');
    expect(await upgradeStatus(url, { token: `${member.accessToken}x` })).toBe(401);
    expect(await upgradeStatus(url, { token: member.accessToken, protocols: [`bearer.${member.accessToken}`] })).toBe(400);
  });

  it('refuses a ticket redeemed after its session ended', async () => {
    const { login } = await import('../support/app.ts');
    const session = await login(t.app, member);
    const ticket = await ticketOf(t.app, session);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(session) })).statusCode).toBe(204);
    expect(await upgradeStatus(url, { ticket })).toBe(401);
  });

  it('refuses upgrades of every other path and closes each refused upgrade (no socket left open)', async () => {
    const { connect: tcp } = await import('node:net');
    const { port } = new URL(url);
    for (const path of ['/healthz', '/api/v1/knowledge', '/api/v1/chat/ws']) {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = tcp(Number(port), '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n`
          + 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ocsuite.v1\r\n\r\n'));
        let data = '';
        socket.on('data', (chunk) => { data += String(chunk); });
        // The server ends the connection itself: the test's 5 s bound would fail otherwise.
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
      });
      expect(answer, path).toMatch(path.endsWith('/ws') ? /^HTTP\/1\.1 401/ : /^HTTP\/1\.1 404/);
    }
  });

  it('caps the sockets of one user', async () => {
    const { login } = await import('../support/app.ts');
    const heavy = await login(t.app, other);
    const opened: Client[] = [];
    for (let i = 0; i < 10; i++) opened.push(await connect(url, { ticket: await ticketOf(t.app, heavy) }));
    expect(await upgradeStatus(url, { ticket: await ticketOf(t.app, heavy) })).toBe(429);
    for (const c of opened) c.ws.close();
    await Promise.all(opened.map((c) => c.closed));
  });
});

describe('rooms over the socket', () => {
  it('delivers a message to every socket in the room, with its sanitised html and its text', async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'live' });
    const a = await open(member);
    const b = await open(other);
    expect(await join(a, room.id)).toMatchObject({ type: 'joined', roomId: room.id });
    expect(await join(b, room.id)).toMatchObject({ type: 'joined', roomId: room.id });
    a.send({ type: 'message', roomId: room.id, text: 'hi <img src=x onerror=alert(1)> **there**' });
    const got = await b.next((f) => f.type === 'message');
    expect(got).toMatchObject({ roomId: room.id, authorId: member.userId, text: 'hi <img src=x onerror=alert(1)> **there**' });
    expect(got.html).toBe('<p>hi &lt;img src=x onerror=alert(1)&gt; <strong>there</strong></p>');
    // REST posts reach sockets too, and leaving stops delivery.
    await postMessage(t.app, other, room.id, 'from REST');
    expect((await a.next((f) => f.type === 'message' && f.text === 'from REST')).authorId).toBe(other.userId);
    a.send({ type: 'leave', roomId: room.id });
    expect(await a.next((f) => f.type === 'left')).toMatchObject({ roomId: room.id, reason: 'requested' });
    await postMessage(t.app, other, room.id, 'after leaving');
    await b.next((f) => f.type === 'message' && f.text === 'after leaving');
    expect(a.frames.some((f) => f.text === 'after leaving')).toBe(false);
  });

  it("lets tenant B's socket neither join, read nor post in A's rooms by guessed ids", async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'A live' });
    const a = await open(member);
    await join(a, room.id);
    const b = await open(foreign);
    expect(await join(b, room.id)).toMatchObject({ type: 'error', code: 'not-found' });
    const missing = randomUUID();
    expect(await join(b, missing)).toMatchObject({ type: 'error', code: 'not-found', message: (await join(a, missing)).message });
    b.send({ type: 'message', roomId: room.id, text: 'B was here' });
    expect(await b.next((f) => f.type === 'error')).toMatchObject({ code: 'not-found', roomId: room.id });
    await postMessage(t.app, member, room.id, 'A only');
    await a.next((f) => f.type === 'message' && f.text === 'A only');
    expect(b.frames.filter((f) => f.type === 'message')).toEqual([]);
    expect(json(await api(t.app, member, 'GET', `/rooms/${room.id}/messages`)).items.map((m: { text: string }) => m.text)).not.toContain('B was here');
  });

  it("keeps a private room's frames from a non-member, and drops a removed member at once", async () => {
    const room = await createRoom(t.app, member, { kind: 'private', name: 'inner', members: [other.userId] });
    const outsider = await open(owner);
    expect(await join(outsider, room.id)).toMatchObject({ type: 'error', code: 'not-found' });
    const insider = await open(other);
    expect(await join(insider, room.id)).toMatchObject({ type: 'joined' });
    expect((await api(t.app, member, 'DELETE', `/rooms/${room.id}/members/${other.userId}`)).statusCode).toBe(204);
    expect(await insider.next((f) => f.type === 'left')).toMatchObject({ roomId: room.id, reason: 'access-revoked' });
    await postMessage(t.app, member, room.id, 'after removal');
    await new Promise((r) => setTimeout(r, 300));
    expect([...insider.frames, ...outsider.frames].some((f) => f.text === 'after removal')).toBe(false);
  });

  it('answers malformed frames with error frames and closes a client that only sends garbage', async () => {
    const c = await open(member);
    c.ws.send('not json');
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'bad-frame' });
    c.send({ type: 'join', roomId: 'x' });
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'bad-frame' });
    c.send({ type: 'join', roomId: randomUUID(), tenantId: foreign.tenantId });
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'bad-frame' });
    for (let i = 0; i < 11; i++) c.ws.send('{');
    expect((await c.closed).code).toBe(4400);
  });
});

describe('limits', () => {
  it('answers a flood with rate-limited error frames, never a silent drop', async () => {
    const room = await createRoom(t.app, other, { kind: 'public', name: 'flood' });
    const c = await open(other);
    await join(c, room.id);
    for (let i = 0; i < 25; i++) c.send({ type: 'message', roomId: room.id, text: `flood ${i}` });
    const answers: Array<Record<string, any>> = [];
    while (answers.length < 25) answers.push(await c.next((f) => f.type === 'error' || f.type === 'message'));
    const limited = answers.filter((f) => f.type === 'error');
    expect(limited.length).toBeGreaterThan(0);
    for (const f of limited) expect(f).toMatchObject({ code: 'rate-limited', roomId: room.id, retryAfterMs: expect.any(Number) });
    const stored = json(await api(t.app, other, 'GET', `/rooms/${room.id}/messages?limit=100`)).items.length;
    expect(stored).toBe(25 - limited.length);
  });

  it('answers an oversized text with an error frame and an oversized frame by closing (1009)', async () => {
    const room = await createRoom(t.app, member, { kind: 'public', name: 'size' });
    const c = await open(member);
    await join(c, room.id);
    c.send({ type: 'message', roomId: room.id, text: 'x'.repeat(4001) });
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'payload-too-large' });
    c.ws.send(JSON.stringify({ type: 'message', roomId: room.id, text: 'y'.repeat(20_000) }));
    expect((await c.closed).code).toBe(1009);
  });
});

describe('sessions behind sockets', () => {
  it('closes the socket of a revoked session within 5 s (4401)', async () => {
    const { login } = await import('../support/app.ts');
    const session = await login(t.app, member);
    const c = await open(session);
    const started = Date.now();
    // Revoked behind this process's back (as another node would): only the periodic re-check can see it.
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE sessions SET revoked_at = now() WHERE user_id = ${member.userId} AND revoked_at IS NULL
      AND id = (SELECT id FROM sessions WHERE user_id = ${member.userId} ORDER BY created_at DESC LIMIT 1)`));
    const { code } = await c.closed;
    expect(code).toBe(4401);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('narrows a socket whose role lost chat:write, and closes it when chat:read goes (4403)', async () => {
    const { login } = await import('../support/app.ts');
    const role = async (permissions: string[]) => json(await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(owner), payload: { name: `r-${randomUUID().slice(0, 6)}`, permissions } }));
    const [writer, reader, elsewhere] = [await role(['chat:read', 'chat:write']), await role(['chat:read']), await role(['knowledge:read'])];
    const setRoles = async (who: Account, roles: string[]) =>
      expect((await t.app.inject({ method: 'PUT', url: `/api/v1/members/${who.userId}/roles`, headers: bearer(owner), payload: { roles } })).statusCode).toBe(200);
    // Only custom roles: changing them keeps the session (a built-in role change ends it, and with it the socket).
    const first = await addMember(t.app, owner, 'member');
    await setRoles(first, [writer.id]);
    const target = await login(t.app, first);
    const room = await createRoom(t.app, member, { kind: 'public', name: 'narrow' });
    const c = await open(target);
    await join(c, room.id);
    c.send({ type: 'message', roomId: room.id, text: 'allowed' });
    await c.next((f) => f.type === 'message' && f.text === 'allowed');
    await setRoles(target, [reader.id]);
    await new Promise((r) => setTimeout(r, 4_500));
    c.send({ type: 'message', roomId: room.id, text: 'still allowed?' });
    expect(await c.next((f) => f.type === 'error')).toMatchObject({ code: 'forbidden' });
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    const started = Date.now();
    await setRoles(target, [elsewhere.id]);
    expect((await c.closed).code).toBe(4403);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
