import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { SCHEDULES } from '../../src/jobs/schedules.ts';
import type { JobSystem } from '../../src/jobs/system.ts';
import { bearer, signup, startApp, uniqueEmail, type TestApp } from '../support/app.ts';

/**
 * A Redis outage with the outbox (issue #23 §1, §3), on both profiles: this file starts a Redis of
 * its own on another port (redis-server must be on PATH; it is wherever the production profile
 * runs), makes the app's jobs run on it (BullMQ; PGlite or PostgreSQL bookkeeping), stops it
 * with SIGKILL while requests enqueue mail, starts it again empty, and flushes it.
 */
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await wait(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const port = randomInt(20_000, 40_000);
const url = `redis://127.0.0.1:${port}`;
let redis: ChildProcess | undefined;

async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await eventually('our Redis answering', async () => {
      try {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        probe.disconnect();
        return false;
      }
    }, 20_000);
  } finally {
    probe.disconnect();
  }
}

async function killRedis(): Promise<void> {
  const proc = redis;
  redis = undefined;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
}

const operatorToken = `op-${randomBytes(16).toString('hex')}`;
let t: TestApp;
let smtp: SMTPServer;
const received: string[] = [];
const flushRuns = new Map<string, number>();
const FLUSH_QUEUE = 'outbox.flush-test';

beforeAll(async () => {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error('redis-server is not on PATH: this test starts a Redis of its own (apt-get install redis-server)');
  await startRedis();
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, done) {
      stream.on('data', () => {});
      stream.on('end', () => {
        received.push(session.envelope.rcptTo.map((r) => r.address).join(','));
        done();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  t = await startApp({
    SMTP_URL: `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`,
    REDIS_URL: url,
    OCSUITE_JOBS_PREFIX: `ocsuite-outage-${randomBytes(4).toString('hex')}`,
    OCSUITE_INPROCESS_WORKERS: 'true',
    OCSUITE_OPERATOR_TOKEN: operatorToken,
  }, {
    jobsTuning: {
      lockDurationMs: 2_000, stalledIntervalMs: 1_000,
      outbox: { pollMs: 200, sendTimeoutMs: 1_000, resendAfterSeconds: 3 },
      scheduleHealMs: 1_000,
    },
  });
  await t.platform.jobs.define({ name: FLUSH_QUEUE, scope: 'platform', retryLimit: 2, retryDelaySeconds: 1, expireInSeconds: 30 }, async (job: { data: { key: string } }) => {
    flushRuns.set(job.data.key, (flushRuns.get(job.data.key) ?? 0) + 1);
  });
});

afterAll(async () => {
  if (!redis) await startRedis().catch(() => {}); // the app's close purges its key prefix there
  await t?.close();
  await killRedis();
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
});

const system = () => t.platform.jobs as JobSystem;
const expectedSchedules = SCHEDULES.filter((s) => s.handler).map((s) => s.name);
const scheduled = async () => {
  const names = new Set((await system().raw.schedules()).map((s) => s.queue));
  return expectedSchedules.every((n) => names.has(n));
};
const mailsTo = (email: string) => received.filter((r) => r === email).length;

describe('a Redis outage', () => {
  it('never fails a request that enqueues: the mail waits in the outbox, and is delivered exactly once when Redis is back; the schedules come back with it', async () => {
    const owner = await signup(t.app, 'Outage Ltd');
    await eventually('the schedules applied', scheduled);

    await killRedis();
    const invitees = [uniqueEmail('outage-a'), uniqueEmail('outage-b'), uniqueEmail('outage-c')];
    for (const email of invitees) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(owner), payload: { email, role: 'member' } });
      expect(res.statusCode, res.body).toBe(201);
    }
    const reset = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email: owner.email } });
    expect(reset.statusCode).toBe(202);

    // Every mail is a row of the outbox, not handed over yet, and sealed there like in the queue.
    const rows = await withOwner(t.platform.db, (tx) => tx.query<{ sent_at: Date | null; envelope: string }>(sql`
      SELECT sent_at, envelope::text AS envelope FROM job_outbox WHERE tenant_id = ${owner.tenantId} AND queue = 'mail.send'`));
    expect(rows).toHaveLength(3);
    for (const r of rows) {
      expect(r.sent_at).toBeNull();
      expect(r.envelope).not.toContain('ocs_inv_');
      expect(r.envelope).toMatch(/"sealed": ?"omk1\./);
    }
    // /metrics answers during the outage and shows the backlog (this app's namespace: its own 4 mails).
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toMatch(/^ocsuite_outbox_depth\{queue="mail\.send"\} 4$/m);
    expect(metrics.body).toMatch(/^ocsuite_jobs_driver_up 0$/m);
    expect(Number(/^ocsuite_outbox_oldest_age_seconds\{queue="mail\.send"\} ([\d.e+-]+)$/m.exec(metrics.body)?.[1])).toBeGreaterThan(0);
    expect(received.filter((r) => invitees.includes(r))).toEqual([]);

    // Redis comes back empty (no persistence): the outbox drains into it.
    await startRedis();
    await eventually('every mail delivered', () => invitees.every((e) => mailsTo(e) >= 1) && mailsTo(owner.email) >= 1);
    await eventually('the rows marked done', async () => {
      const open = await withOwner(t.platform.db, (tx) => tx.query(sql`
        SELECT 1 FROM job_outbox WHERE tenant_id IS NOT DISTINCT FROM ${owner.tenantId} AND queue = 'mail.send' AND done_at IS NULL`));
      return open.length === 0;
    });
    await eventually('the schedules back in the empty Redis', scheduled);
    // Past the re-send window (3 s): nothing is handed over a second time.
    await wait(4_500);
    for (const e of invitees) expect(mailsTo(e), e).toBe(1);
    expect(mailsTo(owner.email)).toBe(1);
    const after = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } });
    expect(after.body).toMatch(/^ocsuite_outbox_depth\{queue="mail\.send"\} 0$/m);
    expect(after.body).toMatch(/^ocsuite_jobs_driver_up 1$/m);
  });

  it('a FLUSHALL loses nothing: a job handed over but not run yet is handed over again under its id and runs once, and the schedules are re-asserted', async () => {
    const key = `flush-${randomBytes(4).toString('hex')}`;
    const sent = await t.platform.jobs.send(FLUSH_QUEUE, { key }, { delaySeconds: 3 });
    const rowOf = async () => (await withOwner(t.platform.db, (tx) => tx.query<{ sent_at: Date | null; done_at: Date | null }>(sql`
      SELECT sent_at, done_at FROM job_outbox WHERE id = ${sent.id}`)))[0];
    await eventually('the job handed to Redis', async () => (await rowOf())?.sent_at != null);
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      const jobKey = `${t.platform.config.jobsPrefix}:${FLUSH_QUEUE}:${sent.id}`;
      expect(await client.exists(jobKey)).toBe(1);
      await client.flushall();
      // The delayed job is gone from Redis (workers re-create their own keys at once, so Redis is not empty).
      expect(await client.exists(jobKey)).toBe(0);
    } finally {
      client.disconnect();
    }
    await eventually('the job run after all', () => (flushRuns.get(key) ?? 0) >= 1);
    await eventually('its row done', async () => (await rowOf())?.done_at != null);
    await eventually('the schedules back without a reconnect', scheduled);
    await wait(4_500);
    expect(flushRuns.get(key)).toBe(1);
  });
});
