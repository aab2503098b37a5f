import { Counter, Gauge, type Registry } from 'prom-client';
import type { Database } from '../db/client.ts';
import { withMaintenance } from '../db/transaction.ts';
import { countDead } from './dead-letters.ts';
import type { JobQueue, QueueCounts } from '../kernel/jobs/port.ts';
import type { OutboxStats } from './outbox.ts';

// A driver that does not answer (Redis down) must not hold the scrape: its gauges are left out.
const DRIVER_COUNT_TIMEOUT_MS = 2_000;
function countWithin(jobs: JobQueue, queue: string): Promise<QueueCounts | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    jobs.counts(queue).catch(() => undefined),
    new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), DRIVER_COUNT_TIMEOUT_MS))),
  ]).finally(() => clearTimeout(timer));
}

export interface JobMetrics {
  attempts: Counter<'queue' | 'result'>;
  spikes: Counter<'queue'>;
}

/**
 * Per-queue gauges read at scrape time from the shared stores (the driver and
 * the dead-letter tables), so an API process reports what separate worker
 * processes did. Labels are queue names (a fixed set), never tenants or ids.
 */
export function registerJobMetrics(registry: Registry, jobs: JobQueue, db: Database, outbox?: () => Promise<OutboxStats | undefined>): JobMetrics {
  let collecting: Promise<void> | undefined;
  // One read of the stores serves every gauge of a scrape.
  const refresh = async () => {
    collecting ??= collect().finally(() => (collecting = undefined));
    await collecting;
  };
  const gauges = {
    waiting: new Gauge({ name: 'ocsuite_jobs_waiting', help: 'Jobs waiting to run (ready, delayed or awaiting a retry)', labelNames: ['queue'], registers: [registry], collect: refresh }),
    active: new Gauge({ name: 'ocsuite_jobs_active', help: 'Jobs running now', labelNames: ['queue'], registers: [registry], collect: refresh }),
    completed: new Gauge({ name: 'ocsuite_jobs_completed', help: 'Completed jobs the driver still retains (7 days)', labelNames: ['queue'], registers: [registry], collect: refresh }),
    failed: new Gauge({ name: 'ocsuite_jobs_failed', help: 'Terminally failed jobs the driver still retains', labelNames: ['queue'], registers: [registry], collect: refresh }),
    dead: new Gauge({ name: 'ocsuite_jobs_dead', help: 'Dead letters awaiting an operator (status dead)', labelNames: ['queue'], registers: [registry], collect: refresh }),
    oldest: new Gauge({ name: 'ocsuite_jobs_oldest_waiting_age_seconds', help: 'Age of the oldest job ready to run', labelNames: ['queue'], registers: [registry], collect: refresh }),
    outboxDepth: new Gauge({ name: 'ocsuite_outbox_depth', help: 'Jobs in the outbox not yet handed to the queue driver', labelNames: ['queue'], registers: [registry], collect: refresh }),
    outboxOldest: new Gauge({ name: 'ocsuite_outbox_oldest_age_seconds', help: 'Age of the oldest job in the outbox not yet handed to the queue driver', labelNames: ['queue'], registers: [registry], collect: refresh }),
    driverUp: new Gauge({ name: 'ocsuite_jobs_driver_up', help: '1 when the queue driver answered this scrape, 0 when it did not (jobs then wait in the outbox)', registers: [registry], collect: refresh }),
  };
  async function collect() {
    const names = jobs.definitions().map((d) => d.name);
    const [counts, dead, box] = await Promise.all([
      Promise.all(names.map(async (n) => [n, await countWithin(jobs, n)] as const)),
      withMaintenance(db, { statementTimeoutMs: 5_000 }, (tx) => countDead(tx)),
      outbox ? outbox() : undefined,
    ]);
    for (const g of Object.values(gauges)) g.reset();
    gauges.driverUp.set(counts.every(([, c]) => c !== undefined) ? 1 : 0);
    for (const n of names) {
      const q = box?.queues.find((x) => x.queue === n);
      if (box) {
        gauges.outboxDepth.set({ queue: n }, q?.depth ?? 0);
        gauges.outboxOldest.set({ queue: n }, q?.oldestSeconds ?? 0);
      }
      gauges.dead.set({ queue: n }, dead.get(n) ?? 0);
      // Every queue's counters exist from the first scrape (at 0), so rate() and the alerts see the start.
      spikes.inc({ queue: n }, 0);
      for (const result of ['completed', 'failed', 'dead'] as const) attempts.inc({ queue: n, result }, 0);
    }
    for (const [n, c] of counts) {
      if (!c) continue;
      gauges.waiting.set({ queue: n }, c.waiting);
      gauges.active.set({ queue: n }, c.active);
      gauges.completed.set({ queue: n }, c.completed);
      gauges.failed.set({ queue: n }, c.failed);
      gauges.oldest.set({ queue: n }, c.oldestWaitingSeconds);
    }
  }
  const attempts = new Counter({ name: 'ocsuite_jobs_attempts_total', help: 'Finished job attempts in this process by result (completed, failed, dead)', labelNames: ['queue', 'result'], registers: [registry], collect: refresh });
  const spikes = new Counter({ name: 'ocsuite_jobs_failure_spikes_total', help: 'Failure-spike alerts raised by this process', labelNames: ['queue'], registers: [registry], collect: refresh });
  return { attempts, spikes };
}
