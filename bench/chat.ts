// node bench/chat.ts — chat fan-out (issue #14) against a same-run baseline (DESIGN.md §7):
// N sockets (default 1,000) in one room on one process; M messages posted over sockets; every
// socket receives every message. Figures: delivery latency p50/p99 and deliveries/s fanned out,
// against a bare `ws` server broadcasting the same frames to the same number of clients (target
// ratio ≥ 0.7), over alternating rounds on sockets opened once; memory per idle socket (clients run
// in this process too, for both servers: the difference between the two is chat's own cost). Bounded counts. Writes the `chat` section of
// bench/results.json. Never a test: a slow machine reports a ratio, it does not fail.
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { bootPlatform, shutdownPlatform } from '../src/boot.ts';
import { loadConfig } from '../src/config/config.ts';
import { openPg, openPglite } from '../src/db/client.ts';
import { buildServer } from '../src/server.ts';
import { scratchDatabase } from './support.ts';

const N = Number(process.env.BENCH_CHAT_SOCKETS ?? 1000);
const M = Number(process.env.BENCH_CHAT_MESSAGES ?? 40);
const PER_USER = 10; // the per-user socket cap
const ROUNDS = Number(process.env.BENCH_CHAT_ROUNDS ?? 4);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const profile = process.env.DATABASE_URL ? 'postgres' : 'embedded';
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const gc = () => (globalThis as { gc?: () => void }).gc?.();
const heap = () => { gc(); return process.memoryUsage().heapUsed + process.memoryUsage().external; };

const config = loadConfig({
  ...process.env,
  OCSUITE_MASTER_KEYS: `b1:${randomBytes(32).toString('base64')}`,
  OCSUITE_RATE_LIMIT: '1000000',
  OCSUITE_TENANT_RATE_LIMIT: '1000000', OCSUITE_USER_RATE_LIMIT: '1000000', OCSUITE_WRITE_RATE_LIMIT: '1000000', OCSUITE_EXPENSIVE_RATE_LIMIT: '1000000', OCSUITE_AUTH_RATE_LIMIT: '1000000', OCSUITE_MAX_CONNECTIONS_PER_IP: '100000',
  LOG_LEVEL: 'warn', NODE_ENV: 'development',
});
let scratch: Awaited<ReturnType<typeof scratchDatabase>> | undefined;
if (config.databaseUrl) scratch = await scratchDatabase(config.databaseUrl, 'chat');
const db = scratch ? openPg(scratch.url, 10) : await openPglite(undefined);
const platform = await bootPlatform(config, { db, jobsConnectionString: scratch?.url });
const app = await buildServer(platform);
const base = await app.listen({ host: '127.0.0.1', port: 0 });
const wsUrl = `${base.replace('http', 'ws')}/api/v1/chat/ws`;

const password = 'correct horse battery staple 42';
const owner = (await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Chat bench', email: 'chat-bench@example.com', password } })).json();
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const tokens: string[] = [owner.accessToken];
const senders = Math.ceil(M / 10);
while (tokens.length < 1 + Math.ceil(N / PER_USER) + senders * ROUNDS) {
  const inv = (await app.inject({ method: 'POST', url: '/api/v1/invitations', headers: auth(owner.accessToken), payload: { email: `m${tokens.length}@bench.example`, role: 'member' } })).json();
  const token = new URL(inv.acceptUrl).hash.replace('#token=', '');
  tokens.push((await app.inject({ method: 'POST', url: '/api/v1/invitations/accept', payload: { token, password } })).json().accessToken);
}
const room = (await app.inject({ method: 'POST', url: '/api/v1/chat/rooms', headers: auth(owner.accessToken), payload: { kind: 'public', name: 'bench' } })).json();

/** The sending sockets, closed at the end (an open client socket keeps the process alive). */
const openSenders: WebSocket[] = [];
async function openClient(url: string, protocols: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return ws;
}

/**
 * `N` receivers opened with `open` (memory per idle socket measured while they open), and a
 * round: send M frames with `send`, wait until every receiver has every frame; deliveries/s and latencies.
 */
async function receiversOf(label: string, open: (i: number) => Promise<WebSocket>) {
  const before = heap();
  const sockets: WebSocket[] = [];
  for (let i = 0; i < N; i++) sockets.push(await open(i));
  const bytesPerIdleSocket = Math.round((heap() - before) / N);
  let latencies: number[] = [];
  let expected = 0;
  let arrived = () => {};
  for (const ws of sockets) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      if (f.type !== 'message') return;
      latencies.push(Number(process.hrtime.bigint() - BigInt(f.text.slice(2))) / 1e6);
      if (latencies.length === expected) arrived();
    });
  }
  return {
    label, sockets, bytesPerIdleSocket,
    /** `prepare` runs before the clock starts (senders connect) and returns what sends the M frames. */
    async round(prepare: () => Promise<() => void>) {
      const sendAll = await prepare();
      latencies = [];
      expected = N * M;
      const all = new Promise<void>((r) => { arrived = r; });
      const start = process.hrtime.bigint();
      sendAll();
      await all;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      return { deliveriesPerSec: (N * M) / seconds, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99) };
    },
  };
}

// Chat: receivers authenticated by tickets, joined to the room; senders post over their own sockets
// (fresh senders each round: the per-user flood limit is not what is measured). Senders connect
// before the round's clock starts, as the bare sender is connected before its rounds.
const ticket = async (token: string) => (await app.inject({ method: 'POST', url: '/api/v1/chat/tickets', headers: auth(token) })).json().ticket as string;
const chatReceivers = await receiversOf('chat', async (i) => {
  const ws = await openClient(`${wsUrl}?ticket=${await ticket(tokens[1 + Math.floor(i / PER_USER)]!)}`, ['ocsuite.v1']);
  ws.send(JSON.stringify({ type: 'join', roomId: room.id }));
  await new Promise((resolve) => ws.once('message', resolve));
  return ws;
});
let senderRound = 0;
const chatSend = async () => {
  const first = tokens.length - senders * (senderRound++ % ROUNDS + 1);
  const senderSockets = await Promise.all(Array.from({ length: senders }, async (_, s) => openClient(`${wsUrl}?ticket=${await ticket(tokens[first + s]!)}`, ['ocsuite.v1'])));
  openSenders.push(...senderSockets);
  return () => {
    for (let m = 0; m < M; m++) senderSockets[Math.floor(m / 10)]!.send(JSON.stringify({ type: 'message', roomId: room.id, text: `t:${process.hrtime.bigint()}` }));
  };
};

// Baseline: a bare ws server that broadcasts every frame it receives, as JSON of the same shape.
const bare = new WebSocketServer({ port: 0, host: '127.0.0.1' });
await new Promise((resolve) => bare.once('listening', resolve));
const bareUrl = `ws://127.0.0.1:${(bare.address() as AddressInfo).port}`;
const bareClients = new Set<WebSocket>();
bare.on('connection', (ws) => {
  ws.on('message', (data) => {
    const f = JSON.parse(String(data));
    const frame = JSON.stringify({ id: randomBytes(16).toString('hex'), roomId: room.id, authorId: owner.user.id, state: 'visible', text: f.text, html: `<p>${f.text}</p>`, createdAt: new Date().toISOString(), editedAt: null, type: 'message' });
    for (const c of bareClients) c.send(frame);
  });
});
const bareReceivers = await receiversOf('bare', async () => {
  const ws = await openClient(bareUrl, []);
  await new Promise((r) => setImmediate(r));
  return ws;
});
for (const c of bare.clients) bareClients.add(c);
const bareSender = await openClient(bareUrl, []);
openSenders.push(bareSender);
const bareSend = async () => () => {
  for (let m = 0; m < M; m++) bareSender.send(JSON.stringify({ text: `t:${process.hrtime.bigint()}` }));
};

// Alternating rounds in both orders (ABBA) over the same open sockets; the ratio is the geometric
// mean of the per-round ratios, the latencies the medians of the rounds' percentiles.
type Round = Awaited<ReturnType<typeof chatReceivers.round>>;
const chatRounds: Round[] = [];
const bareRounds: Round[] = [];
await chatReceivers.round(chatSend); // warm-up
await bareReceivers.round(bareSend);
for (let r = 0; r < ROUNDS; r++) {
  const pair = [async () => chatRounds.push(await chatReceivers.round(chatSend)), async () => bareRounds.push(await bareReceivers.round(bareSend))];
  for (const run of r % 2 === 0 ? pair : pair.reverse()) await run();
}
for (const s of [...openSenders, ...chatReceivers.sockets, ...bareReceivers.sockets]) s.terminate();
bare.close();
const summary = (label: string, rounds: Round[], bytesPerIdleSocket: number) => {
  const result = {
    deliveriesPerSec: Math.round(median(rounds.map((x) => x.deliveriesPerSec))),
    p50Ms: +median(rounds.map((x) => x.p50)).toFixed(2),
    p99Ms: +median(rounds.map((x) => x.p99)).toFixed(2),
    bytesPerIdleSocket,
  };
  console.log(`${label.padEnd(6)} ${result.deliveriesPerSec} deliveries/s  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms  ${result.bytesPerIdleSocket} B/idle socket (client+server)`);
  return result;
};
const chat = summary('chat', chatRounds, chatReceivers.bytesPerIdleSocket);
const bareResult = summary('bare', bareRounds, bareReceivers.bytesPerIdleSocket);
const ratios = chatRounds.map((c, i) => c.deliveriesPerSec / bareRounds[i]!.deliveriesPerSec);
const geomean = Math.exp(ratios.reduce((a, x) => a + Math.log(x), 0) / ratios.length);

const results = { sockets: N, messages: M, rounds: ROUNDS, chat, bare: bareResult, ratio: +geomean.toFixed(3), ratiosPerRound: ratios.map((x) => +x.toFixed(3)), target: 0.7, at: new Date().toISOString() };
console.log(`\nOC-Suite chat bench (${profile}, ${process.version}, ${N} sockets, ${M} messages, ${ROUNDS} alternating rounds): ratio ${results.ratio} (geometric mean) (target ≥ 0.7)`);
await app.close();
await shutdownPlatform(platform);
await scratch?.drop();
const file = 'bench/results.json';
const stored = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
stored.chat = { ...(stored.chat ?? {}), [profile]: results };
fs.writeFileSync(file, `${JSON.stringify(stored, null, 2)}\n`);
console.log(`written ${file} (chat.${profile})`);
