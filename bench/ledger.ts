// node bench/ledger.ts — the ledger (issue #12) against same-run baselines:
//  1. transfers/s through the service, single and in linked batches of 100, vs plain INSERTs of the same
//     rows (the transfer and its two entries) into tables of the same shape with the same RLS policy,
//     as the runtime role (target ratio ≥ 0.3, aim 0.5); and vs plain writes of every row the ledger
//     writes for a transfer (also its balance updates, audit event and webhook message);
//  2. transfers/s through the API (POST /api/v1/ledger/transfers, 8 concurrent clients) vs the same
//     baseline, with p50/p99 latency of one transfer;
//  3. contention: 8 clients posting to one hot account vs 8 clients on accounts of their own.
// Set DATABASE_URL for PostgreSQL (a database of its own, dropped afterwards).
// Writes the `ledger` section of bench/results.json. Never a test: a slow machine reports, it does not fail.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { sql } from 'drizzle-orm';
import { bootPlatform, shutdownPlatform } from '../src/boot.ts';
import { loadConfig } from '../src/config/config.ts';
import { openPg, openPglite, type Database } from '../src/db/client.ts';
import { withOwner } from '../src/db/transaction.ts';
import type { Principal } from '../src/kernel/auth/principal.ts';
import type { Platform } from '../src/kernel/platform.ts';
import { createTransfersService, type TransferInput } from '../src/modules/ledger/transfers.ts';
import { buildServer } from '../src/server.ts';
import { scratchDatabase } from './support.ts';

const profile = process.env.DATABASE_URL ? 'postgres' : 'embedded';
const SINGLE = Number(process.env.BENCH_LEDGER_SINGLE ?? 400);
const BATCHES = Number(process.env.BENCH_LEDGER_BATCHES ?? 8);
const API = Number(process.env.BENCH_LEDGER_API ?? 400);
const CLIENTS = 8;
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
  LOG_LEVEL: 'warn',
  NODE_ENV: 'development',
});
let db: Database;
let dropDb: (() => Promise<void>) | undefined;
let benchUrl: string | undefined;
if (config.databaseUrl) {
  const scratch = await scratchDatabase(config.databaseUrl, 'ledger');
  benchUrl = scratch.url;
  db = openPg(benchUrl, 20);
  dropDb = scratch.drop;
} else {
  db = await openPglite(undefined);
}
const platform: Platform = await bootPlatform(config, { db, jobsConnectionString: benchUrl });
const app = await buildServer(platform);
const signup = (await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Ledger bench', email: 'bench-ledger@example.com', password: 'correct horse battery staple 42' } })).json();
const auth = { authorization: `Bearer ${signup.accessToken}`, 'content-type': 'application/json' };
const tenantId: string = signup.tenant.id;
const principal: Principal = { kind: 'user', userId: signup.user.id, keyId: null, tenantId, roles: ['owner'], sessionId: null, permissions: new Set(), mfaAt: null };
const transfers = createTransfersService(platform);
const account = async (code: string) => (await app.inject({ method: 'POST', url: '/api/v1/ledger/accounts', headers: auth, payload: { code, name: code, asset: 'EUR' } })).json().id as string;
const accounts = await Promise.all(Array.from({ length: 2 * CLIENTS + 2 }, (_, i) => account(`bench-${i}`)));
const [hot, source] = [accounts[0]!, accounts[1]!];
const leg = (debit: string, credit: string): TransferInput => ({ id: randomUUID(), debitAccountId: debit, creditAccountId: credit, amount: '100' });

// The baseline: tables of the shape of ledger_transfers and ledger_entries (columns, checks, keys,
// indexes), the same RLS policy and runtime grant, and none of the ledger's triggers, log or balances.
await withOwner(db, (tx) => tx.exec(`
  CREATE TABLE bench_plain_transfers (LIKE ledger_transfers INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
  CREATE TABLE bench_plain_entries (LIKE ledger_entries INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
  SELECT ocsuite_enable_tenant_rls('bench_plain_transfers');
  SELECT ocsuite_enable_tenant_rls('bench_plain_entries');
  GRANT SELECT, INSERT ON bench_plain_transfers, bench_plain_entries TO ocsuite_runtime;
  -- The second baseline writes every row the ledger writes for a transfer, plainly: also the balance
  -- updates, an audit event row and a webhook message row (no hashing, tree, locks, triggers or checks).
  CREATE TABLE bench_plain_balances (LIKE ledger_balances INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
  CREATE TABLE bench_plain_events (LIKE audit_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
  CREATE TABLE bench_plain_messages (LIKE webhook_messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
  CREATE SEQUENCE bench_plain_leaf;
  SELECT ocsuite_enable_tenant_rls('bench_plain_balances');
  SELECT ocsuite_enable_tenant_rls('bench_plain_events');
  SELECT ocsuite_enable_tenant_rls('bench_plain_messages');
  GRANT SELECT, INSERT, UPDATE ON bench_plain_balances TO ocsuite_runtime;
  GRANT SELECT, INSERT ON bench_plain_events, bench_plain_messages TO ocsuite_runtime;
  GRANT USAGE ON SEQUENCE bench_plain_leaf TO ocsuite_runtime;`));
await withOwner(db, (tx) => tx.query(sql`
  INSERT INTO bench_plain_balances (tenant_id, account_id, debits_must_not_exceed_credits, credits_must_not_exceed_debits)
  SELECT ${tenantId}::uuid, a, false, false FROM unnest(${sql.param(accounts)}::uuid[]) AS a`));
/** The plain transfers of `legs` as a data-modifying CTE `t` returning `columns`. */
function plainTransfers(legs: TransferInput[], columns = sql.raw('id, debit_account_id, credit_account_id, created_at')) {
  const ids = sql.param(legs.map((l) => l.id));
  const debit = sql.param(legs.map((l) => l.debitAccountId!));
  const credit = sql.param(legs.map((l) => l.creditAccountId!));
  return sql`t AS (
      INSERT INTO bench_plain_transfers (tenant_id, id, kind, debit_account_id, credit_account_id, amount, asset, scale, chain_id, chain_index, chain_size, request_hash, audit_event_id)
      SELECT ${tenantId}::uuid, x.id, 'posted', x.d, x.c, 100, 'EUR', 2, ${legs[0]!.id}::uuid, x.ord - 1, ${legs.length}, sha256(x.id::text::bytea), gen_random_uuid()
      FROM unnest(${ids}::uuid[], ${debit}::uuid[], ${credit}::uuid[]) WITH ORDINALITY AS x(id, d, c, ord)
      RETURNING ${columns})`;
}
const plainEntries = sql`
    INSERT INTO bench_plain_entries (tenant_id, transfer_id, account_id, side, bucket, amount, created_at)
    SELECT ${tenantId}::uuid, t.id, t.debit_account_id, 'debit', 'posted', 100, t.created_at FROM t
    UNION ALL SELECT ${tenantId}::uuid, t.id, t.credit_account_id, 'credit', 'posted', 100, t.created_at FROM t`;
async function plainInsert(legs: TransferInput[]) {
  await platform.withTenant({ tenantId }, (tx) => tx.query(sql`WITH ${plainTransfers(legs)} ${plainEntries}`));
}

/** Every row the ledger writes, as plain INSERTs and one UPDATE in one statement: transfers, entries, balances, audit events, webhook messages. */
async function plainRows(legs: TransferInput[]) {
  await platform.withTenant({ tenantId }, (tx) => tx.query(sql`
    WITH ${plainTransfers(legs, sql.raw('*'))},
    e AS (${plainEntries} RETURNING account_id, side, amount),
    b AS (
      UPDATE bench_plain_balances pb SET debits_posted = pb.debits_posted + m.dd, credits_posted = pb.credits_posted + m.cd, updated_at = now()
      FROM (SELECT account_id, coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS dd, coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS cd FROM e GROUP BY account_id) m
      WHERE pb.tenant_id = ${tenantId}::uuid AND pb.account_id = m.account_id
      RETURNING 1),
    a AS (
      INSERT INTO bench_plain_events (tenant_id, leaf_index, leaf_hash, id, occurred_at, actor_type, actor_id, action, target_type, target_id, outcome, metadata)
      SELECT ${tenantId}::uuid, nextval('bench_plain_leaf'), sha256(t.id::text::bytea), t.audit_event_id, t.created_at, 'user', ${principal.userId},
        'ledger.transfer.posted', 'ledger_transfer', t.id::text, 'success', jsonb_build_object('transfer', to_jsonb(t))
      FROM t RETURNING 1)
    INSERT INTO bench_plain_messages (tenant_id, event_type, body)
    SELECT ${tenantId}::uuid, 'ledger.transfer.created', jsonb_build_object('type', 'ledger.transfer.created', 'data', to_jsonb(t))::text FROM t`));
}

async function rate(count: number, batch: number, write: (legs: TransferInput[]) => Promise<unknown>, pair = () => [source, accounts[2]!] as const) {
  for (let w = 0; w < 20; w++) await write(Array.from({ length: batch }, () => leg(...pair())));
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await write(Array.from({ length: batch }, () => leg(...pair())));
  return (count * batch) / elapsed(start);
}

const results: Record<string, unknown> = { profile, node: process.version, at: new Date().toISOString() };
const viaService = (legs: TransferInput[]) => transfers.create(principal, legs);
// Steady state, not a brand-new database: the tables hold rows and the planner has statistics for them,
// as autovacuum gives a running deployment. Without it the plans cached while the tables were empty
// (the deferred audit-event foreign key's lookup among them) scan a whole tenant's events per transfer.
for (let w = 0; w < 5; w++) await viaService(Array.from({ length: 100 }, () => leg(source, accounts[2]!)));
await withOwner(db, (tx) => tx.exec('ANALYZE'));
// Alternate baseline and ledger, three rounds, medians (2 shared cores vary by ±20 %).
const runs = { plainSingle: [] as number[], rowsSingle: [] as number[], single: [] as number[], plainBatch: [] as number[], rowsBatch: [] as number[], batch: [] as number[] };
for (let round = 0; round < 3; round++) {
  runs.plainSingle.push(await rate(SINGLE, 1, plainInsert));
  runs.rowsSingle.push(await rate(SINGLE, 1, plainRows));
  runs.single.push(await rate(SINGLE, 1, viaService));
  runs.plainBatch.push(await rate(BATCHES, 100, plainInsert));
  runs.rowsBatch.push(await rate(BATCHES, 100, plainRows));
  runs.batch.push(await rate(BATCHES, 100, viaService));
}
results.service = {
  plainSinglePerSec: Math.round(median(runs.plainSingle)),
  singlePerSec: Math.round(median(runs.single)),
  singleRatio: r3(median(runs.single.map((s, i) => s / runs.plainSingle[i]!))),
  plainBatch100PerSec: Math.round(median(runs.plainBatch)),
  batch100PerSec: Math.round(median(runs.batch)),
  batch100Ratio: r3(median(runs.batch.map((s, i) => s / runs.plainBatch[i]!))),
  // Against plain writes of every row the ledger writes (balances, audit event, webhook message too).
  allRowsSinglePerSec: Math.round(median(runs.rowsSingle)),
  allRowsSingleRatio: r3(median(runs.single.map((s, i) => s / runs.rowsSingle[i]!))),
  allRowsBatch100PerSec: Math.round(median(runs.rowsBatch)),
  allRowsBatch100Ratio: r3(median(runs.batch.map((s, i) => s / runs.rowsBatch[i]!))),
  target: 0.3,
  aim: 0.5,
};

// ─── API: 8 concurrent clients, one transfer per request ────────────────────
const url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/api/v1/ledger/transfers`;
async function apiRun(count: number, pairOf: (client: number) => readonly [string, string]) {
  const latencies: number[] = [];
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    while (next < count) {
      next++;
      const t0 = process.hrtime.bigint();
      const res = await fetch(url, { method: 'POST', headers: auth, body: JSON.stringify(leg(...pairOf(c))) });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`POST /ledger/transfers answered ${res.status}`);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }));
  return { perSec: count / elapsed(start), p50: pct(latencies, 50), p99: pct(latencies, 99) };
}
const own = (c: number) => [accounts[2 + 2 * c]!, accounts[3 + 2 * c]!] as const;
await apiRun(50, own);
const api = await apiRun(API, own);
results.api = {
  perSec: Math.round(api.perSec),
  ratioToPlainSingle: r3(api.perSec / median(runs.plainSingle)),
  p50Ms: r3(api.p50),
  p99Ms: r3(api.p99),
  clients: CLIENTS,
  target: 0.3,
};

// ─── Contention: every client debits one hot account ────────────────────────
const spread = await apiRun(API, own);
const contended = await apiRun(API, (c) => [hot, accounts[2 + c]!] as const);
results.contention = {
  ownAccountsPerSec: Math.round(spread.perSec),
  hotAccountPerSec: Math.round(contended.perSec),
  ratio: r3(contended.perSec / spread.perSec),
  hotP50Ms: r3(contended.p50),
  hotP99Ms: r3(contended.p99),
  clients: CLIENTS,
};

await app.close();
await shutdownPlatform(platform);
await dropDb?.();

const s = results.service as Record<string, number>;
const a = results.api as Record<string, number>;
const k = results.contention as Record<string, number>;
console.log(`\nLedger bench (${profile}, ${process.version})`);
console.log(`service single        ${s.singlePerSec}/s vs plain INSERTs ${s.plainSinglePerSec}/s   ratio ${s.singleRatio} (target ≥ 0.3, aim 0.5)`);
console.log(`service linked ×100   ${s.batch100PerSec}/s vs plain INSERTs ${s.plainBatch100PerSec}/s   ratio ${s.batch100Ratio}`);
console.log(`  vs plain writes of every row the ledger writes: single ${s.allRowsSinglePerSec}/s ratio ${s.allRowsSingleRatio}, linked ×100 ${s.allRowsBatch100PerSec}/s ratio ${s.allRowsBatch100Ratio}`);
console.log(`API, ${CLIENTS} clients        ${a.perSec}/s   ratio to plain single ${a.ratioToPlainSingle}   p50 ${a.p50Ms} ms  p99 ${a.p99Ms} ms`);
console.log(`hot account, ${CLIENTS} clients ${k.hotAccountPerSec}/s vs own accounts ${k.ownAccountsPerSec}/s   ratio ${k.ratio}   p99 ${k.hotP99Ms} ms`);
const file = 'bench/results.json';
const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
all.ledger = { ...(all.ledger ?? {}), [profile]: results };
fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
console.log(`written ${file}`);
