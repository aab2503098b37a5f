// node bench/audit.ts — the audit trail against same-run baselines (issue #4):
//  1. appending audit events through the transparency log vs plain INSERTs of the same rows into a
//     table of the same shape (indexes, RLS, runtime role), one event per transaction and batches of 100
//     (target ratio ≥ 0.6, issue #21);
//  2. inclusion-proof latency at BENCH_AUDIT_LEAVES leaves (default 1,000,000 on PostgreSQL,
//     100,000 embedded), served from storage as the API does (target p99 ≤ 1 ms on PostgreSQL, 5 ms embedded), next to
//     a one-row primary-key SELECT in the same kind of transaction;
//  3. GET /api/v1/knowledge/:id throughput with access logging on vs off (target ratio ≥ 0.95).
// Set DATABASE_URL for PostgreSQL (a database of its own, dropped afterwards).
// Writes the `audit` section of bench/results.json. Never a test: a slow machine reports, it does not fail.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { sql } from 'drizzle-orm';
import { bootPlatform, shutdownPlatform } from '../src/boot.ts';
import { loadConfig } from '../src/config/config.ts';
import { openPg, openPglite, type Database } from '../src/db/client.ts';
import { withIdentity, withOwner } from '../src/db/transaction.ts';
import { recordAuditEvents, toAuditRecord, type AuditEventInput } from '../src/kernel/audit/events.ts';
import { auditLeafHash } from '../src/kernel/audit/leaf.ts';
import { tenantLog } from '../src/kernel/audit/logs.ts';
import { auditKernel } from '../src/kernel/audit/service.ts';
import { dbNodeReader } from '../src/kernel/translog/db-log.ts';
import { perfectSubtrees, rootAt, verifyInclusion } from '../src/kernel/translog/index.ts';
import type { Platform } from '../src/kernel/platform.ts';
import { buildServer } from '../src/server.ts';
import { autocannon, scratchDatabase } from './support.ts';

const profile = process.env.DATABASE_URL ? 'postgres' : 'embedded';
const LEAVES = Number(process.env.BENCH_AUDIT_LEAVES ?? (profile === 'postgres' ? 1_000_000 : 100_000));
const SINGLE = Number(process.env.BENCH_AUDIT_SINGLE ?? 1_000);
const BATCHES = Number(process.env.BENCH_AUDIT_BATCHES ?? 30);
const PROOFS = Number(process.env.BENCH_AUDIT_PROOFS ?? 2_000);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 20);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const parts = new Set((process.env.BENCH_AUDIT_PARTS ?? 'append,proofs,access').split(','));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const r3 = (n: number) => Math.round(n * 1000) / 1000;
const elapsed = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

const config = loadConfig({
  ...process.env,
  OCSUITE_MASTER_KEYS: `b1:${randomBytes(32).toString('base64')}`,
  OCSUITE_RATE_LIMIT: '1000000',
  OCSUITE_TENANT_RATE_LIMIT: '1000000', OCSUITE_USER_RATE_LIMIT: '1000000', OCSUITE_WRITE_RATE_LIMIT: '1000000', OCSUITE_EXPENSIVE_RATE_LIMIT: '1000000',
  OCSUITE_AUTH_RATE_LIMIT: '1000000',
  OCSUITE_STATEMENT_TIMEOUT_MS: '600000',
  LOG_LEVEL: 'warn',
  NODE_ENV: 'development',
});
let db: Database;
let dropDb: (() => Promise<void>) | undefined;
let benchUrl: string | undefined;
if (config.databaseUrl) {
  const scratch = await scratchDatabase(config.databaseUrl, 'audit');
  benchUrl = scratch.url;
  db = openPg(benchUrl, 20);
  dropDb = scratch.drop;
} else {
  db = await openPglite(undefined);
}
const platform: Platform = await bootPlatform(config, { db, jobsConnectionString: benchUrl });
const opts = { statementTimeoutMs: 600_000 };
const newTenant = async (name: string) =>
  (await withIdentity(db, opts, (tx) => tx.query<{ id: string }>(sql`INSERT INTO tenants (name) VALUES (${name}) RETURNING id`)))[0]!.id;
const results: Record<string, unknown> = { profile, node: process.version, at: new Date().toISOString() };

// ─── 3. request throughput with access logging on vs off ────────────────────
// Measured first, on a fresh database: the embedded PGlite runs in this process, and after the bulk
// tree build below its writes are slower for a while, which would blame the access log for it.
const load = (url: string, headers: Record<string, string>) => autocannon(url, headers, { connections, seconds });
if (parts.has('access')) {
const on = await buildServer(platform);
const off = await buildServer({ ...platform, config: { ...platform.config, accessLogEnabled: false } });
const signup = await on.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Bench', email: 'bench-audit@example.com', password: 'correct horse battery staple 42' } });
const { accessToken } = signup.json();
const auth = { authorization: `Bearer ${accessToken}` };
const entry = (await on.inject({ method: 'POST', url: '/api/v1/knowledge', headers: auth, payload: { title: 'bench', body: 'x'.repeat(500) } })).json();
const onUrl = await on.listen({ host: '127.0.0.1', port: 0 });
const offUrl = await off.listen({ host: '127.0.0.1', port: 0 });
const onRuns: number[] = [];
const offRuns: number[] = [];
// Alternate which server goes first, so neither always runs on a warmer or cooler machine.
for (let i = 0; i < rounds; i++) {
  const runOff = async () => offRuns.push(await load(`${offUrl}/api/v1/knowledge/${entry.id}`, auth));
  const runOn = async () => onRuns.push(await load(`${onUrl}/api/v1/knowledge/${entry.id}`, auth));
  if (i % 2 === 0) await runOff().then(runOn);
  else await runOn().then(runOff);
}
const lines = on.accessLog!;
await on.close();
await off.close();
const accessRatios = onRuns.map((o, i) => o / offRuns[i]!);
results.accessLog = {
  offReqPerSec: Math.round(median(offRuns)),
  onReqPerSec: Math.round(median(onRuns)),
  ratio: r3(median(accessRatios)),
  ratiosPerRound: accessRatios.map(r3),
  linesWritten: lines.written,
  linesDropped: lines.dropped,
  target: 0.95,
};
}

// ─── 1. append throughput ───────────────────────────────────────────────────
// The baseline table has the shape of audit_events (same columns, keys, indexes, RLS policy, runtime
// grant) and receives the same rows, with the same leaf index and hash, minus the tree.
await withOwner(db, async (tx) => {
  await tx.exec(`CREATE TABLE bench_plain_events (LIKE audit_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
    ALTER TABLE bench_plain_events ENABLE ROW LEVEL SECURITY; ALTER TABLE bench_plain_events FORCE ROW LEVEL SECURITY;
    CREATE POLICY bench_plain_tenant ON bench_plain_events TO ocsuite_runtime
      USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
      WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
    GRANT SELECT, INSERT ON bench_plain_events TO ocsuite_runtime;`);
});
const event = (tenantId: string, i: number): AuditEventInput => ({
  tenantId, actor: { type: 'user', id: '7f9d2c1e-5b8a-4c3d-9e0f-1a2b3c4d5e6f' }, action: 'member.role_changed', target: { type: 'user', id: `u-${i}` },
  outcome: 'success', metadata: { from: 'member', to: 'viewer', i }, request: { ip: '203.0.113.7', userAgent: 'bench/1.0', requestId: `req-${i}` },
});
const plainIndex = new Map<string, number>();
async function plainInsert(tenantId: string, events: AuditEventInput[]) {
  const records = events.map((e) => toAuditRecord(e));
  const start = plainIndex.get(tenantId) ?? 0;
  plainIndex.set(tenantId, start + records.length);
  const col = <K extends keyof (typeof records)[number]>(k: K) => sql.param(records.map((r) => r[k]));
  await platform.withTenant({ tenantId }, (tx) => tx.query(sql`
    INSERT INTO bench_plain_events (tenant_id, leaf_index, leaf_hash, id, occurred_at, actor_type, actor_id, action, target_type, target_id,
      outcome, reason, metadata, ip, user_agent, request_id)
    SELECT ${tenantId}::uuid, ${start}::bigint + e.ord - 1, decode(e.h, 'hex'), e.id, e.at, e.at2, e.aid, e.act, e.tt, e.tid, e.o, e.r, e.m::jsonb, e.ip, e.ua, e.rid
    FROM unnest(${sql.param(records.map((r) => auditLeafHash(r).toString('hex')))}::text[], ${col('id')}::uuid[], ${col('occurredAt')}::timestamptz[],
      ${col('actorType')}::text[], ${col('actorId')}::text[], ${col('action')}::text[], ${col('targetType')}::text[], ${col('targetId')}::text[],
      ${col('outcome')}::text[], ${col('reason')}::text[], ${sql.param(records.map((r) => JSON.stringify(r.metadata)))}::text[],
      ${col('ip')}::text[], ${col('userAgent')}::text[], ${col('requestId')}::text[])
      WITH ORDINALITY AS e(h, id, at, at2, aid, act, tt, tid, o, r, m, ip, ua, rid, ord)`));
}
const logged = (tenantId: string, events: AuditEventInput[]) => platform.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, events));

async function eventsPerSecond(batch: number, count: number, write: (tenantId: string, events: AuditEventInput[]) => Promise<unknown>, tenantId: string) {
  let i = 0;
  for (let w = 0; w < Math.min(50, count); w++) await write(tenantId, Array.from({ length: batch }, () => event(tenantId, i++)));
  const start = process.hrtime.bigint();
  for (let n = 0; n < count; n++) await write(tenantId, Array.from({ length: batch }, () => event(tenantId, i++)));
  return (count * batch) / elapsed(start);
}
const appendTenant = await newTenant('bench append');
for (const [label, batch, count] of parts.has('append') ? ([['single', 1, SINGLE], ['batch100', 100, BATCHES]] as const) : []) {
  const plain: number[] = [];
  const translog: number[] = [];
  for (let r = 0; r < rounds; r++) {
    plain.push(await eventsPerSecond(batch, count, plainInsert, appendTenant));
    translog.push(await eventsPerSecond(batch, count, logged, appendTenant));
  }
  const ratios = translog.map((t, i) => t / plain[i]!);
  results[`append_${label}`] = {
    eventsPerTransaction: batch,
    plainInsertEventsPerSec: Math.round(median(plain)),
    translogEventsPerSec: Math.round(median(translog)),
    ratio: r3(median(ratios)),
    ratiosPerRound: ratios.map(r3),
    target: 0.6,
  };
}

// ─── 2. inclusion proofs at LEAVES leaves ───────────────────────────────────
// The tree is built in bulk, bench only: synthetic leaves generated in SQL, then each level of complete
// nodes from the one below (RFC 6962 node hash in SQL), then the head. Never what the service does.
if (parts.has('proofs')) {
const proofTenant = await newTenant('bench proofs');
const buildStart = process.hrtime.bigint();
await withOwner(db, async (tx) => {
  const CHUNK = 250_000;
  for (let from = 0; from < LEAVES; from += CHUNK) {
    const to = Math.min(LEAVES, from + CHUNK) - 1;
    await tx.query(sql`
      INSERT INTO audit_events (tenant_id, leaf_index, leaf_hash, id, occurred_at, actor_type, action, outcome)
      SELECT ${proofTenant}::uuid, g, sha256('\\x00'::bytea || convert_to('bench-leaf-' || g, 'UTF8')), gen_random_uuid(), now(), 'system', 'bench.leaf', 'success'
      FROM generate_series(${from}::bigint, ${to}::bigint) AS g`);
  }
  await tx.query(sql`
    INSERT INTO translog_nodes (tenant_id, level, idx, hash)
    SELECT ${proofTenant}::uuid, 1, l.leaf_index / 2, sha256('\\x01'::bytea || l.leaf_hash || r.leaf_hash)
    FROM audit_events l JOIN audit_events r ON r.tenant_id = l.tenant_id AND r.leaf_index = l.leaf_index + 1
    WHERE l.tenant_id = ${proofTenant}::uuid AND l.leaf_index % 2 = 0`);
  for (let level = 1; 2 ** (level + 1) <= LEAVES; level++) {
    await tx.query(sql`
      INSERT INTO translog_nodes (tenant_id, level, idx, hash)
      SELECT ${proofTenant}::uuid, ${level + 1}, l.idx / 2, sha256('\\x01'::bytea || l.hash || r.hash)
      FROM translog_nodes l JOIN translog_nodes r ON r.tenant_id = l.tenant_id AND r.level = l.level AND r.idx = l.idx + 1
      WHERE l.tenant_id = ${proofTenant}::uuid AND l.level = ${level} AND l.idx % 2 = 0`);
  }
  const reader = dbNodeReader(tx, tenantLog(proofTenant));
  const peaks = await reader.getNodes(perfectSubtrees(0, LEAVES));
  const root = await rootAt(reader, LEAVES);
  await tx.query(sql`INSERT INTO translog_heads (tenant_id, size, root, peaks)
    VALUES (${proofTenant}, ${LEAVES}, decode(${root.toString('hex')}, 'hex'), decode(${Buffer.concat(peaks).toString('hex')}, 'hex'))`);
  await tx.exec('ANALYZE audit_events; ANALYZE translog_nodes;');
});
const buildSeconds = elapsed(buildStart);
const kernel = auditKernel(platform);
const log = tenantLog(proofTenant);
const [{ root: rootHex }] = (await withOwner(db, (tx) => tx.query<{ root: string }>(sql`SELECT encode(root, 'hex') AS root FROM translog_heads WHERE tenant_id = ${proofTenant}`))) as [{ root: string }];
const root = Buffer.from(rootHex, 'hex');
const proofMs: number[] = [];
const pkMs: number[] = [];
let seed = 7;
const nextIndex = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % LEAVES;
for (let i = 0; i < PROOFS + 100; i++) {
  const index = nextIndex();
  let t0 = process.hrtime.bigint();
  const answer = await platform.withTenant({ tenantId: proofTenant }, (tx) => kernel.inclusion(tx, log, index, LEAVES));
  const proofTime = Number(process.hrtime.bigint() - t0) / 1e6;
  t0 = process.hrtime.bigint();
  await platform.withTenant({ tenantId: proofTenant }, (tx) => tx.query(sql`SELECT leaf_hash FROM audit_events WHERE tenant_id = ${proofTenant} AND leaf_index = ${index}`));
  const pkTime = Number(process.hrtime.bigint() - t0) / 1e6;
  if (i < 100) continue; // warm-up
  proofMs.push(proofTime);
  pkMs.push(pkTime);
  if (i % 200 === 0) verifyInclusion(answer.leafHash, index, LEAVES, answer.proof, root);
}
results.inclusionProof = {
  leaves: LEAVES,
  proofs: PROOFS,
  proofLength: Math.ceil(Math.log2(LEAVES)),
  p50Ms: r3(pct(proofMs, 50)),
  p99Ms: r3(pct(proofMs, 99)),
  baselinePkSelectP50Ms: r3(pct(pkMs, 50)),
  baselinePkSelectP99Ms: r3(pct(pkMs, 99)),
  p99VsPkSelectP99: r3(pct(proofMs, 99) / pct(pkMs, 99)),
  targetP99Ms: profile === 'postgres' ? 1 : 5,
  bulkBuildSeconds: Math.round(buildSeconds),
};
}

await shutdownPlatform(platform);
await dropDb?.();

const s = results.append_single as Record<string, number> | undefined;
const b = results.append_batch100 as Record<string, number> | undefined;
const p = results.inclusionProof as Record<string, number> | undefined;
const a = results.accessLog as Record<string, number> | undefined;
console.log(`\nOC-Suite audit bench (${profile}, ${process.version})`);
if (s && b) console.log(`append, 1 event/tx      translog ${s.translogEventsPerSec}/s vs plain INSERT ${s.plainInsertEventsPerSec}/s   median ratio ${s.ratio} (target ≥ 0.6)`);
if (s && b) console.log(`append, 100 events/tx   translog ${b.translogEventsPerSec}/s vs plain INSERT ${b.plainInsertEventsPerSec}/s   median ratio ${b.ratio} (target ≥ 0.6)`);
if (p) console.log(`inclusion proof, ${p.leaves} leaves   p50 ${p.p50Ms} ms  p99 ${p.p99Ms} ms (target p99 ≤ ${p.targetP99Ms} ms)   PK SELECT p50 ${p.baselinePkSelectP50Ms} ms p99 ${p.baselinePkSelectP99Ms} ms   (bulk build ${p.bulkBuildSeconds} s)`);
if (a) console.log(`GET /knowledge/:id      access log on ${a.onReqPerSec} req/s vs off ${a.offReqPerSec} req/s   median ratio ${a.ratio} (target ≥ 0.95), ${a.linesWritten} lines written, ${a.linesDropped} dropped`);
const file = 'bench/results.json';
const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
all.audit = { ...(all.audit ?? {}), [profile]: { ...(all.audit?.[profile] ?? {}), ...results } };
fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
console.log(`written ${file} (audit.${profile})`);
