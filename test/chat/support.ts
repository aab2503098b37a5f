import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { bearer, json, type Account, type TestApp } from '../support/app.ts';

export const api = (app: FastifyInstance, who: Account, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  app.inject({ method, url: `/api/v1/chat${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });

export async function createRoom(app: FastifyInstance, who: Account, body: { kind: 'public' | 'private' | 'direct'; name?: string; members?: string[] }) {
  const res = await api(app, who, 'POST', '/rooms', body);
  if (res.statusCode !== 201) throw new Error(`room: ${res.statusCode} ${res.body}`);
  return json<{ id: string; kind: string; name: string | null }>(res);
}

export async function postMessage(app: FastifyInstance, who: Account, roomId: string, text: string) {
  const res = await api(app, who, 'POST', `/rooms/${roomId}/messages`, { text });
  if (res.statusCode !== 201) throw new Error(`post: ${res.statusCode} ${res.body}`);
  return json<{ id: string; text: string; html: string; state: string }>(res);
}

/** The app listening on a local port; the socket URL. */
export async function listen(t: TestApp): Promise<string> {
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  return `${address.replace('http', 'ws')}/api/v1/chat/ws`;
}

export async function ticketOf(app: FastifyInstance, who: Account): Promise<string> {
  const res = await api(app, who, 'POST', '/tickets');
  if (res.statusCode !== 201) throw new Error(`ticket: ${res.statusCode} ${res.body}`);
  return json<{ ticket: string }>(res).ticket;
}

export interface Client {
  ws: WebSocket;
  frames: Array<Record<string, any>>;
  /** The next frame (from now on, or already received and not yet taken) matching `match`. */
  next(match: (f: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  send(frame: object): void;
  closed: Promise<{ code: number; reason: string }>;
}

/** A `ws` client; rejects with the HTTP status when the upgrade is refused. */
export function connect(url: string, opts: { ticket?: string; token?: string; origin?: string; protocols?: string[] } = {}): Promise<Client> {
  const target = opts.ticket ? `${url}?ticket=${opts.ticket}` : url;
  const protocols = opts.protocols ?? ['ocsuite.v1', ...(opts.token ? [`bearer.${opts.token}`] : [])];
  const ws = new WebSocket(target, protocols, opts.origin ? { origin: opts.origin } : {});
  const frames: Array<Record<string, any>> = [];
  const waiters: Array<{ match: (f: Record<string, any>) => boolean; resolve: (f: Record<string, any>) => void }> = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data));
    const i = waiters.findIndex((w) => w.match(frame));
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(frame);
    else frames.push(frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
      ws.terminate();
    });
    ws.once('error', reject);
    ws.once('open', () => resolve({
      ws,
      frames,
      closed,
      send: (frame) => ws.send(JSON.stringify(frame)),
      next(match, timeoutMs = 5_000) {
        const i = frames.findIndex(match);
        if (i >= 0) return Promise.resolve(frames.splice(i, 1)[0]!);
        return new Promise((res, rej) => {
          const timer = setTimeout(() => rej(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(frames)}`)), timeoutMs);
          waiters.push({ match, resolve: (f) => { clearTimeout(timer); res(f); } });
        });
      },
    }));
  });
}

/** The status an upgrade attempt was refused with (or 101 if it opened). */
export async function upgradeStatus(url: string, opts: Parameters<typeof connect>[1]): Promise<number> {
  try {
    const c = await connect(url, opts);
    c.ws.close();
    return 101;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

export async function join(c: Client, roomId: string) {
  c.send({ type: 'join', roomId });
  return c.next((f) => (f.type === 'joined' || f.type === 'error') && f.roomId === roomId);
}
