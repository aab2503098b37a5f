import { PgBoss, type Db, type Job, type JobResult, type JobWithMetadata } from 'pg-boss';
import type { Logger } from 'pino';
import type { Database } from '../db/client.ts';
import type { DriverJob, DriverQueue, DriverSchedule, DriverWorkOptions, JobDriver, Outcome } from './driver.ts';
import type { QueueCounts } from '../kernel/jobs/port.ts';

/**
 * pg-boss on the embedded PGlite goes through the database's lease queue, so a
 * job statement never lands inside a request's open transaction on the single
 * connection. On PostgreSQL pg-boss keeps a small pool of its own.
 */
function viaLeases(db: Database): Db {
  return {
    async executeSql(text, values) {
      const lease = await db.acquire();
      try {
        return { rows: await lease.raw(text, values) };
      } finally {
        lease.release();
      }
    },
  };
}

export interface PgBossOptions {
  db: Database;
  connectionString: string | undefined;
  /** Create or upgrade the pgboss schema (owner privileges; `ocsuite migrate` in production). */
  migrate: boolean;
  pollingIntervalSeconds?: number;
  /** How often active jobs are checked for expiry (a worker that died); tests shorten it. */
  superviseIntervalSeconds?: number;
  log: Logger;
}

const SCHEMA = 'pgboss';
// Completed jobs (and so idempotency keys, which are job ids) are kept this long.
const KEEP_COMPLETED_SECONDS = 7 * 86_400;
// pg-boss's own expiry is the backstop behind the system's timer: it fails an
// attempt whose worker died, so it comes a little after the timer would.
const EXPIRY_GRACE_SECONDS = 1;
/**
 * pg-boss's dead-letter queue of every queue: where pg-boss itself moves a job
 * that failed terminally without `run` saying so — the spare delivery lost with
 * its worker too (expired after the last retry). Its worker records their dead
 * letters (issue #22 §5). Jobs `run` dead-lettered arrive too, marked, and are skipped.
 */
export const LOST_QUEUE = 'ocsuite.jobs.lost';
const RECORDED = 'ocsuiteDeadLetterRecorded';

export async function startPgBoss(opts: PgBossOptions): Promise<JobDriver> {
  const supervise = opts.superviseIntervalSeconds ? { superviseIntervalSeconds: opts.superviseIntervalSeconds, monitorIntervalSeconds: opts.superviseIntervalSeconds } : {};
  const boss = opts.connectionString
    ? new PgBoss({ connectionString: opts.connectionString, max: 4, schema: SCHEMA, migrate: opts.migrate, application_name: 'ocsuite-jobs', ...supervise })
    : new PgBoss({ db: viaLeases(opts.db), backend: 'pglite', schema: SCHEMA, migrate: opts.migrate, ...supervise });
  boss.on('error', (err) => opts.log.error({ err: { message: err.message } }, 'job queue error'));
  await boss.start();
  const polling = opts.pollingIntervalSeconds ?? 1;
  const db = boss.getDb();
  const query = async <T>(text: string, values: unknown[]) => (await db.executeSql(text, values)).rows as T[];

  const working = new Set<string>();
  const lostHandlers = new Map<string, (job: DriverJob, error: string) => Promise<void>>();
  let lostQueue: Promise<void> | undefined;
  // Retried for a while: the worker of the job's queue may be elsewhere or starting.
  const ensureLostQueue = () => (lostQueue ??= (async () => {
    const options = { retryLimit: 20, retryDelay: 5, retryBackoff: true, expireInSeconds: 60, deleteAfterSeconds: KEEP_COMPLETED_SECONDS };
    await boss.createQueue(LOST_QUEUE, options);
    await boss.updateQueue(LOST_QUEUE, options);
  })().catch((err: unknown) => {
    lostQueue = undefined;
    throw err;
  }));
  let lostWorker = false;
  const workLost = async () => {
    if (lostWorker) return;
    lostWorker = true;
    await boss.work(LOST_QUEUE, { batchSize: 1, includeMetadata: true, pollingIntervalSeconds: polling }, async ([job]: JobWithMetadata<object>[]) => {
      if (!job?.sourceName || !job.sourceId) return; // not a copy of one of ours: nothing to record
      if (JSON.stringify(job.sourceOutput ?? null).includes(`"${RECORDED}":true`)) return; // `run` recorded it
      const lost = lostHandlers.get(job.sourceName);
      // No worker of that queue in this process: fail, so that a retry (or another process) records it.
      if (!lost) throw new Error(`no worker of ${job.sourceName} in this process`);
      const reason = JSON.stringify(job.sourceOutput ?? null).slice(0, 300);
      await lost({ id: job.sourceId, queue: job.sourceName, data: job.data, delivery: (job.sourceRetryCount ?? 0) + 1 }, `its last delivery ended with its worker (${reason})`);
    });
  };
  // A poll every `polling` seconds bounds how fast a worker notices work. Workers of this process are
  // woken when this process enqueues, and again after each job while jobs keep coming (a woken worker
  // that finds nothing goes back to polling), so a backlog drains at the speed of the database.
  const wake = (queue: string) => {
    if (!working.has(queue)) return;
    for (const w of boss.getWipData()) if (w.name === queue) boss.notifyWorker(w.id);
  };

  const toDriverJob = (job: Job<object>): DriverJob => ({ id: job.id, queue: job.name, data: job.data, delivery: job.retryCount + 1 });

  return {
    name: 'pg-boss',
    spareDeliveries: 1,
    nativeTenantConcurrency: true,
    // A deferral would be a failed attempt here: a job past its tenant's rate waits in its slot instead.
    canDefer: false,
    async createQueue(q: DriverQueue) {
      await ensureLostQueue();
      const options = {
        // One spare delivery: an attempt lost with its worker is retried once more so it reaches the dead letters;
        // should that one be lost too, pg-boss moves the job to LOST_QUEUE, whose worker records it.
        deadLetter: LOST_QUEUE,
        retryLimit: q.maxAttempts,
        retryDelay: Math.max(1, Math.round(q.retryDelaySeconds)),
        retryBackoff: true, // exponential, with pg-boss's jitter
        expireInSeconds: Math.max(1, Math.ceil(q.expireInSeconds) + EXPIRY_GRACE_SECONDS),
        deleteAfterSeconds: KEEP_COMPLETED_SECONDS,
      };
      await boss.createQueue(q.name, options);
      await boss.updateQueue(q.name, options);
    },
    async send(queue, data, o) {
      const id = await boss.send(queue, data, {
        ...(o.id ? { id: o.id } : {}),
        ...(o.delayMs ? { startAfter: Math.ceil(o.delayMs / 1000) } : {}),
        ...(o.groupId ? { group: { id: o.groupId } } : {}),
      });
      wake(queue);
      if (id) return { id, created: true };
      if (o.id) return { id: o.id, created: false };
      throw new Error(`pg-boss refused a job for ${queue}`);
    },
    async work(queue, w: DriverWorkOptions, run, lost) {
      lostHandlers.set(queue, lost);
      await workLost();
      await boss.work(
        queue,
        {
          perJobResults: true,
          batchSize: 1,
          localConcurrency: w.concurrency,
          pollingIntervalSeconds: polling,
          ...(w.tenantConcurrency ? { groupConcurrency: w.tenantConcurrency } : {}),
        },
        async (jobs: Job<object>[]): Promise<JobResult[]> => {
          const results: JobResult[] = [];
          for (const job of jobs) results.push(settle(job.id, await run(toDriverJob(job))));
          wake(queue);
          return results;
        },
      );
      working.add(queue);
    },
    async waiting(queue) {
      const [row] = await query<{ n: number }>(`SELECT count(*)::int AS n FROM ${SCHEMA}.job WHERE name = $1 AND state IN ('created', 'retry')`, [queue]);
      return row?.n ?? 0;
    },
    async pendingData(queue) {
      const rows = await query<{ data: unknown }>(`SELECT data FROM ${SCHEMA}.job WHERE name = $1 AND state IN ('created', 'retry', 'active')`, [queue]);
      return rows.map((r) => r.data);
    },
    async counts(queue): Promise<QueueCounts> {
      const [row] = await query<{ waiting: number; active: number; completed: number; failed: number; oldest: number | null }>(
        `SELECT count(*) FILTER (WHERE state IN ('created', 'retry'))::int AS waiting,
                count(*) FILTER (WHERE state = 'active')::int AS active,
                count(*) FILTER (WHERE state = 'completed')::int AS completed,
                count(*) FILTER (WHERE state = 'failed')::int AS failed,
                extract(epoch FROM now() - min(created_on) FILTER (WHERE state IN ('created', 'retry') AND start_after <= now()))::float8 AS oldest
         FROM ${SCHEMA}.job WHERE name = $1`,
        [queue],
      );
      return { waiting: row?.waiting ?? 0, active: row?.active ?? 0, completed: row?.completed ?? 0, failed: row?.failed ?? 0, oldestWaitingSeconds: Math.max(0, row?.oldest ?? 0) };
    },
    async schedule(queue, cron, data) {
      await boss.schedule(queue, cron, data, { tz: 'UTC' });
    },
    async unschedule(queue) {
      await boss.unschedule(queue);
    },
    async schedules(): Promise<DriverSchedule[]> {
      const list = await boss.getSchedules();
      return list.map((s) => ({ queue: s.name, cron: s.cron, next: null }));
    },
    stop: () => boss.stop({ graceful: true, timeout: 10_000 }),
  };
}

function settle(id: string, outcome: Outcome): JobResult {
  switch (outcome.status) {
    case 'completed':
      return { id, status: 'completed' };
    case 'dead':
      // Terminal: pg-boss skips the remaining retries (the dead letter is already recorded, which the
      // copy pg-boss puts in LOST_QUEUE says).
      return { id, status: 'deadletter', output: { message: outcome.error, [RECORDED]: true } };
    case 'retry':
      return { id, status: 'failed', output: { message: outcome.error } };
    case 'defer':
      // pg-boss enforces tenant concurrency itself (groupConcurrency); a deferral is a plain retry.
      return { id, status: 'failed', output: { message: 'deferred' } };
  }
}

/**
 * Creates or upgrades the pgboss schema with the owner connection (`ocsuite migrate`), for
 * deployments that run pg-boss on PostgreSQL (no REDIS_URL) and start `serve` without migrating.
 */
export async function installPgBossSchema(connectionString: string): Promise<void> {
  const boss = new PgBoss({ connectionString, max: 1, schema: SCHEMA, migrate: true, supervise: false, schedule: false, application_name: 'ocsuite-migrate' });
  await boss.start();
  await boss.stop({ graceful: false, timeout: 1_000 });
}
