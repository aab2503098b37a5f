import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { withTenant } from '../../src/db/transaction.ts';
import type { JobDriver } from '../../src/jobs/driver.ts';
import { ProblemError } from '../../src/http/problem.ts';
import { PoisonError, QueueFullError } from '../../src/kernel/jobs/errors.ts';
import { retryDeadLetter } from '../../src/jobs/operations.ts';
import type { JobInfo, QueueDefinition } from '../../src/kernel/jobs/port.ts';
import type { JobSystem } from '../../src/jobs/system.ts';
import {
  createTenant, deadLetters, driverCases, eventually, newSystem, Observed, queueName, setTenantStatus, TX,
} from './support.ts';

/**
 * One contract, every driver of this run (pg-boss over PGlite always; BullMQ
 * on Redis when REDIS_URL is set). Each test uses queues of its own.
 */
const base = (name: string, over: Partial<QueueDefinition> = {}): QueueDefinition => ({
  name, scope: 'platform', retryLimit: 2, retryDelaySeconds: 1, expireInSeconds: 10, concurrency: 2, ...over,
});

describe.each(driverCases)('job queue contract: $label', (c) => {
  let db: Database;
  let driver: JobDriver & { destroy?(): Promise<void> };
  let jobs: JobSystem;
  const observed = new Observed();
  let tenantA: string;
  let tenantB: string;
  let bEntry: string;

  beforeAll(async () => {
    db = await c.openDb();
    driver = await c.openDriver(db);
    jobs = newSystem(driver, db, observed);
    await jobs.startWorkers();
    tenantA = await createTenant(db, 'Jobs A');
    tenantB = await createTenant(db, 'Jobs B');
    const [row] = await withTenant(db, { tenantId: tenantB }, TX, (tx) =>
      tx.query<{ id: string }>(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${tenantB}, 'B secret', 'only B') RETURNING id`));
    bEntry = row!.id;
  });

  afterAll(async () => {
    await jobs?.stop();
    await driver?.destroy?.();
    await db?.close();
  });

  it.concurrent('retries a failing job with back-off and then succeeds', async () => {
    const q = queueName('retry');
    const attempts: number[] = [];
    await jobs.define(base(q), async (job: JobInfo) => {
      attempts.push(job.attempt);
      if (job.attempt < 3) throw new Error(`transient ${job.attempt}`);
    });
    const { id } = await jobs.send(q, { n: 1 });
    expect(id).toBeTruthy();
    await eventually('third attempt', () => attempts.length >= 3);
    await eventually('completion', () => observed.results.some((r) => r.queue === q && r.result === 'completed'));
    expect(attempts).toEqual([1, 2, 3]);
    expect(observed.results.filter((r) => r.queue === q).map((r) => r.result)).toEqual(['failed', 'failed', 'completed']);
    expect(await deadLetters(db, q)).toEqual([]);
  });

  it.concurrent('lists the payloads of unfinished jobs (running, delayed), never of finished ones', async () => {
    const q = queueName('pending');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    await jobs.define(base(q, { concurrency: 1 }), async (job: JobInfo<{ n: string }>) => {
      started.push(job.data.n);
      if (job.data.n === 'slow') await gate;
    });
    const sorted = async () => (await jobs.pendingData(q)).map((d) => (d as { n: string }).n).sort();
    await jobs.send(q, { n: 'fast' });
    await eventually('fast completes', () => observed.results.some((r) => r.queue === q && r.result === 'completed'));
    await jobs.send(q, { n: 'slow' });
    await eventually('slow starts', () => started.includes('slow'));
    await jobs.send(q, { n: 'later' }, { delaySeconds: 3_600 });
    expect(await sorted()).toEqual(['later', 'slow']);
    release();
    await eventually('slow completes', () => observed.results.filter((r) => r.queue === q && r.result === 'completed').length === 2);
    expect(await sorted()).toEqual(['later']);
  });

  it.concurrent('dead-letters a job that fails every attempt, with its error, and a retry from the dead letter succeeds', async () => {
    const q = queueName('poison');
    let healthy = false;
    const runs: number[] = [];
    await jobs.define(base(q, { retryLimit: 1 }), async (job: JobInfo<{ order: string }>) => {
      runs.push(job.attempt);
      if (!healthy) throw new Error(`upstream refused order ${job.data.order}`);
    });
    await jobs.send(q, { order: 'o-17' });
    const [dl] = await eventually('dead letter', async () => {
      const rows = await deadLetters(db, q);
      return rows.length ? rows : undefined;
    });
    expect(runs).toEqual([1, 2]);
    expect(dl).toMatchObject({ queue: q, status: 'dead', attempts: 2, tenantId: null, retryable: true, payload: { order: 'o-17' } });
    expect(dl!.error).toContain('upstream refused order o-17');
    // Terminal in the driver too: nothing is retried behind the dead letter's back.
    await eventually('driver failed count', async () => (await jobs.counts(q)).failed === 1);

    healthy = true;
    const retried = await retryDeadLetter({ db, jobs, statementTimeoutMs: 5_000 }, { kind: 'operator', name: 'test' }, dl!.id);
    expect(retried.outcome).toBe('retried');
    await eventually('retried job completes', () => observed.results.some((r) => r.queue === q && r.result === 'completed'));
    const [after] = await deadLetters(db, q);
    expect(after).toMatchObject({ status: 'retried', resolvedBy: 'operator:test' });
    expect(after!.retriedJobId).toBe(retried.outcome === 'retried' ? retried.jobId : '');
    // A second retry of the same dead letter is refused (already resolved).
    expect((await retryDeadLetter({ db, jobs, statementTimeoutMs: 5_000 }, { kind: 'operator', name: 'test' }, dl!.id)).outcome).toBe('not-found');
  });

  it.concurrent('dead-letters poison at once: a PoisonError, a payload its parser refuses, an unparseable envelope', async () => {
    const q = queueName('unparseable');
    const seen: unknown[] = [];
    await jobs.define(base(q, { retryLimit: 5 }), async (job: JobInfo<{ kind: string }>) => {
      seen.push(job.data);
      if (job.data.kind === 'poison') throw new PoisonError('cannot ever work');
    }, {
      parse: (d) => {
        const kind = (d as { kind?: unknown }).kind;
        if (typeof kind !== 'string') throw new Error('kind must be a string');
        return { kind };
      },
    });
    await jobs.send(q, { kind: 'poison' });
    await jobs.send(q, { kind: 42 });
    // Written by something other than the port: no envelope.
    await driver.send(q, { hello: 'world' }, {});
    const rows = await eventually('three dead letters', async () => {
      const r = await deadLetters(db, q);
      return r.length === 3 ? r : undefined;
    });
    const byError = (s: string) => rows.find((r) => r.error.includes(s));
    expect(byError('cannot ever work')).toMatchObject({ attempts: 1, retryable: true });
    expect(byError('invalid payload: kind must be a string')).toMatchObject({ attempts: 1, retryable: false, payload: { kind: 42 } });
    expect(byError('unparseable payload')).toMatchObject({ attempts: 1, retryable: false, payload: { hello: 'world' } });
    expect(seen).toEqual([{ kind: 'poison' }]);
    // A dead letter that cannot succeed is not offered for a retry.
    const unparseable = byError('unparseable payload')!;
    expect((await retryDeadLetter({ db, jobs, statementTimeoutMs: 5_000 }, { kind: 'operator', name: 'test' }, unparseable.id)).outcome).toBe('not-found');
  });

  it.concurrent('runs a job once per idempotency key, however often the enqueue is retried', async () => {
    const q = queueName('idem');
    const runs: string[] = [];
    await jobs.define(base(q, { scope: 'tenant' }), async (job: JobInfo<{ n: number }>) => {
      runs.push(`${job.tenantId}:${job.data.n}`);
    });
    const first = await jobs.send(q, { n: 1 }, { tenantId: tenantA, idempotencyKey: 'invoice-42' });
    const again = await jobs.send(q, { n: 2 }, { tenantId: tenantA, idempotencyKey: 'invoice-42' });
    expect(first.created).toBe(true);
    expect(again).toEqual({ id: first.id, created: false });
    // The same key for another tenant is another job.
    const other = await jobs.send(q, { n: 3 }, { tenantId: tenantB, idempotencyKey: 'invoice-42' });
    expect(other.id).not.toBe(first.id);
    await eventually('both tenants ran', () => runs.length >= 2);
    // After completion the key still holds.
    const late = await jobs.send(q, { n: 4 }, { tenantId: tenantA, idempotencyKey: 'invoice-42' });
    expect(late).toEqual({ id: first.id, created: false });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(runs.sort()).toEqual([`${tenantA}:1`, `${tenantB}:3`].sort());
  });

  it.concurrent('refuses to enqueue past the depth limit with a 503 problem carrying Retry-After', async () => {
    const q = queueName('depth');
    await jobs.define(base(q, { maxDepth: 3, expireInSeconds: 20 })); // no handler here: nothing drains it
    for (let i = 0; i < 3; i++) await jobs.send(q, { i });
    const err = await jobs.send(q, { i: 3 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(QueueFullError);
    // The kernel's coded error, as the HTTP layer answers it.
    const full = ProblemError.of(err as QueueFullError);
    expect(full.status).toBe(503);
    expect(full.headers?.['retry-after']).toBe('10');
    expect(full.toBody('req-1')).toMatchObject({ type: 'urn:ocsuite:problem:queue-full', status: 503, retryAfter: 10 });
    expect((await jobs.counts(q)).waiting).toBe(3);
  });

  it.concurrent('tells whether a queue has room before anything is written (assertRoom admits nothing)', async () => {
    const q = queueName('room');
    await jobs.define(base(q, { maxDepth: 2, expireInSeconds: 20 })); // no handler: nothing drains it
    await jobs.assertRoom(q);
    await jobs.send(q, { i: 1 });
    await jobs.assertRoom(q);
    await jobs.assertRoom(q); // asking twice takes no place
    await jobs.send(q, { i: 2 });
    await expect(jobs.assertRoom(q)).rejects.toBeInstanceOf(QueueFullError);
    expect((await jobs.counts(q)).waiting).toBe(2);
  });

  it.concurrent('holds the depth limit under a burst of concurrent sends', async () => {
    const q = queueName('depth-burst');
    await jobs.define(base(q, { maxDepth: 5, expireInSeconds: 20 })); // no handler: nothing drains it
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => jobs.send(q, { i })));
    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    expect(accepted).toBe(5);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof QueueFullError)).toBe(true);
    expect((await jobs.counts(q)).waiting).toBe(5);
  });

  it.concurrent("runs a tenant job inside its own tenant: it cannot read or write tenant B's rows", async () => {
    const q = queueName('isolation');
    const seen: Array<{ visible: number; byId: number; own: number }> = [];
    await jobs.define(base(q, { scope: 'tenant', retryLimit: 0 }), async (job: JobInfo<{ mode: string; target: string }>, tx) => {
      const [all] = await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM knowledge_entries WHERE title = 'B secret'`);
      const [byId] = await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM knowledge_entries WHERE id = ${job.data.target}`);
      await tx.query(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${job.tenantId}, ${`A job ${job.id}`}, 'own row')`);
      const [own] = await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM knowledge_entries WHERE title = ${`A job ${job.id}`}`);
      seen.push({ visible: all!.n, byId: byId!.n, own: own!.n });
      if (job.data.mode === 'write-b') {
        await tx.query(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${tenantB}, 'planted by A', 'x')`);
      }
    });
    await jobs.send(q, { mode: 'read', target: bEntry }, { tenantId: tenantA });
    await jobs.send(q, { mode: 'write-b', target: bEntry }, { tenantId: tenantA });
    const [dl] = await eventually('write into B dead-lettered', async () => {
      const r = await deadLetters(db, q);
      return r.length ? r : undefined;
    });
    await eventually('both ran', () => seen.length === 2);
    expect(seen).toEqual([{ visible: 0, byId: 0, own: 1 }, { visible: 0, byId: 0, own: 1 }]);
    expect(dl).toMatchObject({ tenantId: tenantA, status: 'dead' });
    expect(dl!.error).toMatch(/row-level security/);
    const planted = await withTenant(db, { tenantId: tenantB }, TX, (tx) => tx.query(sql`SELECT id FROM knowledge_entries WHERE title = 'planted by A'`));
    expect(planted).toEqual([]);
    // The failed attempt's own row was rolled back with it.
    const aRows = await withTenant(db, { tenantId: tenantA }, TX, (tx) => tx.query(sql`SELECT id FROM knowledge_entries WHERE title LIKE 'A job %'`));
    expect(aRows).toHaveLength(1);
  });

  it.concurrent('refuses a tenant job whose tenant is missing or suspended, and never runs it without a tenant', async () => {
    const q = queueName('refused');
    const ran: string[] = [];
    await jobs.define(base(q, { scope: 'tenant', retryLimit: 3 }), async (job: JobInfo) => {
      ran.push(job.tenantId!);
    });
    const ghost = randomUUID();
    const suspended = await createTenant(db, 'Suspended');
    await setTenantStatus(db, suspended, 'suspended');
    await jobs.send(q, { x: 1 }, { tenantId: ghost });
    await jobs.send(q, { x: 2 }, { tenantId: suspended });
    // A tenant job forged without a tenant (not through the port).
    await driver.send(q, { v: 1, tenantId: null, data: { x: 3 } }, {});
    await expect(jobs.send(q, { x: 4 })).rejects.toThrow(/tenant id is required/);
    const rows = await eventually('three refusals', async () => {
      const r = await deadLetters(db, q);
      return r.length === 3 ? r : undefined;
    });
    expect(ran).toEqual([]);
    const gone = rows.find((r) => r.claimedTenantId === ghost);
    expect(gone).toMatchObject({ tenantId: null, retryable: false, attempts: 1 });
    expect(gone!.error).toContain('does not exist');
    expect(rows.find((r) => r.tenantId === suspended)).toMatchObject({ retryable: true, error: 'refused: the tenant is suspended' });
    expect(rows.find((r) => r.error.includes('without a tenant'))).toMatchObject({ tenantId: null, retryable: false });
  });

  it.concurrent("keeps one tenant's flood from starving another tenant (per-tenant concurrency)", async () => {
    const q = queueName('fair');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let aRunning = 0;
    let aMax = 0;
    let aDone = 0;
    let bDoneWhileAWaited: number | undefined;
    await jobs.define(base(q, { scope: 'tenant', transactional: false, concurrency: 3, tenantConcurrency: 1, expireInSeconds: 30 }), async (job: JobInfo) => {
      if (job.tenantId === tenantB) {
        bDoneWhileAWaited = aDone;
        return;
      }
      aRunning++;
      aMax = Math.max(aMax, aRunning);
      await gate;
      aRunning--;
      aDone++;
    });
    for (let i = 0; i < 6; i++) await jobs.send(q, { i }, { tenantId: tenantA });
    await eventually('an A job running', () => aRunning === 1);
    await jobs.send(q, { i: 'b' }, { tenantId: tenantB });
    // B completes while every A job is still held at the gate: A could not take all the slots.
    await eventually("B's job", () => bDoneWhileAWaited !== undefined);
    expect(bDoneWhileAWaited).toBe(0);
    release();
    await eventually('A drained', () => aDone >= 6, 40_000);
    expect({ aMax, aDone }).toEqual({ aMax: 1, aDone: 6 });
  });

  it.concurrent('completes a delivered-again tenant job once: the completion record commits with its work', async () => {
    const q = queueName('once');
    let runs = 0;
    await jobs.define(base(q, { scope: 'tenant' }), async (job: JobInfo, tx) => {
      runs++;
      await tx.query(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${job.tenantId}, ${`once ${job.id}`}, 'x')`);
    });
    // The same delivery twice, as after a worker died between its commit and its acknowledgement.
    const job = { id: randomUUID(), queue: q, data: { v: 1, tenantId: tenantA, data: {} }, delivery: 1 };
    expect(await jobs.run(job)).toEqual({ status: 'completed' });
    expect(await jobs.run({ ...job, delivery: 2 })).toEqual({ status: 'completed' });
    expect(runs).toBe(1);
    const rows = await withTenant(db, { tenantId: tenantA }, TX, (tx) => tx.query(sql`SELECT id FROM knowledge_entries WHERE title = ${`once ${job.id}`}`));
    expect(rows).toHaveLength(1);
  });

  it.concurrent('fails an attempt that exceeds its timeout and rolls back what it wrote', async () => {
    const q = queueName('timeout');
    await jobs.define(base(q, { scope: 'tenant', retryLimit: 0, expireInSeconds: 1 }), async (job: JobInfo, tx) => {
      await tx.query(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${job.tenantId}, ${`slow ${job.id}`}, 'x')`);
      await new Promise((r) => setTimeout(r, 1_500));
    });
    const { id } = await jobs.send(q, {}, { tenantId: tenantA });
    const [dl] = await eventually('timeout dead letter', async () => {
      const r = await deadLetters(db, q);
      return r.length ? r : undefined;
    });
    expect(dl!.error).toMatch(/timed out after 1 s/);
    const rows = await withTenant(db, { tenantId: tenantA }, TX, (tx) => tx.query(sql`SELECT id FROM knowledge_entries WHERE title = ${`slow ${id}`}`));
    expect(rows).toEqual([]);
  });
});
