import net from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { startApp, type TestApp } from '../support/app.ts';

/**
 * Issue #10 §1, from outside with raw sockets: OCSUITE_REQUEST_TIMEOUT_MS bounds
 * receiving a whole request — headers and body — for every client; the answer
 * is a 408 problem where one can still be sent, and the connection is closed
 * within the timeout plus one second, while a normal client is served meanwhile.
 */
const TIMEOUT_MS = 3_000;
const BOUND_MS = TIMEOUT_MS + 1_000;
const KEEP_ALIVE_MS = 500;

let t: TestApp;
let port: number;

beforeAll(async () => {
  t = await startApp({
    OCSUITE_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS),
    OCSUITE_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
    OCSUITE_MAX_CONNECTIONS_PER_IP: '40',
    OCSUITE_ACCESS_LOG_FLUSH_MS: '60000',
  });
  port = Number(new URL(await t.app.listen({ host: '127.0.0.1', port: 0 })).port);
});
afterAll(async () => t?.close());

interface Outcome {
  /** Everything the server wrote, in order. */
  received: string;
  /** ms from connect to the server closing the connection. */
  closedAfterMs: number;
}

/** Connects, runs `drive` with the socket, and resolves once the server has closed it. */
function rawClient(drive: (socket: net.Socket) => void, giveUpMs = BOUND_MS + 10_000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let received = '';
    const socket = net.connect(port, '127.0.0.1', () => drive(socket));
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${giveUpMs} ms`));
    }, giveUpMs);
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ received, closedAfterMs: Date.now() - started });
    });
  });
}

const responsesIn = (raw: string) => raw.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];

function expectProblem408(raw: string) {
  expect(responsesIn(raw)).toEqual(['HTTP/1.1 408']);
  expect(raw).toMatch(/content-type: application\/problem\+json/i);
  const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
  expect(body).toMatchObject({ type: 'urn:ocsuite:problem:request-timeout', status: 408 });
  return body as { requestId: string };
}

/** A normal client, timed: served at once while the slow ones wait. */
async function normalRequestMs(): Promise<number> {
  const started = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  expect(res.status).toBe(200);
  return Date.now() - started;
}

async function accessLinesOf(requestId: string) {
  await t.app.accessLog!.flush();
  return withOwner(t.platform.db, (tx) => tx.query<{ status: number; route: string }>(
    sql`SELECT status, route FROM platform_access_logs WHERE request_id = ${requestId}`));
}

const LOGIN_HEAD = 'POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n';

describe('slow clients', () => {
  it('headers that never finish: 408 problem and closed within the timeout plus one second', async () => {
    const slow = rawClient((s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    expect(await normalRequestMs()).toBeLessThan(TIMEOUT_MS);
    const out = await slow;
    const { requestId } = expectProblem408(out.received);
    expect(out.closedAfterMs).toBeLessThan(BOUND_MS);
    // Answered before any request was parsed, and still an access-log line.
    expect(await accessLinesOf(requestId)).toEqual([{ status: 408, route: 'unparsed' }]);
  });

  it('headers trickled one byte every 2 s: cut at the timeout, not kept alive by each byte', async () => {
    const header = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    let timer: NodeJS.Timeout | undefined;
    const out = await rawClient((s) => {
      let i = 0;
      s.write(header.slice(0, 20));
      timer = setInterval(() => !s.destroyed && s.write(header[20 + (i++ % 8)]!), 2_000);
    }).finally(() => clearInterval(timer));
    expectProblem408(out.received);
    expect(out.closedAfterMs).toBeLessThan(BOUND_MS);
  });

  it('a body that stops halfway: 408 problem, access-logged, closed within the bound', async () => {
    const slow = rawClient((s) => s.write(`${LOGIN_HEAD}{"email":"a@example.com"`));
    expect(await normalRequestMs()).toBeLessThan(TIMEOUT_MS);
    const out = await slow;
    const { requestId } = expectProblem408(out.received);
    expect(out.closedAfterMs).toBeLessThan(BOUND_MS);
    expect(await accessLinesOf(requestId)).toEqual([{ status: 408, route: '/api/v1/auth/login' }]);
  });

  it('a body trickled one byte every 2 s: answered 408 and closed within the bound', async () => {
    let timer: NodeJS.Timeout | undefined;
    const slow = rawClient((s) => {
      s.write(LOGIN_HEAD);
      timer = setInterval(() => !s.destroyed && s.write(' '), 2_000);
    }).finally(() => clearInterval(timer));
    expect(await normalRequestMs()).toBeLessThan(TIMEOUT_MS);
    const out = await slow;
    expectProblem408(out.received);
    expect(out.closedAfterMs).toBeLessThan(BOUND_MS);
  });

  it('an answer sent before the body (401) closes the connection, and nothing is written after it', async () => {
    let timer: NodeJS.Timeout | undefined;
    const out = await rawClient((s) => {
      s.write('POST /api/v1/knowledge HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"ti');
      timer = setInterval(() => !s.destroyed && s.write(' '), 500);
    }).finally(() => clearInterval(timer));
    // One answer only: no raw 408 written later on the same socket.
    expect(responsesIn(out.received)).toEqual(['HTTP/1.1 401']);
    expect(out.received).toMatch(/connection: close/i);
    expect(out.closedAfterMs).toBeLessThan(BOUND_MS);
  });

  it('an idle keep-alive connection is closed on its own, shorter timer', async () => {
    const out = await rawClient((s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(responsesIn(out.received)).toEqual(['HTTP/1.1 200']);
    // Node 24 adds keepAliveTimeoutBuffer (1 s) to the advertised timeout; still well inside the request timeout.
    expect(out.closedAfterMs).toBeLessThan(KEEP_ALIVE_MS + 2_000);
    expect(KEEP_ALIVE_MS + 2_000).toBeLessThan(TIMEOUT_MS);
  });

  it('a connection that sends nothing at all is closed within the bound', async () => {
    const out = await rawClient(() => {});
    expect(out.closedAfterMs).toBeLessThan(BOUND_MS);
  });
});

describe('connections per client IP', () => {
  it('are capped: beyond the cap a connection is answered 503 and closed, and room returns when one closes', async () => {
    const capped = await startApp({ OCSUITE_MAX_CONNECTIONS_PER_IP: '3', OCSUITE_REQUEST_TIMEOUT_MS: '20000' });
    try {
      const cappedPort = Number(new URL(await capped.app.listen({ host: '127.0.0.1', port: 0 })).port);
      const open = async () => {
        const s = net.connect(cappedPort, '127.0.0.1');
        s.on('error', () => {});
        await new Promise((r) => s.once('connect', r));
        return s;
      };
      const held = [await open(), await open(), await open()];
      const refused = await new Promise<{ raw: string; closed: boolean }>((resolve) => {
        const s = net.connect(cappedPort, '127.0.0.1');
        let raw = '';
        s.on('data', (d) => (raw += d));
        s.on('error', () => {});
        s.on('close', () => resolve({ raw, closed: true }));
      });
      expect(refused.closed).toBe(true);
      expect(responsesIn(refused.raw)).toEqual(['HTTP/1.1 503']);
      expect(refused.raw).toMatch(/retry-after: 1/i);
      held[0]!.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const res = await fetch(`http://127.0.0.1:${cappedPort}/healthz`);
      expect(res.status).toBe(200);
      for (const s of held) s.destroy();
    } finally {
      await capped.close();
    }
  });
});
