// npm run bench — each figure against a baseline measured in the same run (DESIGN.md §7).
// BENCH_ONLY=request npm run bench runs the request path (and its breakdown) alone.
// Writes bench/results.json. Never a test: a slow machine reports a ratio, it does not fail.
import fs from 'node:fs';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { sql } from 'drizzle-orm';
import { jwtVerify, createLocalJWKSet } from 'jose';
import { bootPlatform, shutdownPlatform } from '../src/boot.ts';
import { loadConfig } from '../src/config/config.ts';
import { openPg, openPglite } from '../src/db/client.ts';
import { buildServer } from '../src/server.ts';
import { autocannon, perSecond, scratchDatabase } from './support.ts';
import { conventionalServer } from './conventional.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);

const load = (url: string, headers: Record<string, string>) => autocannon(url, headers, { connections, seconds });

const profile = process.env.DATABASE_URL ? 'postgres' : 'embedded';
const config = loadConfig({
  ...process.env,
  OCSUITE_MASTER_KEYS: `b1:${randomBytes(32).toString('base64')}`,
  OCSUITE_RATE_LIMIT: '1000000',
  OCSUITE_TENANT_RATE_LIMIT: '1000000', OCSUITE_USER_RATE_LIMIT: '1000000', OCSUITE_WRITE_RATE_LIMIT: '1000000', OCSUITE_EXPENSIVE_RATE_LIMIT: '1000000',
  OCSUITE_AUTH_RATE_LIMIT: '1000000',
  LOG_LEVEL: 'warn',
  NODE_ENV: 'development',
});
let db;
let dropDb: (() => Promise<void>) | undefined;
let benchUrl: string | undefined;
if (config.databaseUrl) {
  const scratch = await scratchDatabase(config.databaseUrl, 'api');
  benchUrl = scratch.url;
  db = openPg(benchUrl, 20);
  dropDb = scratch.drop;
} else {
  db = await openPglite(undefined);
}
const platform = await bootPlatform(config, { db, jobsConnectionString: benchUrl });
const app = await buildServer(platform);
const signup = await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Bench', email: 'bench@example.com', password: 'correct horse battery staple 42' } });
if (signup.statusCode !== 201) throw new Error(`bench signup failed: ${signup.statusCode} ${signup.body}`);
const { accessToken, tenant } = signup.json();
const entry = (await app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: { authorization: `Bearer ${accessToken}` }, payload: { title: 'bench', body: 'x'.repeat(500), tags: ['a', 'b'] } })).json();
const fullUrl = await app.listen({ host: '127.0.0.1', port: 0 });

// Baseline: bare Fastify, the same SELECT on the same database, no security layer.
const bare = Fastify();
bare.get('/k/:id', async (req) => {
  const lease = await db.acquire();
  try {
    const [row] = await lease.query(sql`SELECT id, title, body, tags, created_by, created_at, updated_at FROM knowledge_entries WHERE tenant_id = ${tenant.id} AND id = ${(req.params as { id: string }).id}`);
    return row;
  } finally {
    lease.release();
  }
});
const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });

const jwk = (platform.tokens.jwks() as { keys: Record<string, unknown>[] }).keys[0]!;
const conventional = await conventionalServer({ jwk: jwk as never, databaseUrl: benchUrl, db, cache: false });
const conventionalCached = await conventionalServer({ jwk: jwk as never, databaseUrl: benchUrl, db, cache: true });
const conventionalUrl = await conventional.app.listen({ host: '127.0.0.1', port: 0 });
const conventionalCachedUrl = await conventionalCached.app.listen({ host: '127.0.0.1', port: 0 });

const results: Record<string, unknown> = { profile, node: process.version, cpus: os.cpus().length, seconds, connections, at: new Date().toISOString() };
// Four servers, alternating rounds, medians: on 2 cores shared by the load generator, Node and
// PostgreSQL, single runs vary by ±20 %. Each round starts with a different server, so none always
// runs first (on a cooler machine) or last. A full-length warm-up of each comes first (JIT, pools, caches).
const auth = { authorization: `Bearer ${accessToken}` };
const targets = {
  bare: () => load(`${bareUrl}/k/${entry.id}`, {}),
  full: () => load(`${fullUrl}/api/v1/knowledge/${entry.id}`, auth),
  conventional: () => load(`${conventionalUrl}/knowledge/${entry.id}`, auth),
  conventionalCached: () => load(`${conventionalCachedUrl}/knowledge/${entry.id}`, auth),
};
type Target = keyof typeof targets;
const names = Object.keys(targets) as Target[];
for (const name of names) await targets[name]();
const rounds = Math.max(5, Number(process.env.BENCH_ROUNDS ?? 5));
const runs = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<Target, number[]>;
for (let i = 0; i < rounds; i++) {
  for (let j = 0; j < names.length; j++) {
    const name = names[(i + j) % names.length]!;
    runs[name].push(await targets[name]());
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r3 = (x: number) => +x.toFixed(3);
const perRound = (over: Target) => runs.full.map((f, i) => f / runs[over][i]!);
results.knowledgeGet = {
  bareReqPerSec: Math.round(median(runs.bare)),
  fullPathReqPerSec: Math.round(median(runs.full)),
  conventionalReqPerSec: Math.round(median(runs.conventional)),
  conventionalCachedReqPerSec: Math.round(median(runs.conventionalCached)),
  // Same-round ratios, then their median: each pair ran back to back on the same machine state.
  ratio: r3(median(perRound('bare'))),
  ratiosPerRound: perRound('bare').map(r3),
  vsConventional: r3(median(perRound('conventional'))),
  vsConventionalPerRound: perRound('conventional').map(r3),
  vsConventionalCached: r3(median(perRound('conventionalCached'))),
  vsConventionalCachedPerRound: perRound('conventionalCached').map(r3),
  rounds,
  targets: { vsBare: profile === 'postgres' ? 0.7 : 0.6, vsConventional: 2, vsConventionalCached: 1.4 },
};

// Where the time goes: the same pieces in-process, each against its own baseline.
const opts = { statementTimeoutMs: 5000 };
const n = 3000;
const bareQuery = await perSecond(n, async () => {
  const l = await db.acquire();
  try {
    await l.query(sql`SELECT id FROM knowledge_entries WHERE tenant_id = ${tenant.id} AND id = ${entry.id}`);
  } finally {
    l.release();
  }
});
const tenantQuery = await perSecond(n, () => platform.withTenant({ tenantId: tenant.id }, (tx) => tx.query(sql`SELECT id FROM knowledge_entries WHERE id = ${entry.id}`)));
const tenantStatement = await perSecond(n, () => platform.queryAsTenant({ tenantId: tenant.id }, sql`SELECT id FROM knowledge_entries WHERE id = ${entry.id}`));
const keySet = createLocalJWKSet(platform.tokens.jwks() as never);
const joseVerify = await perSecond(n, () => jwtVerify(accessToken, keySet, { algorithms: ['EdDSA'] }));
const cachedVerify = await perSecond(n * 10, () => platform.tokens.verify(accessToken));
results.breakdown = {
  bareQueryPerSec: Math.round(bareQuery),
  withTenantQueryPerSec: Math.round(tenantQuery),
  withTenantRatio: +(tenantQuery / bareQuery).toFixed(3),
  queryAsTenantPerSec: Math.round(tenantStatement),
  queryAsTenantRatio: +(tenantStatement / bareQuery).toFixed(3),
  joseEdDSAVerifyPerSec: Math.round(joseVerify),
  cachedTokenVerifyPerSec: Math.round(cachedVerify),
  cachedVsJoseRatio: +(cachedVerify / joseVerify).toFixed(1),
};

await app.close();
await bare.close();
await conventional.close();
await conventionalCached.close();
await shutdownPlatform(platform);
await dropDb?.();

const k = results.knowledgeGet as Record<string, number>;
const b = results.breakdown as Record<string, number>;
console.log(`\nOC-Suite bench (${profile}, ${process.version}, autocannon -c ${connections} -d ${seconds})`);
console.log(`GET /api/v1/knowledge/:id, medians of ${rounds} alternating rounds`);
console.log(`  full path ${k.fullPathReqPerSec} req/s   bare Fastify + same SELECT ${k.bareReqPerSec} req/s   ratio ${k.ratio} (target ≥ ${profile === 'postgres' ? 0.7 : 0.6})`);
console.log(`  vs conventional assembly ${k.conventionalReqPerSec} req/s   ×${k.vsConventional} (target ≥ 2)`);
console.log(`  vs conventional + fast-jwt cache ${k.conventionalCachedReqPerSec} req/s   ×${k.vsConventionalCached} (target ≥ 1.4)`);
console.log(`  withTenant transaction     ${b.withTenantQueryPerSec}/s vs bare query ${b.bareQueryPerSec}/s   ratio ${b.withTenantRatio}`);
console.log(`  queryAsTenant (1 round trip) ${b.queryAsTenantPerSec}/s vs bare query ${b.bareQueryPerSec}/s   ratio ${b.queryAsTenantRatio}`);
console.log(`  token verification         cached ${b.cachedTokenVerifyPerSec}/s vs jose EdDSA ${b.joseEdDSAVerifyPerSec}/s   ×${b.cachedVsJoseRatio}`);
fs.mkdirSync('bench', { recursive: true });
const file = `bench/results.json`;
const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
all[profile] = results;
fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
console.log(`written ${file}`);

if (process.env.BENCH_ONLY !== 'request') {
  // The audit trail (issue #4): its own script and its own `audit` section of the same file.
  await import('./audit.ts');

  // The secrets vault (issue #5): seal/open, re-encryption and master rotation in the `crypto` section.
  await import('./crypto.ts');

  // Background jobs (issue #6): port vs raw pg-boss / BullMQ in the `jobs` section.
  await import('./jobs.ts');

  // Token verification on the request path (issue #3): built-in and external tokens vs jose direct, `tokens` section.
  await import('./tokens.ts');

  // The ledger (issue #12): service and API transfers vs plain INSERTs, latency, a hot account; `ledger` section.
  await import('./ledger.ts');
  // Outreach sends (issue #15): a campaign through the queue to a local SMTP server vs nodemailer alone, `outreach` section.
  await import('./outreach.ts');

  // Webhooks (issue #13): signed vs unsigned deliveries, verified vs unverified inbound, `webhooks` section.
  await import('./webhooks.ts');
  // Chat (issue #14): fan-out to 1,000 sockets in one room vs a bare ws broadcast, `chat` section.
  await import('./chat.ts');

  // Redaction (issue #15): kernel/redact vs a plain regex pass, `redact` section.
  await import('./redact.ts');
}
