import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { loadConfig } from '../../src/config/config.ts';
import { openDatabase } from '../../src/db/open.ts';
import { withOwner } from '../../src/db/transaction.ts';
import type { Platform } from '../../src/kernel/platform.ts';
import { buildServer } from '../../src/server.ts';
import { ledgerCommand } from '../../src/cli/ledger.ts';
import { bearer, json, signup, startApp, uniqueEmail, usingPostgres, type Account, type TestApp } from '../support/app.ts';
import { freePort, PG_BIN, privatePostgres, privateRedis, REDIS_SERVER } from './private-services.ts';

/**
 * Issue #19 §5, faults on the production components: PostgreSQL crashed and
 * restarted under a write load (nothing lost, nothing doubled, the API recovers
 * without a restart), and Redis killed under a running app (reads go on, jobs
 * accepted meanwhile are kept and run once it is back). The servers are private
 * (private-services.ts): the machine's shared ones are never touched.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nodeBin = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : path.join(root, 'node_modules/.bin/node');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-faults-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function expect503(res: { statusCode: number; headers: Record<string, unknown>; body: string }, where: string) {
  expect(res.statusCode, `${where}: ${res.body.slice(0, 300)}`).toBe(503);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  expect(JSON.parse(res.body)).toMatchObject({ status: 503, code: 'OCS_SERVICE_UNAVAILABLE' });
  expect(res.body).not.toMatch(/ECONNREFUSED|stack|57P01|terminat/i);
}

if (usingPostgres) {
  describe('PostgreSQL crashed (pg_ctl -m immediate) and restarted under a ledger write load', () => {
    let pgDir: string;
    let pgsql: ReturnType<typeof privatePostgres>;
    let platform: Platform;
    let app: Awaited<ReturnType<typeof buildServer>>;
    let owner: Account;

    beforeAll(async () => {
      expect(PG_BIN, 'PostgreSQL server binaries').toBeTruthy();
      // Directly under the system temp folder: the postgres account must reach it (tmp is 0700, root's).
      pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-faults-pg-'));
      pgsql = privatePostgres(pgDir, await freePort());
      pgsql.init();
      pgsql.start();
      const config = loadConfig({
        OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!, OCSUITE_RATE_LIMIT: '100000', OCSUITE_AUTH_RATE_LIMIT: '100000',
        PUBLIC_URL: 'http://ocsuite.test', DATABASE_URL: pgsql.url, OCSUITE_ACCESS_LOG: 'false', OCSUITE_REQUEST_TIMEOUT_MS: '4000',
        OCSUITE_DATA_DIR: path.join(pgDir, 'app'), LOG_LEVEL: 'warn',
      });
      const sink = new Writable({ write(_c, _e, done) { done(); } });
      platform = await bootPlatform(config, { db: await openDatabase(config), logDestination: sink, jobsConnectionString: pgsql.url, workers: false });
      app = await buildServer(platform);
      owner = await signup(app, 'PG crash');
    }, 120_000);

    afterAll(async () => {
      await app?.close().catch(() => {});
      await shutdownPlatform(platform).catch(() => {});
      pgsql?.stop();
      if (pgDir) fs.rmSync(pgDir, { recursive: true, force: true });
    });

    /** `ocsuite serve` as its own process on the private cluster, ready; `children` collects it for the final SIGKILL. */
    async function serveProcess(port: number, dir: string, children: ChildProcess[]): Promise<ChildProcess> {
      const child = spawn(nodeBin, [path.join(root, 'src/cli/main.ts'), 'serve'], {
        cwd: root, stdio: 'ignore',
        env: { PATH: process.env.PATH ?? '', HOME: pgDir, DATABASE_URL: pgsql.url, OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: 'http://ocsuite.test', OCSUITE_RATE_LIMIT: '100000', OCSUITE_AUTH_RATE_LIMIT: '100000', OCSUITE_DATA_DIR: path.join(pgDir, dir), LOG_LEVEL: 'warn' },
      });
      children.push(child);
      for (let i = 0; i < 240; i++) {
        if (child.exitCode !== null) throw new Error(`ocsuite serve exited ${child.exitCode}`);
        if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false)) return child;
        await sleep(250);
      }
      throw new Error('ocsuite serve did not become ready');
    }

    it('answers 503 (never 500) while it is down, recovers without an API restart, and retried transfers land exactly once', async () => {
      const L = (method: 'GET' | 'POST', url: string, payload?: object) => app.inject({ method, url: `/api/v1/ledger${url}`, headers: bearer(owner), ...(payload ? { payload } : {}) });
      const acct = async () => json(await L('POST', '/accounts', { code: `f-${randomUUID().slice(0, 8)}`, name: 'fault', asset: 'EUR' })) as { id: string };
      const [a, b] = [await acct(), await acct()];
      const N = 48;
      const transfers = Array.from({ length: N }, (_, i) => ({ id: randomUUID(), debitAccountId: a.id, creditAccountId: b.id, amount: String(i + 1) }));
      const outcome = new Map<string, number>();
      // Waves of concurrent writes; the server is crashed after the second wave and started after the fifth.
      for (let w = 0; w < 8; w++) {
        if (w === 2) pgsql.crash();
        if (w === 5) pgsql.start();
        const wave = transfers.slice(w * 6, w * 6 + 6);
        const answers = await Promise.all(wave.map((tr) => L('POST', '/transfers', tr)));
        answers.forEach((res, i) => {
          const tr = wave[i]!;
          outcome.set(tr.id, res.statusCode);
          if (res.statusCode >= 500) expect503(res, `transfer ${tr.id} in wave ${w}`);
          else expect(res.statusCode, res.body).toBe(201);
        });
      }
      expect([...outcome.values()].filter((s) => s === 503).length).toBeGreaterThan(0);
      // Recovered without a restart of the API: readiness, then every transfer that was not confirmed is sent again, same id.
      let ready = 0;
      for (let i = 0; i < 60 && ready !== 200; i++) {
        ready = (await app.inject({ method: 'GET', url: '/readyz' })).statusCode;
        if (ready !== 200) await sleep(250);
      }
      expect(ready).toBe(200);
      for (const tr of transfers) {
        if (outcome.get(tr.id) === 201) continue;
        const res = await L('POST', '/transfers', tr);
        expect([200, 201], res.body).toContain(res.statusCode);
      }
      // And once more for all: an idempotent replay, never a second transfer.
      for (const tr of transfers.slice(0, 6)) expect([200, 201]).toContain((await L('POST', '/transfers', tr)).statusCode);
      const counted = await withOwner(platform.db, (tx) => tx.query<{ n: number; total: string }>(sql`
        SELECT count(*)::int AS n, coalesce(sum(amount), 0)::text AS total FROM ledger_transfers WHERE tenant_id = ${owner.tenantId}::uuid`));
      expect(counted[0]).toEqual({ n: N, total: String((N * (N + 1)) / 2) });
      for (const tr of transfers) expect((await L('GET', `/transfers/${tr.id}`)).statusCode).toBe(200);
      // Every invariant of the ledger after crash recovery: balances, postings, the tenant's log.
      const balances = await Promise.all([a.id, b.id].map(async (id) => json(await L('GET', `/accounts/${id}`)).balances as Record<string, string>));
      expect(JSON.stringify(balances[0])).toContain(String((N * (N + 1)) / 2));
      expect(JSON.stringify(balances[1])).toContain(String((N * (N + 1)) / 2));
      const verify = await L('GET', '/verify');
      if (verify.statusCode !== 404) expect(verify.statusCode, verify.body).toBe(200);
    }, 120_000);

    it('kill -9 of an API process during writes: after a restart every transfer lands exactly once', async () => {
      const port = await freePort();
      const children: ChildProcess[] = [];
      const serve = () => serveProcess(port, 'serve', children);
      try {
        const api = (method: string, url: string, body?: object) => fetch(`http://127.0.0.1:${port}/api/v1/ledger${url}`, {
          method, headers: { ...bearer(owner), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
        });
        let child = await serve();
        const acct = async () => (await (await api('POST', '/accounts', { code: `k-${randomUUID().slice(0, 8)}`, name: 'kill', asset: 'EUR' })).json()) as { id: string };
        const [a, b] = [await acct(), await acct()];
        const N = 60;
        const transfers = Array.from({ length: N }, (_, i) => ({ id: randomUUID(), debitAccountId: a.id, creditAccountId: b.id, amount: String(i + 1) }));
        const confirmed = new Set<string>();
        // All sent at once; the process is killed while they are in flight.
        const inflight = transfers.map((tr) => api('POST', '/transfers', tr).then(async (r) => { if (r.status === 201) confirmed.add(tr.id); await r.body?.cancel(); }, () => {}));
        while (confirmed.size < 5) await sleep(5);
        child.kill('SIGKILL');
        await Promise.all(inflight);
        expect(confirmed.size).toBeLessThan(N);
        child = await serve();
        for (const tr of transfers) {
          const r = await api('POST', '/transfers', tr);
          expect([200, 201], `${tr.id}: ${await r.text()}`).toContain(r.status);
        }
        const counted = await withOwner(platform.db, (tx) => tx.query<{ n: number; total: string }>(sql`
          SELECT count(*)::int AS n, coalesce(sum(amount), 0)::text AS total FROM ledger_transfers
          WHERE tenant_id = ${owner.tenantId}::uuid AND debit_account_id = ${a.id}::uuid`));
        expect(counted[0]).toEqual({ n: N, total: String((N * (N + 1)) / 2) });
        const entries = await withOwner(platform.db, (tx) => tx.query<{ n: number }>(sql`
          SELECT count(*)::int AS n FROM ledger_entries WHERE tenant_id = ${owner.tenantId}::uuid AND account_id IN (${a.id}::uuid, ${b.id}::uuid)`));
        expect(entries[0]?.n).toBe(2 * N); // one debit and one credit posting per transfer, none doubled
      } finally {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }
    }, 120_000);

    it('kill -9 of an API process during linked batches: each chain wholly present or absent, retries land once, ledger verify passes', async () => {
      const port = await freePort();
      const children: ChildProcess[] = [];
      const linkedOwner = await signup(app, 'Linked kill');
      try {
        const api = (method: string, url: string, body?: object) => fetch(`http://127.0.0.1:${port}/api/v1/ledger${url}`, {
          method, headers: { ...bearer(linkedOwner), ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
        });
        let child = await serveProcess(port, 'serve-linked', children);
        const acct = async () => (await (await api('POST', '/accounts', { code: `l-${randomUUID().slice(0, 8)}`, name: 'linked', asset: 'EUR' })).json()) as { id: string };
        const [a, b, c] = [await acct(), await acct(), await acct()];
        // 40 chains of three legs (a→b→c→a, same amount): only whole chains keep the books balanced.
        const C = 40;
        const chains = Array.from({ length: C }, (_, j) => [[a, b], [b, c], [c, a]].map(([from, to]) => ({ id: randomUUID(), debitAccountId: from!.id, creditAccountId: to!.id, amount: String(j + 1) })));
        const confirmed = new Set<number>();
        const inflight = chains.map((transfers, j) => api('POST', '/transfers/linked', { transfers }).then(async (r) => { if (r.status === 201) confirmed.add(j); await r.body?.cancel(); }, () => {}));
        while (confirmed.size < 3) await sleep(5);
        child.kill('SIGKILL');
        await Promise.all(inflight);
        expect(confirmed.size).toBeLessThan(C);

        const present = async () => new Map((await withOwner(platform.db, (tx) => tx.query<{ id: string }>(sql`
          SELECT id::text FROM ledger_transfers WHERE tenant_id = ${linkedOwner.tenantId}::uuid`))).map((r) => [r.id, true]));
        // Straight after the kill, before any retry: all or nothing per chain.
        const afterKill = await present();
        const partial = chains.map((legs, j) => ({ j, n: legs.filter((t) => afterKill.has(t.id)).length })).filter((x) => x.n !== 0 && x.n !== 3);
        expect(partial, 'chains half-committed by the kill').toEqual([]);
        for (const j of confirmed) expect(chains[j]!.every((t) => afterKill.has(t.id)), `confirmed chain ${j}`).toBe(true);

        child = await serveProcess(port, 'serve-linked', children);
        // Every chain again with the same ids: the committed ones are replays, the rest land now.
        for (const [j, transfers] of chains.entries()) {
          const r = await api('POST', '/transfers/linked', { transfers });
          expect([200, 201], `chain ${j}: ${await r.text()}`).toContain(r.status);
          if (afterKill.has(transfers[0]!.id)) expect(r.headers.get('idempotent-replayed'), `chain ${j} was committed before`).toBe('true');
        }
        const counted = await withOwner(platform.db, (tx) => tx.query<{ n: number; total: string; entries: number }>(sql`
          SELECT count(*)::int AS n, coalesce(sum(amount), 0)::text AS total,
                 (SELECT count(*)::int FROM ledger_entries WHERE tenant_id = ${linkedOwner.tenantId}::uuid) AS entries
          FROM ledger_transfers WHERE tenant_id = ${linkedOwner.tenantId}::uuid`));
        expect(counted[0]).toEqual({ n: 3 * C, total: String((3 * C * (C + 1)) / 2), entries: 6 * C });
        // Every account nets to zero: each chain is a closed loop.
        for (const x of [a, b, c]) {
          const bal = (await (await api('GET', `/accounts/${x.id}`)).json()) as { balances: { debitsPosted: string; creditsPosted: string } };
          const [debits, credits] = [bal.balances.debitsPosted, bal.balances.creditsPosted];
          expect(debits, JSON.stringify(bal.balances)).toBe(credits);
        }
        child.kill('SIGKILL');
        // The operator's check: balances recomputed from transfers, every transfer matches its log leaf.
        const out: string[] = [];
        const io = { out: (l: string) => void out.push(l), err: (l: string) => void out.push(l) };
        const dbConfig = loadConfig({ OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!, DATABASE_URL: pgsql.url, OCSUITE_DATA_DIR: path.join(pgDir, 'verify'), LOG_LEVEL: 'warn', PUBLIC_URL: 'http://ocsuite.test' });
        const key = json(await app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey as string;
        expect(await ledgerCommand(() => dbConfig, ['verify', '--tenant', linkedOwner.tenantId, '--key', key], io), out.join('\n')).toBe(0);
        expect(out.join('\n')).toMatch(new RegExp(`OK ledger of ${linkedOwner.tenantId}: 3 account\\(s\\), ${3 * C} transfer\\(s\\)`));
      } finally {
        for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGKILL');
      }
    }, 120_000);
  });
}

describe('Redis killed under a running app (jobs on BullMQ), then restarted', () => {
  let redisDir: string;
  let redis: ReturnType<typeof privateRedis>;
  let t: TestApp;
  let owner: Account;

  beforeAll(async () => {
    expect(REDIS_SERVER, 'redis-server binary').toBeTruthy();
    redisDir = fs.mkdtempSync(path.join(tmp, 'redis-'));
    redis = privateRedis(redisDir, await freePort());
    await redis.start();
    t = await startApp({ REDIS_URL: redis.url, OCSUITE_JOBS_PREFIX: `ocsuite-fault-${randomUUID()}`, OCSUITE_INPROCESS_WORKERS: 'true' });
    owner = await signup(t.app, 'Redis fault');
  }, 120_000);

  let closed = false;
  afterAll(async () => {
    try {
      if (!closed) {
        await redis?.start(); // the test failed before its own close: the app's close purges its prefix there
        await t?.close().catch(() => {});
      }
    } finally {
      await redis?.kill();
    }
  });

  const outbox = () => withOwner(t.platform.db, (tx) => tx.query<{ id: string; sent: boolean; done: boolean }>(sql`
    SELECT id, sent_at IS NOT NULL AS sent, done_at IS NOT NULL AS done FROM job_outbox WHERE tenant_id = ${owner.tenantId}::uuid OR envelope->>'tenantId' = ${owner.tenantId}`));

  it('keeps serving reads, accepts or clearly refuses jobs while it is gone, and runs every accepted job once it is back', async () => {
    const before = new Set((await outbox()).map((r) => r.id));
    await redis.kill();
    const members = await t.app.inject({ method: 'GET', url: '/api/v1/members', headers: bearer(owner) });
    expect(members.statusCode, members.body).toBe(200);
    const accepted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const email = uniqueEmail('invitee');
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(owner), payload: { email, role: 'viewer' } });
      if (res.statusCode === 503) expect503(res, 'invitation while Redis is gone');
      else {
        expect(res.statusCode, res.body).toBe(201);
        accepted.push(email);
      }
    }
    // The outbox is in PostgreSQL: enqueuing does not need Redis, so the requests are accepted.
    expect(accepted).toHaveLength(3);
    // Accepted work waits in PostgreSQL's outbox, not in the lost connection.
    const waiting = (await outbox()).filter((r) => !before.has(r.id));
    expect(waiting.length).toBeGreaterThanOrEqual(accepted.length);
    expect(waiting.every((r) => !r.done)).toBe(true);

    await redis.start();
    let rows = waiting;
    // done = the job ran (a job that completes before the relay records its hand-over keeps sent_at empty).
    for (let i = 0; i < 160 && !rows.every((r) => r.done); i++) {
      await sleep(250);
      rows = (await outbox()).filter((r) => !before.has(r.id));
    }
    expect(rows.filter((r) => !r.done), 'jobs accepted during the outage that never ran').toEqual([]);
    expect(rows.length).toBe(waiting.length);
    // The invitations are there, once each.
    const list = json(await t.app.inject({ method: 'GET', url: '/api/v1/invitations', headers: bearer(owner) }));
    for (const email of accepted) expect(list.items.filter((x: { email: string }) => x.email === email)).toHaveLength(1);
  }, 120_000);

  it('closes promptly while Redis is down (QUIT would wait in the offline queue for a reconnect)', async () => {
    await redis.kill();
    await sleep(500); // every client is in its reconnect loop now
    const outcome = await Promise.race([
      (async () => {
        await t.app.close();
        await shutdownPlatform(t.platform);
        return 'closed';
      })(),
      sleep(15_000).then(() => 'still closing after 15 s'),
    ]);
    expect(outcome).toBe('closed');
    closed = true; // the private redis-server and its keys are thrown away with the folder
  }, 30_000);
});
