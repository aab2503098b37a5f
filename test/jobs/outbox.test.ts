import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { withOwner, withTenant } from '../../src/db/transaction.ts';
import type { JobDriver } from '../../src/jobs/driver.ts';
import { Outbox, type OutboxOptions } from '../../src/jobs/outbox.ts';
import { JobSystem } from '../../src/jobs/system.ts';
import { QueueFullError } from '../../src/kernel/jobs/errors.ts';
import type { JobInfo } from '../../src/kernel/jobs/port.ts';
import { createTenant, driverCases, silent, TX } from './support.ts';

/**
 * The transactional outbox (issue #23 §1) on each driver of the run: pg-boss on PGlite always,
 * BullMQ on Redis (PostgreSQL bookkeeping on the production profile) when REDIS_URL is set.
 * Relays are driven pass by pass here, and "killed" by handing them a driver that never answers:
 * a relay stuck like that is, for the table, exactly a relay whose process died.
 */
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await wait(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// A namespace of this file's own: on a shared database no other file's relay takes these rows, nor these relays theirs.
const OPTIONS: OutboxOptions = { namespace: `test-${randomBytes(6).toString('hex')}`, maxDepth: 100_000, pollMs: 100, leaseSeconds: 1, resendAfterSeconds: 600, sendTimeoutMs: 5_000 };

describe.each(driverCases)('transactional outbox: $label', (c) => {
  let db: Database;
  let driver: JobDriver & { destroy?(): Promise<void> };
  let system: JobSystem;
  let tenantA: string;
  let tenantB: string;
  const suffix = randomBytes(3).toString('hex');
  const QT = `outbox.tenant.${suffix}`;
  const QP = `outbox.platform.${suffix}`;
  const runs = new Map<string, number>();
  const ran = (key: string) => runs.get(key) ?? 0;
  const count = (job: JobInfo<{ key: string }>) => void runs.set(job.data.key, ran(job.data.key) + 1);

  interface Row { id: string; tenant_id: string | null; envelope: { tenantId: string | null }; sent_at: Date | null; done_at: Date | null; claimed_until: Date | null }
  const rowOf = async (queue: string, key: string) => {
    const rows = await withOwner(db, (tx) => tx.query<Row>(sql`
      SELECT id, tenant_id, envelope, sent_at, done_at, claimed_until FROM job_outbox WHERE queue = ${queue} AND envelope->'data'->>'key' = ${key}`));
    expect(rows.length).toBeLessThanOrEqual(1);
    return rows[0];
  };
  /** A second relay of the same table: another process, or this one restarted. */
  const relay = (d: JobDriver = driver, o: Partial<OutboxOptions> = {}) =>
    new Outbox({ db, driver: d, log: silent, options: { ...OPTIONS, ...o }, definitions: () => system.definitions() });

  beforeAll(async () => {
    db = await c.openDb();
    driver = await c.openDriver(db);
    system = new JobSystem({ driver, db, log: silent, outbox: OPTIONS });
    tenantA = await createTenant(db, 'Outbox A');
    tenantB = await createTenant(db, 'Outbox B');
    await system.define({ name: QT, scope: 'tenant', retryLimit: 2, retryDelaySeconds: 1, expireInSeconds: 30 }, async (job: JobInfo<{ key: string }>) => count(job));
    await system.define({ name: QP, scope: 'platform', retryLimit: 2, retryDelaySeconds: 1, expireInSeconds: 30 }, async (job: JobInfo<{ key: string }>) => count(job));
    // Workers run; the relay does not: each test moves rows itself.
    await system.startWorkers();
  });

  afterAll(async () => {
    await system?.stop();
    await driver?.destroy?.();
    await db?.close();
  });

  it('writes the job in the transaction of its cause: rolled back with it, committed with it, and nothing reaches the driver before the relay', async () => {
    await expect(withTenant(db, { tenantId: tenantA }, TX, async (tx) => {
      await system.send(QT, { key: 'rolled-back' }, { tenantId: tenantA, tx });
      throw new Error('the change failed');
    })).rejects.toThrow('the change failed');
    const sent = await withTenant(db, { tenantId: tenantA }, TX, (tx) => system.send(QT, { key: 'committed' }, { tenantId: tenantA, tx }));
    expect(sent.created).toBe(true);

    expect(await rowOf(QT, 'rolled-back')).toBeUndefined();
    const row = await rowOf(QT, 'committed');
    // The row is the transaction's tenant's (RLS); the job's tenant travels in the envelope.
    expect(row).toMatchObject({ id: sent.id, tenant_id: tenantA, envelope: { tenantId: tenantA }, sent_at: null, done_at: null });
    // The driver has nothing yet; the port's pendingData counts the outbox row (key retirement waits for it).
    expect((await system.raw.pendingData(QT)).map((e) => (e as { data?: unknown }).data)).not.toContainEqual({ key: 'committed' });
    expect(await system.pendingData(QT)).toContainEqual({ key: 'committed' });

    await relay().relayOnce();
    await eventually('the committed job run', () => ran('committed') === 1);
    await eventually('its row marked done', async () => (await rowOf(QT, 'committed'))?.done_at != null);
    expect(ran('rolled-back')).toBe(0);
  });

  it("keeps tenants apart: a tenant's transaction neither sees another tenant's rows nor writes rows in its name", async () => {
    const a = await withTenant(db, { tenantId: tenantA }, TX, (tx) => system.send(QT, { key: 'rls-a' }, { tenantId: tenantA, tx }));
    const seen = await withTenant(db, { tenantId: tenantB }, TX, (tx) => tx.query(sql`SELECT id FROM job_outbox WHERE id = ${a.id}`));
    expect(seen).toEqual([]);
    const mine = await withTenant(db, { tenantId: tenantA }, TX, (tx) => tx.query(sql`SELECT id FROM job_outbox WHERE id = ${a.id}`));
    expect(mine).toHaveLength(1);
    await expect(withTenant(db, { tenantId: tenantB }, TX, (tx) => tx.query(sql`
      INSERT INTO job_outbox (tenant_id, id, queue, envelope) VALUES (${tenantA}, gen_random_uuid(), ${QT}, '{"v":1,"tenantId":null,"data":{}}'::jsonb)`)))
      .rejects.toThrow(/row-level security/);
    // The runtime role may not mark anything sent or done: only the relay's role does.
    await expect(withTenant(db, { tenantId: tenantA }, TX, (tx) => tx.query(sql`UPDATE job_outbox SET done_at = now() WHERE id = ${a.id}`)))
      .rejects.toThrow(/permission denied/);
    await relay().relayOnce();
    await eventually('rls-a run', () => ran('rls-a') === 1);
  });

  it('the same idempotency key is one row and one job', async () => {
    const first = await system.send(QP, { key: 'keyed' }, { idempotencyKey: `k-${suffix}` });
    const second = await system.send(QP, { key: 'keyed' }, { idempotencyKey: `k-${suffix}` });
    expect(second).toEqual({ id: first.id, created: false });
    await relay().relayOnce();
    await eventually('the keyed job run', () => ran('keyed') === 1);
    await relay().relayOnce();
    await wait(1_000);
    expect(ran('keyed')).toBe(1);
  });

  it('a relay killed after the hand-over and before marking the row sent: the next relay hands it over again, the job runs once', async () => {
    // Delayed, so the job is still in the driver when the second hand-over comes.
    await system.send(QP, { key: 'killed-after-send' }, { delaySeconds: 4 });
    let handedOver!: () => void;
    const handed = new Promise<void>((r) => (handedOver = r));
    const dying: JobDriver = {
      ...driver,
      send: async (queue, data, o) => {
        await driver.send(queue, data, o);
        handedOver();
        return new Promise(() => {}); // the process died here: no answer, no mark
      },
    };
    void relay(dying, { sendTimeoutMs: 600_000 }).relayOnce();
    await handed;
    const claimed = await rowOf(QP, 'killed-after-send');
    expect(claimed).toMatchObject({ sent_at: null, done_at: null });
    expect(claimed!.claimed_until).not.toBeNull();

    // The restarted relay: the dead one's claim lapses (1 s), then the row is handed over again.
    const restarted = relay();
    await eventually('the row handed over again', async () => {
      await restarted.relayOnce();
      return (await rowOf(QP, 'killed-after-send'))?.sent_at != null;
    });
    await eventually('the job run', () => ran('killed-after-send') >= 1);
    await eventually('its row marked done', async () => (await rowOf(QP, 'killed-after-send'))?.done_at != null);
    await restarted.relayOnce();
    await wait(1_500);
    expect(ran('killed-after-send')).toBe(1);
    expect(await system.pendingData(QP)).not.toContainEqual({ key: 'killed-after-send' });
  });

  it('a relay killed after claiming and before the hand-over: the claim lapses and another relay sends the job, once', async () => {
    await withTenant(db, { tenantId: tenantA }, TX, (tx) => system.send(QT, { key: 'killed-before-send' }, { tenantId: tenantA, tx }));
    let claimedIt!: () => void;
    const claimed = new Promise<void>((r) => (claimedIt = r));
    const dying: JobDriver = { ...driver, send: () => (claimedIt(), new Promise(() => {})) };
    void relay(dying, { sendTimeoutMs: 600_000 }).relayOnce();
    await claimed;
    await wait(300);
    expect(ran('killed-before-send')).toBe(0);
    const other = relay();
    await eventually('the row handed over by the other relay', async () => {
      await other.relayOnce();
      return (await rowOf(QT, 'killed-before-send'))?.sent_at != null;
    });
    await eventually('the job run', () => ran('killed-before-send') === 1);
    await wait(1_000);
    expect(ran('killed-before-send')).toBe(1);
  });

  it('two relays at once hand each row over exactly once (FOR UPDATE SKIP LOCKED)', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `pair-${i}`);
    for (const key of keys) await system.send(QP, { key });
    const handedOver: string[] = [];
    const counting: JobDriver = { ...driver, send: (queue, data, o) => (handedOver.push(o.id!), driver.send(queue, data, o)) };
    const ids = new Set(await Promise.all(keys.map(async (k) => (await rowOf(QP, k))!.id)));
    await Promise.all([relay(counting, { batchSize: 5 }).relayOnce(), relay(counting, { batchSize: 5 }).relayOnce(), relay(counting, { batchSize: 5 }).relayOnce()]);
    const ours = handedOver.filter((id) => ids.has(id));
    expect(new Set(ours).size).toBe(ours.length);
    await relay(counting).relayOnce();
    expect(new Set(handedOver.filter((id) => ids.has(id))).size).toBe(keys.length);
    await eventually('every job run', () => keys.every((k) => ran(k) === 1));
  });

  it('past the outbox depth limit a send is refused with queue-full (503 + Retry-After) and stores nothing', async () => {
    const limited = new JobSystem({ driver, db, log: silent, outbox: { ...OPTIONS, maxDepth: 3 } });
    await limited.define({ name: QP, scope: 'platform', retryLimit: 0, retryDelaySeconds: 1, expireInSeconds: 30 });
    let accepted = 0;
    let refused: unknown;
    for (let i = 0; i < 4 && refused === undefined; i++) {
      try {
        await limited.send(QP, { key: `limit-${i}` });
        accepted++;
      } catch (err) {
        refused = err;
        expect(await rowOf(QP, `limit-${i}`)).toBeUndefined();
      }
    }
    // Other files' rows on a shared database may only make it refuse sooner.
    expect(accepted).toBeLessThanOrEqual(3);
    expect(refused).toBeInstanceOf(QueueFullError);
    expect(refused).toMatchObject({ kind: 'queue-full', queue: 'outbox', retryAfterSeconds: 30 });
    await expect(limited.assertRoom(QP)).rejects.toBeInstanceOf(QueueFullError);
    await relay().relayOnce();
    await eventually('the accepted ones run', () => Array.from({ length: accepted }, (_, i) => `limit-${i}`).every((k) => ran(k) === 1));
  });
});
