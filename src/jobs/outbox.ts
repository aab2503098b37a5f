import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database, Session } from '../db/client.ts';
import { withMaintenance } from '../db/transaction.ts';
import { isUuid } from '../kernel/ids.ts';
import { QueueFullError } from '../kernel/jobs/errors.ts';
import type { EnqueueResult, QueueDefinition } from '../kernel/jobs/port.ts';
import type { JobDriver } from './driver.ts';
import type { Envelope } from './envelope.ts';

/**
 * The transactional outbox (issue #23 §1). `send` writes a row in the caller's
 * transaction (or one of its own); the relay hands rows to the driver with the
 * row's id as the job id and marks them sent; the job marks its row done. So:
 * - a request never waits on Redis: the outbox is in the database it already uses;
 * - a crash between commit and hand-over loses nothing (the row waits, its claim lapses);
 * - a second hand-over is the same job (same id: the driver refuses the duplicate), and a
 *   row sent but never done is handed over again after `resendAfterSeconds`, so a job the
 *   driver lost (Redis flushed) runs after all.
 * Several processes relay at once: claims are taken with FOR UPDATE SKIP LOCKED.
 */
export interface OutboxOptions {
  /**
   * Whose rows a relay hands over: the driver's namespace (the BullMQ key prefix), so deployments
   * (and test runs) that share a database but not a Redis namespace never take each other's jobs.
   */
  namespace?: string;
  /** Rows waiting to be handed over (all queues) past which `send` is refused (503 + Retry-After). */
  maxDepth: number;
  /** How often the relay looks when nothing woke it. */
  pollMs?: number;
  batchSize?: number;
  /** How long a relay's claim lasts; a relay that died is replaced after it. */
  leaseSeconds?: number;
  /** A row handed over this long ago and not done is handed over again (same job id). */
  resendAfterSeconds?: number;
  /** One hand-over to the driver; past it the driver counts as down for this pass. */
  sendTimeoutMs?: number;
}

export interface OutboxQueueStats {
  queue: string;
  /** Rows not handed to the driver yet. */
  depth: number;
  /** Age of the oldest of them; 0 when none. */
  oldestSeconds: number;
}

export interface OutboxStats {
  depth: number;
  oldestSeconds: number;
  queues: OutboxQueueStats[];
}

/** Why a pass stopped handing rows over. */
export interface RelayPass {
  sent: number;
  failed: number;
}

const OUTBOX_RETRY_AFTER_SECONDS = 30;
const SNAPSHOT_MS = 1_000;
const DRIVER_COUNT_WAIT_MS = 300;

/** Awaits `p` for at most `ms`; `undefined` when it took longer (the promise goes on by itself). */
async function within<T>(p: Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: false; error: unknown }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: new Error(`no answer within ${ms} ms`) }), ms);
  });
  try {
    return await Promise.race([p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 500);

interface Snapshot {
  at: number;
  total: number;
  perQueue: Map<string, number>;
}

export class Outbox {
  readonly #db: Database;
  readonly #driver: JobDriver;
  readonly #log: Logger;
  readonly #o: Required<OutboxOptions>;
  readonly #definitions: () => QueueDefinition[];
  #snapshot: Snapshot = { at: 0, total: 0, perQueue: new Map() };
  #refreshing: Promise<void> | undefined;
  /** Sends admitted since the last snapshot, per queue and in all. */
  #local = new Map<string, number>();
  #localTotal = 0;
  /** Last count of each queue in the driver, and whether a count is under way (never two at once). */
  readonly #driverWaiting = new Map<string, number>();
  readonly #driverCounting = new Map<string, Promise<void>>();
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;
  #driverDown = false;

  constructor(o: { db: Database; driver: JobDriver; log: Logger; options: OutboxOptions; definitions: () => QueueDefinition[] }) {
    this.#db = o.db;
    this.#driver = o.driver;
    this.#log = o.log;
    this.#definitions = o.definitions;
    this.#o = { namespace: '', pollMs: 1_000, batchSize: 100, leaseSeconds: 30, resendAfterSeconds: 600, sendTimeoutMs: 5_000, ...o.options };
  }

  /**
   * Writes the job's row: in `tx` (the caller's transaction: it commits or rolls back with the
   * change that caused it) or in a transaction of its own. The depth gate reads no database
   * inside `tx` (on the embedded PGlite a second transaction would wait for this one).
   */
  async enqueue(definition: QueueDefinition, envelope: Envelope, id: string, opts: { tx?: Session | undefined; delaySeconds?: number | undefined }): Promise<EnqueueResult> {
    await this.#admit(definition, opts.tx !== undefined);
    const delay = Math.max(0, opts.delaySeconds ?? 0);
    const body = JSON.stringify(envelope);
    const insert = (tx: Session, tenant: ReturnType<typeof sql>) => tx.query<{ id: string }>(sql`
      INSERT INTO job_outbox (tenant_id, id, queue, namespace, envelope, run_after)
      VALUES (${tenant}, ${id}, ${definition.name}, ${this.#o.namespace}, ${body}::jsonb, now() + make_interval(secs => ${delay}))
      ON CONFLICT (id) DO NOTHING RETURNING id`);
    const rows = opts.tx
      // The row belongs to the transaction's tenant (RLS); identity flows without one write platform rows.
      ? await insert(opts.tx, sql`(SELECT ocsuite_current_tenant())`)
      : await withMaintenance(this.#db, { statementTimeoutMs: 10_000 }, (tx) => insert(tx, sql`${envelope.tenantId}::uuid`));
    // Woken now for a send of its own, shortly after for one in a transaction that has yet to commit.
    if (opts.tx) setTimeout(() => this.wake(), 25).unref();
    else this.wake();
    return { id, created: rows.length > 0 };
  }

  /** Backpressure decided from the outbox (all queues) and each queue's own limit, without waiting on the driver. */
  async #admit(definition: QueueDefinition, inTransaction: boolean, confirmed = false): Promise<void> {
    if (!inTransaction && Date.now() - this.#snapshot.at > SNAPSHOT_MS) await this.refresh();
    else if (Date.now() - this.#snapshot.at > SNAPSHOT_MS) void this.refresh().catch(() => {});
    const total = this.#snapshot.total + this.#localTotal;
    const queued = (this.#snapshot.perQueue.get(definition.name) ?? 0) + (this.#driverWaiting.get(definition.name) ?? 0) + (this.#local.get(definition.name) ?? 0);
    const overOutbox = total >= this.#o.maxDepth;
    const overQueue = definition.maxDepth !== undefined && queued >= definition.maxDepth;
    if (overOutbox || overQueue) {
      // A refusal outside a transaction is confirmed by a fresh count (it still holds the admitted sends).
      if (!inTransaction && !confirmed) {
        await this.refresh(true);
        return this.#admit(definition, inTransaction, true);
      }
      if (overOutbox) throw new QueueFullError('outbox', OUTBOX_RETRY_AFTER_SECONDS);
      throw new QueueFullError(definition.name, Math.min(60, Math.max(1, Math.ceil(definition.expireInSeconds / 2))));
    }
    this.#local.set(definition.name, (this.#local.get(definition.name) ?? 0) + 1);
    this.#localTotal++;
  }

  /** For work that must not be done when its job could not be queued: refuses now, admits nothing. */
  async assertRoom(definition: QueueDefinition | undefined): Promise<void> {
    await this.refresh(true);
    if (this.#snapshot.total + this.#localTotal >= this.#o.maxDepth) throw new QueueFullError('outbox', OUTBOX_RETRY_AFTER_SECONDS);
    if (!definition?.maxDepth) return;
    const queued = (this.#snapshot.perQueue.get(definition.name) ?? 0) + (this.#driverWaiting.get(definition.name) ?? 0) + (this.#local.get(definition.name) ?? 0);
    if (queued >= definition.maxDepth) throw new QueueFullError(definition.name, Math.min(60, Math.max(1, Math.ceil(definition.expireInSeconds / 2))));
  }

  /**
   * Reads the outbox's depth, and starts a count of each limited queue in the driver, waiting
   * for it only briefly: a driver that does not answer (Redis down) keeps its last count.
   */
  refresh(force = false): Promise<void> {
    if (!force && Date.now() - this.#snapshot.at <= SNAPSHOT_MS) return Promise.resolve();
    this.#refreshing ??= (async () => {
      const localAtStart = new Map(this.#local);
      const localTotalAtStart = this.#localTotal;
      const limited = this.#definitions().filter((d) => d.maxDepth !== undefined);
      const counts = Promise.all(limited.map((d) => this.#countDriver(d.name)));
      const stats = await this.stats();
      await within(counts, DRIVER_COUNT_WAIT_MS);
      this.#snapshot = { at: Date.now(), total: stats.depth, perQueue: new Map(stats.queues.map((q) => [q.queue, q.depth])) };
      // Sends admitted before the read are in it now (or will be in the next one).
      for (const [q, n] of localAtStart) {
        const left = (this.#local.get(q) ?? 0) - n;
        if (left > 0) this.#local.set(q, left);
        else this.#local.delete(q);
      }
      this.#localTotal = Math.max(0, this.#localTotal - localTotalAtStart);
    })().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  #countDriver(queue: string): Promise<void> {
    let counting = this.#driverCounting.get(queue);
    if (!counting) {
      counting = this.#driver.waiting(queue)
        .then((n) => void this.#driverWaiting.set(queue, n), () => {})
        .finally(() => this.#driverCounting.delete(queue));
      this.#driverCounting.set(queue, counting);
    }
    return counting;
  }

  /** Depth and age of what waits to be handed to the driver, from the table (every process's rows). */
  async stats(): Promise<OutboxStats> {
    const rows = await withMaintenance(this.#db, { statementTimeoutMs: 5_000 }, (tx) => tx.query<{ queue: string; depth: number; oldest: number | null }>(sql`
      SELECT queue, count(*)::int AS depth, extract(epoch FROM now() - min(created_at))::float8 AS oldest
      FROM job_outbox WHERE namespace = ${this.#o.namespace} AND done_at IS NULL AND sent_at IS NULL GROUP BY queue ORDER BY queue`));
    const queues = rows.map((r) => ({ queue: r.queue, depth: r.depth, oldestSeconds: Math.max(0, r.oldest ?? 0) }));
    return { depth: queues.reduce((a, q) => a + q.depth, 0), oldestSeconds: Math.max(0, ...queues.map((q) => q.oldestSeconds)), queues };
  }

  /** The envelopes of a queue's rows not yet handed to the driver (what the driver cannot list yet). */
  async unsent(queue: string): Promise<unknown[]> {
    const rows = await withMaintenance(this.#db, { statementTimeoutMs: 10_000 }, (tx) => tx.query<{ envelope: unknown }>(sql`
      SELECT envelope FROM job_outbox WHERE namespace = ${this.#o.namespace} AND queue = ${queue} AND sent_at IS NULL AND done_at IS NULL`));
    return rows.map((r) => (typeof r.envelope === 'string' ? JSON.parse(r.envelope) : r.envelope));
  }

  /** The job of a row ran to its end (completed or dead-lettered): the row is not handed over again. */
  async markDone(jobId: string): Promise<void> {
    if (!isUuid(jobId)) return;
    await withMaintenance(this.#db, { statementTimeoutMs: 10_000 }, (tx) =>
      tx.query(sql`UPDATE job_outbox SET done_at = now(), claimed_until = NULL WHERE id = ${jobId} AND done_at IS NULL`));
  }

  /**
   * One pass: claim a batch (SKIP LOCKED: other relays take other rows), commit the claim, hand
   * each row to the driver under its own id, then mark what went through as sent. A relay that
   * dies after the hand-over and before the mark leaves a claim that lapses; the next hand-over
   * of the row is the same job, which the driver does not create twice.
   */
  async relayOnce(): Promise<RelayPass> {
    const claimed = await withMaintenance(this.#db, { statementTimeoutMs: 10_000 }, (tx) => tx.query<{ id: string; queue: string; envelope: Envelope; delay: number; resend: boolean }>(sql`
      UPDATE job_outbox o SET claimed_until = now() + make_interval(secs => ${this.#o.leaseSeconds}), relay_attempts = o.relay_attempts + 1
      FROM (SELECT id FROM job_outbox
            WHERE namespace = ${this.#o.namespace} AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
              AND (sent_at IS NULL OR sent_at < now() - make_interval(secs => ${this.#o.resendAfterSeconds}))
            ORDER BY created_at LIMIT ${this.#o.batchSize} FOR UPDATE SKIP LOCKED) c
      WHERE o.id = c.id
      RETURNING o.id, o.queue, o.envelope, extract(epoch FROM o.run_after - now())::float8 AS delay, (o.sent_at IS NOT NULL) AS resend`));
    if (claimed.length === 0) return { sent: 0, failed: 0 };
    const sent: string[] = [];
    const failed: string[] = [];
    let error: string | undefined;
    for (const row of claimed) {
      if (error !== undefined) {
        failed.push(row.id);
        continue;
      }
      const envelope = typeof row.envelope === 'string' ? (JSON.parse(row.envelope) as Envelope) : row.envelope;
      const r = await within(this.#driver.send(row.queue, envelope, {
        id: row.id,
        idempotent: true,
        delayMs: row.delay > 0 ? Math.ceil(row.delay * 1000) : undefined,
        groupId: envelope.tenantId ?? undefined,
      }), this.#o.sendTimeoutMs);
      if (r.ok) sent.push(row.id);
      else {
        // The driver is down or slow: the rest of the batch waits for the next pass.
        error = message(r.error);
        failed.push(row.id);
      }
    }
    await withMaintenance(this.#db, { statementTimeoutMs: 10_000 }, async (tx) => {
      if (sent.length) await tx.query(sql`UPDATE job_outbox SET sent_at = now(), claimed_until = NULL, last_error = NULL WHERE id = ANY (${sql.param(sent)}::uuid[]) AND done_at IS NULL`);
      // Claimable again at the next pass; the error stays visible to operators.
      if (failed.length) await tx.query(sql`UPDATE job_outbox SET claimed_until = NULL, last_error = ${error ?? null} WHERE id = ANY (${sql.param(failed)}::uuid[])`);
    });
    if (error !== undefined && !this.#driverDown) this.#log.warn({ err: { message: error }, waiting: failed.length }, 'job driver unavailable: jobs wait in the outbox');
    if (error === undefined && this.#driverDown) this.#log.info({ sent: sent.length }, 'job driver back: the outbox drains');
    this.#driverDown = error !== undefined;
    return { sent: sent.length, failed: failed.length };
  }

  /** Wakes the relay now (a send of this process). */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Runs the relay in this process until `stop`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        this.#woken = false;
        let full = false;
        try {
          const pass = await this.relayOnce();
          full = pass.failed === 0 && pass.sent >= this.#o.batchSize;
          await this.refresh().catch(() => {});
        } catch (err) {
          this.#log.warn({ err: { message: message(err) } }, 'outbox relay pass failed');
        }
        if (!this.#running) break;
        if (full || this.#woken) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#o.pollMs);
          timer.unref();
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    this.#loop = undefined;
  }
}
