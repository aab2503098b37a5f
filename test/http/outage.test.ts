import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { loadConfig } from '../../src/config/config.ts';
import { unavailableReason, type UnavailableReason } from '../../src/db/availability.ts';
import type { Lease } from '../../src/db/client.ts';
import { openDatabase, requestPathConnectMs } from '../../src/db/open.ts';
import { toProblem } from '../../src/http/error-handler.ts';
import { purgePrefix } from '../../src/jobs/bullmq.ts';
import type { Platform } from '../../src/kernel/platform.ts';
import { buildServer } from '../../src/server.ts';
import { bearer, json, signup, startApp, usingPostgres, type Account, type TestApp } from '../support/app.ts';

/**
 * Issue #23 §2: a database that cannot be reached is an outage, answered 503
 * problem+json with Retry-After — one warning in the log for the outage, not an
 * error with a stack per request — and the API recovers on its own when the
 * database is back.
 */

const lines = (logs: string[]) => logs.flatMap((chunk) => chunk.split('\n')).filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string });
const outageWarnings = (logs: string[]) => lines(logs).filter((l) => l.msg.startsWith('database unavailable'));
const requestFailures = (logs: string[]) => lines(logs).filter((l) => l.msg === 'request failed');

function expectUnavailable(res: { statusCode: number; headers: Record<string, unknown>; body: string }) {
  expect(res.statusCode).toBe(503);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  const body = JSON.parse(res.body);
  expect(body).toMatchObject({ type: 'urn:ocsuite:problem:service-unavailable', status: 503, code: 'OCS_SERVICE_UNAVAILABLE' });
  // Nothing of the driver's error reaches the client.
  expect(res.body).not.toMatch(/ECONNREFUSED|terminat|pool|PGlite|57P01|stack/i);
  return body as { detail: string };
}

describe('what the drivers throw when the database is gone maps to 503 service-unavailable with Retry-After', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5999'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });
  const cases: [string, unknown, UnavailableReason][] = [
    ['ECONNREFUSED', refused, 'unreachable'],
    ['AggregateError of two refused addresses (happy eyeballs)', Object.assign(new AggregateError([refused, refused], ''), { code: undefined }), 'unreachable'],
    ['connection terminated unexpectedly', new Error('Connection terminated unexpectedly'), 'connection-lost'],
    ['connection terminated (pool end during a query)', new Error('Connection terminated'), 'connection-lost'],
    ['pool timeout', new Error('timeout exceeded when trying to connect'), 'pool-timeout'],
    ['connect timeout', new Error('Connection terminated due to connection timeout', { cause: new Error('timeout expired') }), 'connect-timeout'],
    ['a closed pool', new Error('Cannot use a pool after calling end on the pool'), 'closed'],
    ['a closed PGlite', new Error('PGlite is closed'), 'closed'],
    ['client not queryable after a connection error', new Error('Client has encountered a connection error and is not queryable'), 'connection-lost'],
    ['57P01 admin shutdown', Object.assign(new pg.DatabaseError('terminating connection due to administrator command', 0, 'error'), { code: '57P01' }), 'shutting-down'],
    ['57P03 the database system is starting up', Object.assign(new pg.DatabaseError('the database system is starting up', 0, 'error'), { code: '57P03' }), 'starting-up'],
    ['53300 too many connections', Object.assign(new pg.DatabaseError('sorry, too many clients already', 0, 'error'), { code: '53300' }), 'too-many-connections'],
    ['08006 connection failure', Object.assign(new pg.DatabaseError('connection failure', 0, 'error'), { code: '08006' }), 'connection-lost'],
    ['wrapped as the cause of another error', new Error('could not load the tenant', { cause: refused }), 'unreachable'],
  ];
  it.each(cases)('%s', (_name, err, reason) => {
    expect(unavailableReason(err)).toBe(reason);
    const problem = toProblem(err as never);
    expect(problem.status).toBe(503);
    expect(problem.kind).toBe('service-unavailable');
    expect(Number(problem.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(problem.detail).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|terminat|pool|PGlite/);
  });

  it('leaves ordinary errors alone: a bug stays a 500, a constraint a 409, a statement timeout a 503', () => {
    for (const err of [new Error('Cannot read properties of undefined'), new TypeError('x is not a function'), Object.assign(new Error('boom'), { code: 'ERR_SOMETHING' })]) {
      expect(unavailableReason(err)).toBeUndefined();
      expect(toProblem(err as never).status).toBe(500);
    }
    const unique = Object.assign(new pg.DatabaseError('duplicate key', 0, 'error'), { code: '23505' });
    expect(unavailableReason(unique)).toBeUndefined();
    expect(toProblem(unique as never).status).toBe(409);
    const slow = Object.assign(new pg.DatabaseError('canceling statement due to statement timeout', 0, 'error'), { code: '57014' });
    expect(toProblem(slow as never)).toMatchObject({ status: 503, headers: { 'retry-after': '1' } });
    // A message that only contains the words is not the driver's.
    expect(unavailableReason(new Error('user typed: Connection terminated unexpectedly, please'))).toBeUndefined();
  });

  it('bounds waiting for a connection well below the request timeout', () => {
    for (const t of [100, 1_000, 3_000, 10_000, 600_000]) {
      expect(requestPathConnectMs(t)).toBeLessThan(t);
      expect(requestPathConnectMs(t)).toBeLessThanOrEqual(5_000);
    }
  });
});

describe('the request-serving database closed under a running app', () => {
  let t: TestApp;
  let owner: Account;
  beforeAll(async () => {
    t = await startApp({ OCSUITE_ACCESS_LOG: 'false' });
    owner = await signup(t.app, 'Closed DB');
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(owner), payload: { title: 'before', body: 'x' } });
    expect(created.statusCode).toBe(201);
    await t.platform.db.close();
  });
  afterAll(async () => {
    await t?.close().catch(() => {}); // the database is already closed
  });

  it('answers every request 503 problem+json with Retry-After, logging the outage once and no request as failed', async () => {
    const before = t.logs.length;
    for (let i = 0; i < 8; i++) {
      expectUnavailable(await t.app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: bearer(owner) }));
      expectUnavailable(await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(owner), payload: { title: `during ${i}`, body: 'x' } }));
    }
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expectUnavailable(ready);
    expect(outageWarnings(t.logs)).toHaveLength(1);
    expect(outageWarnings(t.logs)[0]!.level).toBe(40); // warn
    expect(outageWarnings(t.logs)[0]!.reason).toBe('closed');
    expect(requestFailures(t.logs.slice(before))).toEqual([]);
    // The liveness probe needs no database and keeps answering.
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('every connection held: a request never waits past the request timeout, and is answered, not dropped', () => {
  let t: TestApp;
  let owner: Account;
  let base: string;
  beforeAll(async () => {
    t = await startApp({ OCSUITE_ACCESS_LOG: 'false', OCSUITE_REQUEST_TIMEOUT_MS: '1500' });
    owner = await signup(t.app, 'Held pool');
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => t?.close());

  it('answers 503 with Retry-After over a real socket while the database is held, and serves again once it is free', async () => {
    // Embedded: the one PGlite connection; PostgreSQL: every client of the test pool (5).
    const held: Lease[] = [];
    for (let i = 0; i < (usingPostgres ? 5 : 1); i++) held.push(await t.platform.db.acquire());
    try {
      const res = await fetch(`${base}/api/v1/knowledge`, { headers: bearer(owner) });
      const body = await res.text();
      expectUnavailable({ statusCode: res.status, headers: Object.fromEntries(res.headers), body });
    } finally {
      for (const lease of held) lease.release();
    }
    const after = await fetch(`${base}/api/v1/knowledge`, { headers: bearer(owner) });
    expect(after.status).toBe(200);
    expect(requestFailures(t.logs)).toEqual([]);
  });
});

/**
 * A PostgreSQL of the test's own (not the shared service): initdb + pg_ctl from the
 * PostgreSQL 15 binaries, on a free port, in a temporary folder; stopped and started
 * under a running app.
 */
const PG_BIN = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'].find((d) => fs.existsSync(path.join(d, 'pg_ctl')));

if (usingPostgres) {
  describe('a second PostgreSQL cluster stopped and started under a running app', () => {
    let dir: string;
    let port: number;
    let platform: Platform;
    let app: Awaited<ReturnType<typeof buildServer>>;
    let owner: Account;
    let redisPrefix: string | undefined;
    const logs: string[] = [];
    const asRoot = process.getuid?.() === 0;

    const run = (bin: string, args: string[]) => {
      const file = path.join(PG_BIN!, bin);
      // initdb and postgres refuse to run as root: run them as the postgres account.
      return asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'pipe' }) : execFileSync(file, args, { stdio: 'pipe' });
    };
    const pgCtl = (...args: string[]) => run('pg_ctl', ['-D', path.join(dir, 'data'), '-l', path.join(dir, 'log'), '-w', ...args]);
    const start = () => pgCtl('-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start');

    beforeAll(async () => {
      expect(PG_BIN, 'PostgreSQL server binaries (initdb, pg_ctl)').toMatch(/^\/usr\/lib\/postgresql\/\d+\/bin$/);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-outage-'));
      if (asRoot) execFileSync('chown', ['postgres', dir]);
      port = await new Promise<number>((resolve) => {
        const probe = net.createServer().listen(0, '127.0.0.1', () => {
          const p = (probe.address() as net.AddressInfo).port;
          probe.close(() => resolve(p));
        });
      });
      run('initdb', ['-D', path.join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
      start();
      const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      redisPrefix = process.env.REDIS_URL ? `ocsuite-test-${randomUUID()}` : undefined;
      const config = loadConfig({
        OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!,
        OCSUITE_RATE_LIMIT: '100000',
        OCSUITE_TENANT_RATE_LIMIT: '100000', OCSUITE_USER_RATE_LIMIT: '100000', OCSUITE_WRITE_RATE_LIMIT: '100000', OCSUITE_EXPENSIVE_RATE_LIMIT: '100000',
        OCSUITE_AUTH_RATE_LIMIT: '100000',
        PUBLIC_URL: 'http://ocsuite.test',
        DATABASE_URL: url,
        OCSUITE_ACCESS_LOG: 'false',
        OCSUITE_REQUEST_TIMEOUT_MS: '4000',
        OCSUITE_DATA_DIR: path.join(dir, 'app'),
        ...(redisPrefix ? { REDIS_URL: process.env.REDIS_URL!, OCSUITE_JOBS_PREFIX: redisPrefix } : {}),
      });
      const sink = new Writable({ write(chunk, _enc, done) { logs.push(String(chunk)); done(); } });
      // The production path: openDatabase with the request-path connect timeout.
      const db = await openDatabase(config);
      platform = await bootPlatform(config, { db, logDestination: sink, jobsConnectionString: url, workers: false });
      app = await buildServer(platform);
      owner = await signup(app, 'Second cluster');
      const created = await app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(owner), payload: { title: 'before the outage', body: 'x' } });
      expect(created.statusCode).toBe(201);
    });

    afterAll(async () => {
      try {
        await app?.close();
        await shutdownPlatform(platform).catch(() => {});
      } finally {
        try {
          pgCtl('-m', 'immediate', 'stop');
        } catch {
          /* already stopped */
        }
        if (redisPrefix) await purgePrefix(process.env.REDIS_URL!, redisPrefix);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('answers 503 with Retry-After while it is down (one warning), and serves again once it is back, without a restart', async () => {
      const before = logs.length;
      pgCtl('-m', 'fast', 'stop');

      for (let i = 0; i < 6; i++) {
        const list = expectUnavailable(await app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: bearer(owner) }));
        // Answered because the database refused, not because the request deadline passed.
        expect(list.detail).toMatch(/not reachable/);
        expectUnavailable(await app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(owner), payload: { title: `during ${i}`, body: 'x' } }));
      }
      expectUnavailable(await app.inject({ method: 'GET', url: '/readyz' }));
      expect(outageWarnings(logs.slice(before))).toHaveLength(1);
      expect(requestFailures(logs.slice(before))).toEqual([]);

      start();
      // The pool opens new connections as soon as the server takes them: at most a few 503s
      // while the cluster finishes starting.
      let status = 0;
      for (let i = 0; i < 40 && status !== 200; i++) {
        status = (await app.inject({ method: 'GET', url: '/readyz' })).statusCode;
        if (status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      expect(status).toBe(200);
      const list = await app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: bearer(owner) });
      expect(list.statusCode).toBe(200);
      // What was there before is there; nothing tried during the outage was written.
      expect(json(list).items.map((e: { title: string }) => e.title)).toEqual(['before the outage']);
      const created = await app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(owner), payload: { title: 'after', body: 'x' } });
      expect(created.statusCode).toBe(201);
      expect(lines(logs.slice(before)).filter((l) => l.msg === 'database reachable again')).toHaveLength(1);
      expect(requestFailures(logs.slice(before))).toEqual([]);
    });
  });
}
