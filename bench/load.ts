// npm run load — a bounded, sustained mixed load against the multi-node setup on 127.0.0.1:
// LOAD_APIS API processes (3) and LOAD_WORKERS workers (2) on PostgreSQL (DATABASE_URL, default
// the machine's) and Redis (REDIS_URL), LOAD_CONCURRENCY clients (16) for LOAD_SECONDS (600).
// Reports throughput, p50/p99 per route class, the error rate and each process's RSS sampled
// every LOAD_RSS_SECONDS (10) — flat after warm-up — into bench/load-results.json.
// Never a test: the figures size a deployment (docs/scaling.md), they do not pass or fail.
import fs from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { purgePrefix } from '../src/jobs/bullmq.ts';
import { call, startCluster, type Answer } from '../test/scale/cluster.ts';
import { scratchDatabase } from './support.ts';

const seconds = Number(process.env.LOAD_SECONDS ?? 600);
const concurrency = Number(process.env.LOAD_CONCURRENCY ?? 16);
const rssEvery = Number(process.env.LOAD_RSS_SECONDS ?? 10) * 1000;
const baseDb = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PASSWORD = 'correct horse battery staple';

const scratch = await scratchDatabase(baseDb, 'load');
const cluster = await startCluster({
  databaseUrl: scratch.url, redisUrl, masterKeys: `l1:${randomBytes(32).toString('base64')}`,
  apis: Number(process.env.LOAD_APIS ?? 3), workers: Number(process.env.LOAD_WORKERS ?? 2),
  env: { RSS_EVERY_MS: String(rssEvery), OCSUITE_ACCESS_LOG_SYNC: process.env.OCSUITE_ACCESS_LOG_SYNC ?? 'false' },
});
const node = (i: number) => cluster.apis[i % cluster.apis.length]!.url;

type RouteClass = 'read' | 'write' | 'login' | 'enqueue';
const samples: Record<RouteClass, number[]> = { read: [], write: [], login: [], enqueue: [] };
const errors: Record<RouteClass, number> = { read: 0, write: 0, login: 0, enqueue: 0 };
const statuses: Record<string, number> = {};

try {
  // A few tenants, each with its owner; every client works as one of them.
  const owners: Array<{ email: string; tenantId: string; token: string }> = [];
  for (let i = 0; i < 4; i++) {
    const email = `load-${i}-${randomUUID().slice(0, 8)}@example.com`;
    const r = await call(node(i), 'POST', '/api/v1/auth/signup', { body: { tenantName: `Load ${i}`, email, password: PASSWORD }, clientIp: `198.18.9.${i + 1}` });
    if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${JSON.stringify(r.body)}`);
    owners.push({ email, tenantId: r.body.tenant.id as string, token: r.body.accessToken as string });
  }
  const started = Date.now();
  const until = started + seconds * 1000;
  const record = (cls: RouteClass, a: Answer, ok: (s: number) => boolean) => {
    statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    if (!ok(a.status)) errors[cls]++;
    else samples[cls].push(a.ms);
  };
  const client = async (c: number) => {
    const owner = owners[c % owners.length]!;
    const ip = `198.18.${10 + (c % 200)}.${(c % 250) + 1}`;
    for (let i = 0; Date.now() < until; i++) {
      const roll = (i * 7 + c) % 100;
      const at = node(c + i);
      if (roll < 60) record('read', await call(at, 'GET', roll % 2 ? '/api/v1/sessions' : '/api/v1/knowledge?limit=20', { token: owner.token, clientIp: ip }), (s) => s === 200);
      else if (roll < 85) record('write', await call(at, 'POST', '/api/v1/knowledge', { token: owner.token, clientIp: ip, body: { title: `load ${c}-${i}`, body: 'sustained load' } }), (s) => s === 201);
      else if (roll < 95) record('enqueue', await call(at, 'POST', '/api/v1/scaleprobe/jobs', { token: owner.token, clientIp: ip, body: { token: `l-${c}-${i}` } }), (s) => s === 202);
      else record('login', await call(at, 'POST', '/api/v1/auth/login', { clientIp: ip, body: { email: owner.email, password: PASSWORD, tenant: owner.tenantId } }), (s) => s === 200);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, c) => client(c)));
  const elapsed = (Date.now() - started) / 1000;

  const pct = (xs: number[], p: number) => {
    if (xs.length === 0) return null;
    const s = [...xs].sort((a, b) => a - b);
    return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10;
  };
  const total = Object.values(samples).reduce((n, xs) => n + xs.length, 0) + Object.values(errors).reduce((a, b) => a + b, 0);
  const processes = [...cluster.apis.map((a) => ({ name: a.name, proc: a.proc })), ...cluster.workers.map((w, i) => ({ name: `worker-${i}`, proc: w }))];
  const rss = processes.map(({ name, proc }) => {
    const mb = proc.lines.filter((l) => 'rss' in l).map((l) => Math.round(Number(l.rss) / 1048576));
    // Warm-up: the first fifth of the samples (at least one); flat = the mean of the last half after it against the first half.
    const warm = mb.slice(Math.max(1, Math.floor(mb.length / 5)));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const half = Math.floor(warm.length / 2);
    const growth = half >= 1 ? Math.round(((mean(warm.slice(half)) - mean(warm.slice(0, half))) / mean(warm.slice(0, half))) * 1000) / 10 : null;
    return { name, samplesMb: mb, afterWarmUpGrowthPct: growth };
  });
  const result = {
    at: new Date().toISOString(),
    setup: { apis: cluster.apis.length, workers: cluster.workers.length, concurrency, seconds: Math.round(elapsed), cpus: (await import('node:os')).cpus().length, database: 'PostgreSQL (scratch database)', redis: true },
    throughputPerSecond: Math.round((total / elapsed) * 10) / 10,
    errorRate: total ? Math.round((Object.values(errors).reduce((a, b) => a + b, 0) / total) * 10000) / 10000 : 0,
    statuses,
    routeClasses: Object.fromEntries((Object.keys(samples) as RouteClass[]).map((k) => [k, { requests: samples[k].length + errors[k], errors: errors[k], p50Ms: pct(samples[k], 50), p99Ms: pct(samples[k], 99) }])),
    rssMb: rss,
  };
  fs.writeFileSync(new URL('./load-results.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify({ throughputPerSecond: result.throughputPerSecond, errorRate: result.errorRate, routeClasses: result.routeClasses }, null, 2));
} finally {
  cluster.killAll();
  await purgePrefix(redisUrl, cluster.prefix).catch(() => {});
  await new Promise((r) => setTimeout(r, 500));
  await scratch.drop().catch(() => {});
}
