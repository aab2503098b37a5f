// npm run bench (or: node bench/jobs.ts) — background jobs (issue #6): jobs/s enqueued and completed
// through the port (src/jobs: envelope, depth gate, dead-letter paths, timeouts, metrics hook)
// against the raw driver (pg-boss, BullMQ) with the same payloads, same concurrency, same run,
// alternating rounds. Writes the `jobs` section of bench/results.json. Never a test: a slow machine
// reports a ratio, it does not fail.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { PgBoss } from 'pg-boss';
import pino from 'pino';
import { openPg, openPglite, type Database } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { withIdentity } from '../src/db/transaction.ts';
import { purgePrefix, startBullMq } from '../src/jobs/bullmq.ts';
import { startPgBoss } from '../src/jobs/pgboss.ts';
import { JobSystem } from '../src/jobs/system.ts';
import { sql } from 'drizzle-orm';
import { scratchDatabase } from './support.ts';

// pg-boss moves a job in several statements; BullMQ in a few Redis calls: more jobs for it so a round lasts long enough to measure.
const N_PGBOSS = Number(process.env.BENCH_JOBS ?? 400);
const N_BULLMQ = Number(process.env.BENCH_JOBS_REDIS ?? 3000);
const ROUNDS = Number(process.env.BENCH_JOB_ROUNDS ?? 5);
const CONCURRENCY = 4;
const log = pino({ level: 'silent' });
const payload = () => ({ sealed: `omk1.${randomBytes(150).toString('base64url')}`, n: Math.random() });
const profile = process.env.DATABASE_URL ? 'postgres' : 'embedded';

interface Figure { rawPerSec: number; portPerSec: number; ratio: number; ratiosPerRound: number[]; tenantPortPerSec?: number; tenantRatio?: number }

function waitFor(count: () => number, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 300_000;
    const t = setInterval(() => {
      if (count() >= n) {
        clearInterval(t);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(t);
        reject(new Error(`only ${count()} of ${n} jobs completed`));
      }
    }, 2);
  });
}

/** Sends N jobs one after another while workers run; the clock stops at the last completion. */
async function measure(N: number, send: (i: number) => Promise<unknown>, done: () => number): Promise<number> {
  const start = process.hrtime.bigint();
  const base = done();
  for (let i = 0; i < N; i++) await send(i);
  await waitFor(() => done() - base, N);
  return N / (Number(process.hrtime.bigint() - start) / 1e9);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function compare(label: string, raw: () => Promise<number>, port: () => Promise<number>, tenant?: () => Promise<number>): Promise<Figure> {
  await raw(); // warm-up of both paths
  await port();
  const raws: number[] = [];
  const ports: number[] = [];
  const tenants: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    raws.push(await raw());
    ports.push(await port());
    if (tenant) tenants.push(await tenant());
  }
  const ratios = raws.map((x, i) => +(ports[i]! / x).toFixed(3));
  const fig: Figure = { rawPerSec: Math.round(median(raws)), portPerSec: Math.round(median(ports)), ratio: median(ratios), ratiosPerRound: ratios };
  if (tenant) {
    fig.tenantPortPerSec = Math.round(median(tenants));
    fig.tenantRatio = +(fig.tenantPortPerSec / fig.rawPerSec).toFixed(3);
  }
  console.log(`${label.padEnd(28)} port ${fig.portPerSec} jobs/s   raw ${fig.rawPerSec} jobs/s   median ratio ${fig.ratio} (${ratios.join(', ')}) target ≥ 0.8`
    + (tenant ? `\n${''.padEnd(28)} tenant queue through the port (withTenant + completion record) ${fig.tenantPortPerSec} jobs/s, ratio ${fig.tenantRatio} (no raw equivalent)` : ''));
  return fig;
}

async function tenantOf(db: Database): Promise<string> {
  const [t] = await withIdentity(db, { statementTimeoutMs: 5_000 }, (tx) => tx.query<{ id: string }>(sql`INSERT INTO tenants (name) VALUES ('Bench jobs') RETURNING id`));
  return t!.id;
}

/** pg-boss: raw PgBoss on one database, the port on another of the same kind, measured alternately. */
async function benchPgBoss(kind: 'pglite' | 'postgres', urlOf?: (name: string) => Promise<{ url: string; drop: () => Promise<void> }>): Promise<Figure> {
  let rawBoss: PgBoss;
  let portDb: Database;
  const drops: Array<() => Promise<void>> = [];
  let portConn: string | undefined;
  if (kind === 'pglite') {
    const rawDb = await openPglite(undefined);
    rawBoss = new PgBoss({ db: { executeSql: async (text, values) => { const l = await rawDb.acquire(); try { return { rows: await l.raw(text, values) }; } finally { l.release(); } } }, backend: 'pglite', schema: 'pgboss' });
    drops.push(() => rawDb.close());
    portDb = await openPglite(undefined);
  } else {
    const a = await urlOf!('raw');
    const b = await urlOf!('port');
    drops.push(a.drop, b.drop);
    rawBoss = new PgBoss({ connectionString: a.url, max: 4, schema: 'pgboss' });
    portDb = openPg(b.url, 4);
    portConn = b.url;
  }
  await rawBoss.start();
  await migrate(portDb);
  const driver = await startPgBoss({ db: portDb, connectionString: portConn, migrate: true, log, pollingIntervalSeconds: 0.5 });
  let portDone = 0;
  const jobs = new JobSystem({ driver, db: portDb, log, observe: () => void portDone++ });
  await jobs.define({ name: 'bench.port', scope: 'platform', retryLimit: 2, retryDelaySeconds: 1, expireInSeconds: 60, concurrency: CONCURRENCY, maxDepth: 1_000_000 }, async () => {});
  await jobs.define({ name: 'bench.tenant', scope: 'tenant', retryLimit: 2, retryDelaySeconds: 1, expireInSeconds: 60, concurrency: CONCURRENCY, maxDepth: 1_000_000 }, async () => {});
  await jobs.startWorkers();
  const tenantId = await tenantOf(portDb);

  let rawDone = 0;
  await rawBoss.createQueue('bench.raw', { retryLimit: 3, retryDelay: 1, retryBackoff: true, expireInSeconds: 61 });
  // The same wake-ups as the port's pg-boss driver (after an enqueue and after each job), so the
  // comparison measures the port, not a polling setting.
  const wakeRaw = () => {
    for (const w of rawBoss.getWipData()) if (w.name === 'bench.raw') rawBoss.notifyWorker(w.id);
  };
  await rawBoss.work('bench.raw', { batchSize: 1, localConcurrency: CONCURRENCY, pollingIntervalSeconds: 0.5 }, async () => {
    rawDone++;
    wakeRaw();
  });

  const fig = await compare(
    `pg-boss on ${kind === 'pglite' ? 'PGlite' : 'PostgreSQL'}`,
    () => measure(N_PGBOSS, async () => {
      await rawBoss.send('bench.raw', payload());
      wakeRaw();
    }, () => rawDone),
    () => measure(N_PGBOSS, () => jobs.send('bench.port', payload()), () => portDone),
    () => measure(N_PGBOSS, () => jobs.send('bench.tenant', payload(), { tenantId }), () => portDone),
  );
  await rawBoss.stop({ graceful: true, timeout: 5_000 });
  await jobs.stop();
  await portDb.close();
  for (const d of drops) await d();
  return fig;
}

async function benchBullMq(url: string, bookkeeping?: { url: string; drop: () => Promise<void> }): Promise<Figure> {
  const prefix = `ocsuite-bench-${Date.now()}`;
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const rawQueue = new Queue('bench.raw', { connection, prefix, defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 1000, jitter: 0.5 }, removeOnComplete: { age: 7 * 86_400, count: 100_000 }, removeOnFail: { age: 30 * 86_400 } } });
  let rawDone = 0;
  const rawWorker = new Worker('bench.raw', async () => {
    rawDone++;
  }, { connection, prefix, concurrency: CONCURRENCY });
  await rawWorker.waitUntilReady();

  // Dead letters, tenants and completion records: PostgreSQL as in production when there is one.
  const db = bookkeeping ? openPg(bookkeeping.url, 4) : await openPglite(undefined);
  await migrate(db);
  const driver = await startBullMq({ url, prefix, log });
  let portDone = 0;
  const jobs = new JobSystem({ driver, db, log, observe: () => void portDone++ });
  await jobs.define({ name: 'bench.port', scope: 'platform', retryLimit: 2, retryDelaySeconds: 1, expireInSeconds: 60, concurrency: CONCURRENCY, maxDepth: 1_000_000 }, async () => {});
  await jobs.define({ name: 'bench.tenant', scope: 'tenant', retryLimit: 2, retryDelaySeconds: 1, expireInSeconds: 60, concurrency: CONCURRENCY, tenantConcurrency: CONCURRENCY, maxDepth: 1_000_000 }, async () => {});
  await jobs.startWorkers();
  const tenantId = await tenantOf(db);

  const fig = await compare(
    'BullMQ on Redis',
    () => measure(N_BULLMQ, () => rawQueue.add('bench.raw', payload()), () => rawDone),
    () => measure(N_BULLMQ, () => jobs.send('bench.port', payload()), () => portDone),
    () => measure(Math.min(N_BULLMQ, N_PGBOSS * 2), () => jobs.send('bench.tenant', payload(), { tenantId }), () => portDone),
  );
  await rawWorker.close();
  await rawQueue.close();
  await jobs.stop();
  await db.close();
  await bookkeeping?.drop();
  connection.disconnect();
  await purgePrefix(url, prefix);
  return fig;
}

const results: Record<string, unknown> = { profile, node: process.version, jobsPerRound: { pgBoss: N_PGBOSS, bullmq: N_BULLMQ }, rounds: ROUNDS, concurrency: CONCURRENCY, at: new Date().toISOString() };
console.log(`\nOC-Suite jobs bench (${profile}, ${process.version}, ${N_PGBOSS} pg-boss / ${N_BULLMQ} BullMQ jobs per round, ${ROUNDS} alternating rounds, concurrency ${CONCURRENCY})`);
// BENCH_JOBS_DRIVERS=bullmq (or pg-boss) measures one driver alone.
const drivers = (process.env.BENCH_JOBS_DRIVERS ?? 'pg-boss,bullmq').split(',');
if (drivers.includes('pg-boss')) results.pgBossPglite = await benchPgBoss('pglite');
const admin = process.env.DATABASE_URL;
/** A database of its own for each measured store, dropped afterwards. */
const database = (label: string) => scratchDatabase(admin!, `jobs_${label}`);
if (admin && drivers.includes('pg-boss')) results.pgBossPostgres = await benchPgBoss('postgres', database);
if (process.env.REDIS_URL && drivers.includes('bullmq')) results.bullmq = await benchBullMq(process.env.REDIS_URL, admin ? await database('bullmq') : undefined);

const file = 'bench/results.json';
const all = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
all.jobs = { ...(all.jobs ?? {}), [profile]: results };
fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
console.log(`written ${file} (jobs.${profile})`);
