// node bench/webhooks.ts — webhooks (issue #13) against same-run baselines (DESIGN.md §7):
//  1. signed deliveries/s to a local receiver vs unsigned POSTs of the same payloads by the same client
//     (platform.egress, the one client deliveries use), target ≥ 0.8;
//  2. inbound verified events/s through POST /hooks/{id} (the whole request path, secret opened, signature
//     and timestamp checked, replay store) vs an unverified handler doing the same storage, target ≥ 0.8.
// Bounded counts, alternating rounds in both orders, geometric mean of the per-round ratios. Writes the `webhooks` section of bench/results.json.
// Never a test: a slow machine reports a ratio, it does not fail.
import fs from 'node:fs';
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { bootPlatform, shutdownPlatform } from '../src/boot.ts';
import { loadConfig } from '../src/config/config.ts';
import { openPg, openPglite } from '../src/db/client.ts';
import { deliveryHeaders } from '../src/modules/webhooks/delivery.ts';
import { buildServer } from '../src/server.ts';
import { generateWebhookSecret } from '../src/kernel/webhooks/index.ts';
import { scratchDatabase } from './support.ts';

// Outbound calls per round: at 2,000–3,000 a second, fewer make rounds of a few dozen milliseconds, all noise.
const N = Number(process.env.BENCH_WEBHOOKS_N ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_WEBHOOKS_CONCURRENCY ?? 8);
// Short alternating rounds: on a shared machine the load drifts between two long runs.
const ROUNDS = Number(process.env.BENCH_WEBHOOKS_ROUNDS ?? 8);
const profile = process.env.DATABASE_URL ? 'postgres' : 'embedded';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// The ratio over rounds run in both orders (ABBA): the geometric mean cancels whatever the run that goes
// second gains or loses (sockets in TIME_WAIT, garbage, an in-process job waking up) from the first.
const geomean = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);

/** `n` calls of `fn`, `CONCURRENCY` at a time; calls per second. */
async function rate(n: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await fn(next++);
  }));
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

const receiver = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(204).end());
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const target = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

const config = loadConfig({
  ...process.env,
  OCSUITE_MASTER_KEYS: `b1:${randomBytes(32).toString('base64')}`,
  OCSUITE_RATE_LIMIT: '1000000',
  OCSUITE_TENANT_RATE_LIMIT: '1000000', OCSUITE_USER_RATE_LIMIT: '1000000', OCSUITE_WRITE_RATE_LIMIT: '1000000', OCSUITE_EXPENSIVE_RATE_LIMIT: '1000000',
  OCSUITE_AUTH_RATE_LIMIT: '1000000',
  OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32',
  OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1',
  // Rate counters of its own in Redis: a run right after another would inherit its inbound budget.
  OCSUITE_JOBS_PREFIX: `bench-webhooks-${randomUUID()}`,
  LOG_LEVEL: 'warn',
  NODE_ENV: 'development',
});
let scratch: Awaited<ReturnType<typeof scratchDatabase>> | undefined;
if (config.databaseUrl) scratch = await scratchDatabase(config.databaseUrl, 'webhooks');
const db = scratch ? openPg(scratch.url, 20) : await openPglite(undefined);
const platform = await bootPlatform(config, { db, jobsConnectionString: scratch?.url });
const app = await buildServer(platform);
// A module subscriber of its own is not needed: events wait in the inbound queue (no workers here).
const signup = await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Bench', email: 'bench@example.com', password: 'correct horse battery staple 42' } });
const { accessToken, tenant } = signup.json();
const auth = { authorization: `Bearer ${accessToken}` };

// ─── 1. outbound: signed vs unsigned, same client, same payloads ────────────
const secret = generateWebhookSecret();
const payloads = Array.from({ length: N }, (_, i) => JSON.stringify({ type: 'webhooks.test', timestamp: new Date().toISOString(), data: { i, note: 'x'.repeat(400) } }));
const signedRuns: number[] = [];
const unsignedRuns: number[] = [];
const unsigned = () => rate(N, async (i) => {
  const res = await platform.egress.request(target, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'OC-Suite-Webhooks/1' }, body: payloads[i]! });
  if (res.status !== 204) throw new Error(`receiver answered ${res.status}`);
});
const signed = () => rate(N, async (i) => {
  const headers = deliveryHeaders([secret], `msg_${randomUUID()}`, Math.floor(Date.now() / 1000), payloads[i]!);
  const res = await platform.egress.request(target, { method: 'POST', headers, body: payloads[i]! });
  if (res.status !== 204) throw new Error(`receiver answered ${res.status}`);
});
// Which side runs first alternates too: the second run of a pair inherits the first one's sockets in
// TIME_WAIT and its garbage, and would otherwise always be the signed one.
for (let round = 0; round < ROUNDS; round++) {
  if (round % 2 === 0) { unsignedRuns.push(await unsigned()); signedRuns.push(await signed()); }
  else { signedRuns.push(await signed()); unsignedRuns.push(await unsigned()); }
}
const outboundRatios = signedRuns.map((s, i) => s / unsignedRuns[i]!);

// ─── 2. inbound: verified vs an unverified handler with the same storage ────
const created = (await app.inject({ method: 'POST', url: '/api/v1/webhooks/inbound', headers: auth, payload: { name: 'bench', eventTypes: ['*'], maxBodyBytes: 4096 } })).json();
const fullUrl = await app.listen({ host: '127.0.0.1', port: 0 });
const signer = new Webhook(created.secret);

const bare = Fastify();
bare.removeAllContentTypeParsers();
bare.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
bare.post('/hooks/:id', async (req, reply) => {
  const id = (req.params as { id: string }).id;
  const [owner] = await platform.withIdentity((tx) => tx.query<{ tenant_id: string }>(sql`SELECT tenant_id FROM webhook_receivers WHERE id = ${id}`));
  const tenantId = owner!.tenant_id;
  const event = await platform.withTenant({ tenantId }, async (tx) => {
    await tx.query(sql`SELECT scheme, allowed_cidrs, max_body_bytes, event_types, enabled FROM webhook_receivers WHERE id = ${id}`);
    const payload = JSON.parse((req.body as Buffer).toString('utf8')) as { type: string };
    const [row] = await tx.query<{ id: string }>(sql`
      INSERT INTO webhook_inbound_events (tenant_id, receiver_id, webhook_id, event_type, payload)
      VALUES (${tenantId}, ${id}, ${String(req.headers['webhook-id'])}, ${payload.type}, ${JSON.stringify(payload)}::jsonb)
      ON CONFLICT DO NOTHING RETURNING id`);
    return row!;
  });
  await platform.jobs.send('webhooks.inbound', { eventId: event.id }, { tenantId, idempotencyKey: event.id });
  return reply.code(202).send({ id: event.id });
});
const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });

const body = (i: number) => JSON.stringify({ type: 'n8n.ping', data: { i, note: 'y'.repeat(300) } });
async function call(base: string, i: number) {
  const b = body(i);
  const id = `msg_${randomUUID()}`;
  const headers = { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': signer.sign(id, new Date(), b) };
  const res = await fetch(`${base}/hooks/${created.id}`, { method: 'POST', headers, body: b });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`${base} answered ${res.status}: ${text}`);
}
const verifiedRuns: number[] = [];
const unverifiedRuns: number[] = [];
// POST /hooks/{id} has its own rate class (1,200 calls a minute per sender IP) that the bench does not
// lift: the verified rounds stay under it, or PostgreSQL's pace would be answered 429.
const INBOUND_N = Math.min(200, N, Math.floor(1_100 / ROUNDS));
for (let round = 0; round < ROUNDS; round++) {
  const pair = [() => rate(INBOUND_N, (i) => call(bareUrl, i)).then((r) => unverifiedRuns.push(r)), () => rate(INBOUND_N, (i) => call(fullUrl, i)).then((r) => verifiedRuns.push(r))];
  for (const run of round % 2 === 0 ? pair : pair.reverse()) await run();
}
const inboundRatios = verifiedRuns.map((v, i) => v / unverifiedRuns[i]!);

const results = {
  profile, node: process.version, n: N, concurrency: CONCURRENCY, rounds: ROUNDS, at: new Date().toISOString(),
  outbound: {
    unsignedPostsPerSec: Math.round(median(unsignedRuns)),
    signedDeliveriesPerSec: Math.round(median(signedRuns)),
    ratio: +geomean(outboundRatios).toFixed(3),
    ratiosPerRound: outboundRatios.map((r) => +r.toFixed(3)),
    target: 0.8,
  },
  inbound: {
    unverifiedPerSec: Math.round(median(unverifiedRuns)),
    verifiedPerSec: Math.round(median(verifiedRuns)),
    ratio: +geomean(inboundRatios).toFixed(3),
    ratiosPerRound: inboundRatios.map((r) => +r.toFixed(3)),
    target: 0.8,
  },
};

await app.close();
await bare.close();
await shutdownPlatform(platform);
await scratch?.drop();
receiver.close();
void tenant;

console.log(`\nOC-Suite webhooks bench (${profile}, ${process.version}, ${N} calls per round, ${ROUNDS} alternating rounds, concurrency ${CONCURRENCY})`);
console.log(`outbound  signed ${results.outbound.signedDeliveriesPerSec}/s vs unsigned ${results.outbound.unsignedPostsPerSec}/s (same egress client)   ratio ${results.outbound.ratio} (geometric mean, both orders) (target ≥ 0.8)`);
console.log(`inbound   verified ${results.inbound.verifiedPerSec}/s vs unverified handler ${results.inbound.unverifiedPerSec}/s   ratio ${results.inbound.ratio} (target ≥ 0.8)`);
const file = 'bench/results.json';
const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
all.webhooks = { ...(all.webhooks ?? {}), [profile]: results };
fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
console.log(`written ${file} (webhooks.${profile})`);
