import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/client.ts';
import type { AuditTransactions } from '../kernel/audit/events.ts';
import type { Egress } from '../kernel/egress/index.ts';
import type { Metrics } from '../kernel/telemetry/metrics.ts';
import type { Tracing } from '../kernel/telemetry/tracing.ts';
import { newAlert, raiseAlert, registerAlertJobs, type AlertTarget } from './alerts.ts';
import { registerJobMetrics } from './metrics.ts';
import { parseWitnessJob, WITNESS_QUEUE, witnessPushHandler } from '../kernel/audit/witness-push.ts';
import { FailureMonitor } from './monitor.ts';
import { openDriver, type OpenJobsOptions } from './open.ts';
import { SCHEDULES, scheduleQueue } from './schedules.ts';
import type { JobQueue, ScheduleDeclaration } from '../kernel/jobs/port.ts';
import { JobSystem } from './system.ts';

export interface StartJobsOptions {
  config: Config;
  db: Database;
  log: Logger;
  metrics: Metrics;
  tracing?: Tracing | null;
  audit: AuditTransactions;
  /** The kernel egress guard: alerts reach the operator's URL through it. */
  egress: Egress;
  connectionString: string | undefined;
  migrate: boolean;
  tuning?: OpenJobsOptions['tuning'];
}

export interface Jobs {
  system: JobSystem;
  monitor: FailureMonitor;
}

const monitors = new WeakMap<object, FailureMonitor>();
interface Healing {
  log: Logger;
  everyMs: number;
  timer?: NodeJS.Timeout;
}
const healing = new WeakMap<object, Healing>();

/**
 * Opens the profile's driver and declares the platform's own queues (alerts,
 * schedules). Modules declare theirs afterwards; `startWorkers` then makes this
 * process run them (`serve` in the embedded profile, `ocsuite worker` otherwise).
 */
export async function startJobs(o: StartJobsOptions): Promise<JobSystem> {
  const driver = await openDriver({ config: o.config, db: o.db, connectionString: o.connectionString, migrate: o.migrate, log: o.log, tuning: o.tuning });
  const target: AlertTarget | undefined = o.config.alertWebhookUrl && o.config.alertWebhookSecret
    ? { url: o.config.alertWebhookUrl, secret: o.config.alertWebhookSecret } : undefined;
  let system!: JobSystem;
  const monitor = new FailureMonitor({
    onSpike: (queue, verdict, window) => {
      jobMetrics.spikes.inc({ queue });
      void raiseAlert({ jobs: system, audit: o.audit, log: o.log, target }, newAlert('jobs.failure_spike', 'critical', `job failure spike on ${queue}: ${verdict.reason}`, {
        queue, rate: Number(verdict.rate.toFixed(4)), baselineRate: Number(verdict.baselineRate.toFixed(4)), attempts: window.total, failures: window.failed,
      }));
    },
  });
  system = new JobSystem({
    driver,
    db: o.db,
    log: o.log,
    // Every send is a row of the transactional outbox first (jobs/outbox.ts).
    outbox: { maxDepth: o.config.outboxMaxDepth, namespace: o.config.redisUrl ? `bullmq:${o.config.jobsPrefix}` : 'pg-boss', ...o.tuning?.outbox },
    tracing: o.tracing,
    observe: (queue, result) => {
      jobMetrics.attempts.inc({ queue, result });
      monitor.observe(queue, result);
    },
  });
  const jobMetrics = registerJobMetrics(o.metrics.registry, system, o.db, () => system.outboxStats());
  monitors.set(system, monitor);
  healing.set(system, { log: o.log, everyMs: o.tuning?.scheduleHealMs ?? o.config.scheduleHealSeconds * 1000 });
  await registerAlertJobs(system, target, o.egress);
  // Witness pushes (issue #22 §4): C2SP add-checkpoint and the Standard Webhooks witness, with retries.
  await system.define(WITNESS_QUEUE, witnessPushHandler({ db: o.db, config: o.config, egress: o.egress, log: o.log }), { parse: parseWitnessJob });
  for (const entry of SCHEDULES) await system.define(scheduleQueue(entry), entry.handler?.({ db: o.db }));
  return system;
}

/** Declares the queue of a module's schedule, with its handler built from the platform. */
export async function defineSchedule<P>(system: JobQueue, schedule: ScheduleDeclaration<P>, platform: P): Promise<void> {
  await system.define(scheduleQueue({ name: schedule.name, cron: schedule.cron, owner: 'module', description: schedule.description }), schedule.handler(platform));
}

/** Puts every schedule (the platform's and the modules') in the driver; idempotent (an upsert per entry). */
export async function applySchedules(system: JobSystem, moduleSchedules: readonly ScheduleDeclaration<never>[] = []): Promise<void> {
  for (const entry of SCHEDULES) {
    // Only work that exists is scheduled; an entry without a handler is removed if it was scheduled before.
    if (entry.handler) await system.raw.schedule(entry.name, entry.cron, { v: 1, tenantId: null, data: {} });
    else await system.raw.unschedule(entry.name).catch(() => {});
  }
  for (const entry of moduleSchedules) await system.raw.schedule(entry.name, entry.cron, { v: 1, tenantId: null, data: {} });
}

/**
 * Runs workers in this process, applies the schedules and watches failures. Schedules are
 * re-asserted every OCSUITE_SCHEDULE_HEAL_SECONDS and whenever the driver reconnects (issue #23
 * §3): a Redis that restarted empty or was flushed has them back without a worker restart.
 */
export async function startWorkers(system: JobSystem, moduleSchedules: readonly ScheduleDeclaration<never>[] = []): Promise<void> {
  await system.startWorkers();
  system.startRelay();
  await applySchedules(system, moduleSchedules);
  const h = healing.get(system);
  if (h) {
    let running: Promise<void> | undefined;
    // One re-assertion at a time: while the driver is down they would only pile up behind it.
    const heal = (why: string) => {
      running ??= applySchedules(system, moduleSchedules)
        .then(() => { if (why === 'reconnect') h.log.info('job driver reconnected: schedules re-asserted'); })
        .catch((err: unknown) => h.log.warn({ err: { message: (err as Error).message } }, 're-asserting the schedules failed; next try at the next interval'))
        .finally(() => (running = undefined));
    };
    h.timer = setInterval(() => heal('interval'), h.everyMs);
    h.timer.unref();
    system.raw.onReconnect?.(() => heal('reconnect'));
  }
  monitors.get(system)?.start();
}

export function monitorOf(system: JobQueue): FailureMonitor | undefined {
  return monitors.get(system);
}

export async function stopJobs(system: JobQueue): Promise<void> {
  monitors.get(system)?.stop();
  const h = healing.get(system);
  if (h?.timer) clearInterval(h.timer);
  await system.stop();
}
