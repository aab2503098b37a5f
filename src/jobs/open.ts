import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/client.ts';
import { startBullMq } from './bullmq.ts';
import type { JobDriver } from './driver.ts';
import type { OutboxOptions } from './outbox.ts';
import { startPgBoss } from './pgboss.ts';
import { JobSystem, type JobSystemOptions } from './system.ts';

export interface OpenJobsOptions {
  config: Pick<Config, 'redisUrl' | 'jobsPrefix'>;
  db: Database;
  /** pg-boss on PostgreSQL: where it connects (its own small pool). Unset = through `db` (PGlite). */
  connectionString: string | undefined;
  migrate: boolean;
  log: Logger;
  observe?: JobSystemOptions['observe'];
  /** Test knobs: how fast a dead worker's job is taken back. */
  tuning?: {
    pollingIntervalSeconds?: number; superviseIntervalSeconds?: number; lockDurationMs?: number; stalledIntervalMs?: number;
    /** The outbox relay's knobs (tests: a short re-send window). */
    outbox?: Omit<OutboxOptions, 'maxDepth'>;
    /** How often schedules are re-asserted, in ms (default OCSUITE_SCHEDULE_HEAL_SECONDS). */
    scheduleHealMs?: number;
  };
}

/** The driver of the profile (DESIGN.md §2): BullMQ when REDIS_URL is set, pg-boss otherwise. */
export async function openDriver(o: OpenJobsOptions): Promise<JobDriver> {
  if (o.config.redisUrl) {
    return startBullMq({ url: o.config.redisUrl, prefix: o.config.jobsPrefix, log: o.log, lockDurationMs: o.tuning?.lockDurationMs, stalledIntervalMs: o.tuning?.stalledIntervalMs });
  }
  return startPgBoss({
    db: o.db,
    connectionString: o.connectionString,
    migrate: o.migrate,
    log: o.log,
    pollingIntervalSeconds: o.tuning?.pollingIntervalSeconds,
    superviseIntervalSeconds: o.tuning?.superviseIntervalSeconds,
  });
}

export async function openJobSystem(o: OpenJobsOptions): Promise<JobSystem> {
  const driver = await openDriver(o);
  return new JobSystem({ driver, db: o.db, log: o.log, ...(o.observe ? { observe: o.observe } : {}) });
}
