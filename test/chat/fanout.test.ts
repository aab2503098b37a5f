import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/server.ts';
import { addMember, bearer, login, signup, startApp, usingPostgres, type Account, type TestApp } from '../support/app.ts';
import { api, connect, createRoom, join, postMessage, ticketOf, type Client } from './support.ts';

/**
 * Two API instances (issue #14 §5). With REDIS_URL, a message, a membership
 * change and a revocation on one reach the sockets of the other, and never a
 * socket of another tenant; without it each instance fans out in process only.
 * On PostgreSQL the instances are two platforms on one database (two processes
 * in all but the PID); on PGlite two apps on one platform, whose chat hubs and
 * buses share nothing but Redis.
 */
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const clients: Client[] = [];

async function socketUrl(app: FastifyInstance): Promise<string> {
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return `${address.replace('http', 'ws')}/api/v1/chat/ws`;
}

async function open(app: FastifyInstance, url: string, who: Account): Promise<Client> {
  const c = await connect(url, { ticket: await ticketOf(app, who) });
  clients.push(c);
  return c;
}

async function pair(env: Record<string, string>) {
  const one = await startApp(env);
  let other: TestApp | undefined;
  let app2: FastifyInstance;
  if (usingPostgres) {
    other = await startApp(env);
    app2 = other.app;
  } else {
    app2 = await buildServer(one.platform);
  }
  return {
    one, app2,
    async close() {
      if (other) await other.close();
      else await app2.close();
      await one.close();
    },
  };
}

describe('two instances with Redis', () => {
  let p: Awaited<ReturnType<typeof pair>>;
  let url1: string;
  let url2: string;
  let owner: Account;
  let member: Account;
  let other: Account;
  let foreign: Account;

  beforeAll(async () => {
    p = await pair({ REDIS_URL: redisUrl, OCSUITE_JOBS_PREFIX: `ocsuite-test-${randomUUID()}`, OCSUITE_INPROCESS_WORKERS: 'true' });
    url1 = await socketUrl(p.one.app);
    url2 = await socketUrl(p.app2);
    owner = await signup(p.one.app, 'Fan-out A');
    member = await addMember(p.one.app, owner, 'member');
    other = await addMember(p.one.app, owner, 'member');
    foreign = await signup(p.one.app, 'Fan-out B');
  });
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await p?.close();
  });

  it('delivers a message from a client on one instance to a client on the other, both ways', async () => {
    const room = await createRoom(p.one.app, member, { kind: 'public', name: 'across' });
    const a = await open(p.one.app, url1, member);
    const b = await open(p.app2, url2, other);
    await join(a, room.id);
    await join(b, room.id);
    a.send({ type: 'message', roomId: room.id, text: 'from instance one' });
    expect(await b.next((f) => f.type === 'message')).toMatchObject({ text: 'from instance one', authorId: member.userId, html: '<p>from instance one</p>' });
    await postMessage(p.app2, other, room.id, 'from instance two');
    expect((await a.next((f) => f.type === 'message' && f.text === 'from instance two')).authorId).toBe(other.userId);
  });

  it("never delivers to another tenant's socket", async () => {
    const room = await createRoom(p.one.app, member, { kind: 'public', name: 'A across' });
    const bRoom = await createRoom(p.app2, foreign, { kind: 'public', name: 'B across' });
    const spy = await open(p.app2, url2, foreign);
    expect(await join(spy, room.id)).toMatchObject({ type: 'error', code: 'not-found' });
    await join(spy, bRoom.id);
    const a = await open(p.one.app, url1, member);
    await join(a, room.id);
    for (let i = 0; i < 3; i++) await postMessage(p.one.app, member, room.id, `A secret ${i}`);
    await postMessage(p.app2, foreign, bRoom.id, 'B own');
    // B's own message arriving proves the spy socket is live and the A messages were sent before it.
    await spy.next((f) => f.type === 'message' && f.text === 'B own');
    for (let i = 0; i < 3; i++) await a.next((f) => f.text === `A secret ${i}`);
    expect(spy.frames.filter((f) => String(f.text ?? '').startsWith('A secret'))).toEqual([]);
  });

  it('makes a removal and a moderation on one instance reach sockets on the other', async () => {
    const room = await createRoom(p.one.app, member, { kind: 'private', name: 'inner across', members: [other.userId] });
    const b = await open(p.app2, url2, other);
    await join(b, room.id);
    const msg = await postMessage(p.one.app, member, room.id, 'soon hidden');
    await b.next((f) => f.type === 'message' && f.id === msg.id);
    expect((await api(p.one.app, owner, 'POST', `/messages/${msg.id}/hide`, { reason: 'spam' })).statusCode).toBe(200);
    expect(await b.next((f) => f.type === 'message-removed')).toMatchObject({ id: msg.id, roomId: room.id, state: 'removed' });
    expect((await api(p.one.app, member, 'DELETE', `/rooms/${room.id}/members/${other.userId}`)).statusCode).toBe(204);
    expect(await b.next((f) => f.type === 'left')).toMatchObject({ roomId: room.id, reason: 'access-revoked' });
  });

  it('closes a socket on the other instance within 5 s of a logout on this one', async () => {
    const session = await login(p.one.app, member);
    const c = await open(p.app2, url2, session);
    const started = Date.now();
    expect((await p.one.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(session) })).statusCode).toBe(204);
    expect((await c.closed).code).toBe(4401);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('two instances without Redis', () => {
  it('fan out in process only: the other instance serves the message from history, not live', async () => {
    const p = await pair({});
    try {
      const url1 = await socketUrl(p.one.app);
      const url2 = await socketUrl(p.app2);
      const owner = await signup(p.one.app, 'Local');
      const member = await addMember(p.one.app, owner, 'member');
      const room = await createRoom(p.one.app, member, { kind: 'public', name: 'local' });
      const near = await open(p.one.app, url1, owner);
      const far = await open(p.app2, url2, owner);
      await join(near, room.id);
      await join(far, room.id);
      await postMessage(p.one.app, member, room.id, 'only here');
      await near.next((f) => f.text === 'only here');
      await new Promise((r) => setTimeout(r, 300));
      expect(far.frames.filter((f) => f.type === 'message')).toEqual([]);
      const history = await api(p.app2, owner, 'GET', `/rooms/${room.id}/messages`);
      expect(JSON.parse(history.body).items.map((m: { text: string }) => m.text)).toEqual(['only here']);
    } finally {
      for (const c of clients) c.ws.terminate();
      await p.close();
    }
  });
});
