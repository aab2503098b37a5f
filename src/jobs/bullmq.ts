import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DriverJob, DriverQueue, DriverSchedule, DriverWorkOptions, JobDriver } from './driver.ts';
import type { QueueCounts } from '../kernel/jobs/port.ts';
import { defineGateCommands, RedisTenantGate } from './redis-gate.ts';

export interface BullMqOptions {
  url: string;
  /** Namespaces every key, so deployments (and test runs) sharing a Redis never see each other's jobs. */
  prefix: string;
  /** How long a worker's lock on a job lives without renewal; a killed worker's job is taken back after it. */
  lockDurationMs?: number;
  /** How often workers look for jobs whose worker died. */
  stalledIntervalMs?: number;
  log: Logger;
}

// Completed jobs (and so idempotency keys, which are job ids) are kept this long.
const KEEP_COMPLETED = { age: 7 * 86_400, count: 100_000 };
const KEEP_FAILED = { age: 30 * 86_400 };

export async function startBullMq(opts: BullMqOptions): Promise<JobDriver & { destroy(): Promise<void> }> {
  // Workers block on Redis: no per-request retry limit (BullMQ's requirement for worker connections).
  const connection = new Redis(opts.url, { maxRetriesPerRequest: null, lazyConnect: true });
  connection.on('error', (err) => opts.log.error({ err: { message: err.message } }, 'redis error'));
  await connection.connect();
  defineGateCommands(connection);
  // Every `ready` after the first is a reconnect: the Redis may have restarted empty.
  const reconnectListeners: Array<() => void> = [];
  let listening = true;
  connection.on('ready', () => {
    if (!listening) return;
    for (const l of reconnectListeners) l();
  });
  const queues = new Map<string, Queue>();
  const definitions = new Map<string, DriverQueue>();
  const workers: Worker[] = [];
  const lockDuration = opts.lockDurationMs ?? 30_000;

  function queueOf(name: string): Queue {
    let q = queues.get(name);
    if (!q) {
      const def = definitions.get(name);
      q = new Queue(name, {
        connection,
        prefix: opts.prefix,
        defaultJobOptions: {
          attempts: def?.maxAttempts ?? 1,
          // Exponential back-off with jitter: delay × 2^(attempt-1), each spread over [50 %, 100 %].
          backoff: { type: 'exponential', delay: Math.max(1, def?.retryDelaySeconds ?? 1) * 1000, jitter: 0.5 },
          removeOnComplete: KEEP_COMPLETED,
          removeOnFail: KEEP_FAILED,
        },
      });
      q.on('error', (err) => opts.log.error({ err: { message: err.message }, queue: name }, 'queue error'));
      queues.set(name, q);
    }
    return q;
  }

  const toDriverJob = (job: Job): DriverJob => ({ id: String(job.id), queue: job.queueName, data: job.data, delivery: job.attemptsMade + 1 });

  return {
    name: 'bullmq',
    // A stalled job (its worker died) goes back to the queue without using an attempt, up to maxStalledCount;
    // beyond that BullMQ fails it itself and `lost` records the dead letter.
    spareDeliveries: 0,
    // Tenant caps are the Redis gate's (redis-gate.ts): across every worker process of the prefix.
    nativeTenantConcurrency: false,
    canDefer: true,
    tenantGate: (queue, limits) => new RedisTenantGate(connection, opts.prefix, queue, limits, lockDuration),
    async createQueue(q: DriverQueue) {
      definitions.set(q.name, q);
      queueOf(q.name);
    },
    async send(queue, data, o) {
      const q = queueOf(queue);
      // An idempotency key is the job id: BullMQ keeps one job per id while the job is retained.
      const existing = o.id && o.idempotent ? await q.getJobState(o.id) : 'unknown';
      const job = await q.add(queue, data, { ...(o.id ? { jobId: o.id } : {}), ...(o.delayMs ? { delay: o.delayMs } : {}) });
      return { id: String(job.id), created: existing === 'unknown' };
    },
    async work(queue, w: DriverWorkOptions, run, lost) {
      const def = definitions.get(queue);
      const worker = new Worker(
        queue,
        async (job: Job, token?: string) => {
          const outcome = await run(toDriverJob(job));
          switch (outcome.status) {
            case 'completed':
              return;
            case 'retry':
              throw new Error(outcome.error);
            case 'dead':
              throw new UnrecoverableError(outcome.error);
            case 'defer':
              await job.moveToDelayed(Date.now() + outcome.delayMs, token);
              throw new DelayedError();
          }
        },
        {
          connection,
          prefix: opts.prefix,
          concurrency: w.concurrency,
          lockDuration,
          stalledInterval: opts.stalledIntervalMs ?? lockDuration,
          // A job taken back from dead workers more often than it may be attempted is given up.
          maxStalledCount: def?.maxAttempts ?? 1,
          removeOnComplete: KEEP_COMPLETED,
          removeOnFail: KEEP_FAILED,
        },
      );
      worker.on('error', (err) => opts.log.error({ err: { message: err.message }, queue }, 'worker error'));
      // A job whose worker died more often than maxStalledCount is failed by BullMQ without passing
      // through `run`: record its dead letter from here (recording is idempotent).
      worker.on('stalled', (jobId) => {
        void (async () => {
          const job = await queueOf(queue).getJob(jobId);
          if (job && (await job.isFailed())) await lost(toDriverJob(job), job.failedReason || 'job stalled more than allowed');
        })().catch((err: Error) => opts.log.error({ err: { message: err.message }, queue }, 'recording a stalled job failed'));
      });
      workers.push(worker);
      await worker.waitUntilReady();
    },
    async waiting(queue) {
      const c = await queueOf(queue).getJobCounts('waiting', 'delayed', 'prioritized', 'waiting-children');
      return Object.values(c).reduce((a, b) => a + b, 0);
    },
    async pendingData(queue) {
      const jobs = await queueOf(queue).getJobs(['waiting', 'delayed', 'prioritized', 'waiting-children', 'active']);
      return jobs.filter((j) => j !== undefined).map((j) => j.data as unknown);
    },
    async counts(queue): Promise<QueueCounts> {
      const q = queueOf(queue);
      const c = await q.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed');
      const [oldest] = await q.getJobs(['waiting', 'prioritized'], 0, 0, true);
      return {
        waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0),
        active: c.active ?? 0,
        completed: c.completed ?? 0,
        failed: c.failed ?? 0,
        oldestWaitingSeconds: oldest ? Math.max(0, (Date.now() - oldest.timestamp) / 1000) : 0,
      };
    },
    async schedule(queue, cron, data) {
      await queueOf(queue).upsertJobScheduler(queue, { pattern: cron, tz: 'UTC' }, { name: queue, data });
    },
    async unschedule(queue) {
      await queueOf(queue).removeJobScheduler(queue);
    },
    async schedules(): Promise<DriverSchedule[]> {
      const out: DriverSchedule[] = [];
      for (const [name, q] of queues) {
        for (const s of await q.getJobSchedulers()) out.push({ queue: name, cron: s.pattern ?? '', next: s.next ? new Date(s.next) : null });
      }
      return out;
    },
    onReconnect(listener) {
      reconnectListeners.push(listener);
    },
    async stop() {
      listening = false;
      // While Redis is unreachable a graceful close never returns: QUIT (ours and each worker's
      // blocking connection's) waits in ioredis's offline queue for a reconnect that may never come.
      // So: disconnect at once (ends the reconnect loop; nothing is lost, accepted work waits in the
      // outbox and a killed job's lock expires back to waiting), and force-close the workers.
      // Only a client that lost Redis is reconnecting; one still connecting (a short-lived CLI) closes gracefully.
      const down = connection.status === 'reconnecting';
      if (down) connection.disconnect();
      await Promise.all(workers.map((w) => w.close(down)));
      await Promise.all([...queues.values()].map((q) => q.close()));
      if (!down) await connection.quit().catch(() => connection.disconnect());
    },
    /** Deletes every key under the prefix (tests and benchmarks use a prefix of their own). */
    destroy: () => purgePrefix(opts.url, opts.prefix),
  };
}

/** Deletes every key under `prefix` (a test run's or a benchmark's own namespace). */
export async function purgePrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
