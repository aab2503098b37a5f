import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { withMaintenance, withTenant } from '../../src/db/transaction.ts';
import type { JobDriver } from '../../src/jobs/driver.ts';
import type { JobInfo, QueueDefinition } from '../../src/kernel/jobs/port.ts';
import type { JobSystem } from '../../src/jobs/system.ts';
import { createTenant, deadLetters, driverCases, eventually, newSystem, Observed, queueName, TX, usingPostgres } from './support.ts';

/**
 * Issue #22 §5 on every driver of this run: per-tenant rate caps, and a
 * tenant job's timeout that ends its transaction at once (PGlite is free
 * right after; on PostgreSQL the running statement is cancelled).
 */
const tenantQueue = (name: string, over: Partial<QueueDefinition> = {}): QueueDefinition => ({
  name, scope: 'tenant', retryLimit: 0, retryDelaySeconds: 1, expireInSeconds: 10, concurrency: 4, ...over,
});

describe.each(driverCases)('jobs edge cases: $label', (c) => {
  let db: Database;
  let driver: JobDriver & { destroy?(): Promise<void> };
  let jobs: JobSystem;
  const observed = new Observed();
  let tenantA: string;
  let tenantB: string;

  beforeAll(async () => {
    db = await c.openDb();
    driver = await c.openDriver(db);
    jobs = newSystem(driver, db, observed);
    await jobs.startWorkers();
    tenantA = await createTenant(db, 'Edge A');
    tenantB = await createTenant(db, 'Edge B');
  });

  afterAll(async () => {
    await jobs?.stop();
    await driver?.destroy?.();
    await db?.close();
  });

  it('holds a per-tenant rate cap (jobs per second) without using attempts, and each tenant has its own bucket', async () => {
    const q = queueName('rate');
    const rate = 4;
    const burst = 2;
    const starts = new Map<string, number[]>();
    const attempts: number[] = [];
    await jobs.define(tenantQueue(q, { tenantRatePerSecond: rate, tenantRateBurst: burst }), async (job: JobInfo) => {
      attempts.push(job.attempt);
      starts.set(job.tenantId!, [...(starts.get(job.tenantId!) ?? []), performance.now()]);
    });
    for (let i = 0; i < 10; i++) await jobs.send(q, { i }, { tenantId: tenantA });
    for (let i = 0; i < 3; i++) await jobs.send(q, { i }, { tenantId: tenantB });
    await eventually('every job ran', () => (starts.get(tenantA)?.length ?? 0) === 10 && (starts.get(tenantB)?.length ?? 0) === 3, 60_000);
    // A token bucket admits at most burst + rate × t starts in any span t (one more for clock skew
    // between this process and Redis's clock).
    for (const [tenant, times] of starts) {
      const sorted = [...times].sort((a, b) => a - b);
      for (let i = 0; i < sorted.length; i++) {
        for (let j = i + 1; j < sorted.length; j++) {
          const span = (sorted[j]! - sorted[i]!) / 1000;
          expect(j - i + 1, `${tenant === tenantA ? 'A' : 'B'}: ${j - i + 1} starts in ${span.toFixed(3)} s`).toBeLessThanOrEqual(burst + rate * span + 1);
        }
      }
    }
    // A capped job waits for its turn: it does not spend attempts, nor end as a dead letter.
    expect(attempts.every((a) => a === 1)).toBe(true);
    expect(await deadLetters(db, q)).toEqual([]);
    expect(observed.results.filter((r) => r.queue === q && r.result !== 'completed')).toEqual([]);
  });

  it('refuses nonsense caps at definition', async () => {
    await expect(jobs.define(tenantQueue(queueName('badrate'), { tenantRatePerSecond: 0 }))).rejects.toThrow(/positive/);
    await expect(jobs.define(tenantQueue(queueName('badrate'), { tenantConcurrency: -1 }))).rejects.toThrow(/positive/);
    await expect(jobs.define({ ...tenantQueue(queueName('badrate'), { tenantRatePerSecond: 5 }), scope: 'platform' })).rejects.toThrow(/platform/);
  });

  it('ends a timed-out tenant attempt at once: rolled back, the database free right after, the late statement refused', async () => {
    const q = queueName('timeout-free');
    let woke = false;
    let late: string | undefined;
    let freeWhileHeld: boolean | undefined;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await jobs.define(tenantQueue(q, { expireInSeconds: 1 }), async (job: JobInfo, tx) => {
      await tx.query(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${job.tenantId}, ${`held ${job.id}`}, 'x')`);
      // Waits on something that is not the database, its transaction open, past the timeout.
      await held;
      woke = true;
      late = await tx.query(sql`INSERT INTO knowledge_entries (tenant_id, title, body) VALUES (${job.tenantId}, ${`late ${job.id}`}, 'x')`)
        .then(() => 'ran', (err: Error) => err.message);
    });
    const { id } = await jobs.send(q, {}, { tenantId: tenantA });
    const [dl] = await eventually('the timeout dead letter', async () => {
      const r = await deadLetters(db, q);
      return r.length ? r : undefined;
    });
    expect(dl!.error).toMatch(/timed out after 1 s/);
    // The handler still waits; the database answers anyway (on PGlite the one connection is free).
    const rows = await withTenant(db, { tenantId: tenantA }, TX, (tx) => tx.query(sql`SELECT title FROM knowledge_entries WHERE title LIKE ${`% ${id}`}`));
    freeWhileHeld = !woke;
    expect(freeWhileHeld).toBe(true);
    expect(rows).toEqual([]);
    release();
    await eventually('the late statement', () => late !== undefined);
    expect(late).toMatch(/timed out after 1 s/);
    const after = await withTenant(db, { tenantId: tenantA }, TX, (tx) => tx.query(sql`SELECT title FROM knowledge_entries WHERE title LIKE ${`% ${id}`}`));
    expect(after).toEqual([]);
  });

  // PostgreSQL bookkeeping only: PGlite runs a statement on this thread, where nothing can interrupt it.
  if (c.kind === 'bullmq' && usingPostgres) it('cancels the running statement at the timeout (PostgreSQL) instead of letting it run on', async () => {
    const q = queueName('timeout-cancel');
    const marker = `ocsuite_cancel_${process.pid}_${Date.now()}`;
    let failure: string | undefined;
    await jobs.define(tenantQueue(q, { expireInSeconds: 1 }), async (job: JobInfo, tx) => {
      // A statement no statement_timeout would stop: only the cancel ends it.
      await tx.exec('SET LOCAL statement_timeout = 0');
      await tx.query(sql`SELECT pg_sleep(60), ${marker}::text`).catch((err: Error) => {
        failure = err.message;
        throw err;
      });
    });
    await jobs.send(q, {}, { tenantId: tenantB });
    await eventually('the timeout dead letter', async () => (await deadLetters(db, q)).length > 0);
    await eventually('the statement cancelled', () => failure !== undefined, 10_000);
    expect(failure).toMatch(/cancel/i);
    const running = await withMaintenance(db, TX, (tx) => tx.query(sql`SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE ${'%pg_sleep(60)%'} AND pid <> pg_backend_pid()`));
    expect(running).toEqual([]);
  });
});
