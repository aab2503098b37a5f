import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { withMaintenance } from '../db/transaction.ts';
import type { PlatformHandler, QueueDefinition } from '../kernel/jobs/port.ts';
import { accessLogPruneHandler, checkpointPublishHandler, logKeyRotationHandler } from '../kernel/audit/jobs.ts';
import { keyRotationHandler } from '../kernel/crypto/rotation-schedule.ts';

/**
 * Every repeatable job of the platform, in one place (issue #6). Times are
 * cron in UTC. An entry's `handler` comes from the component that owns the
 * work; an entry without one is listed as `unregistered` by
 * `ocsuite jobs schedules` and nothing is scheduled for it: no job runs that
 * would pretend to rotate a key or prune a log.
 */
export interface ScheduleContext {
  db: Database;
}

export interface ScheduleEntry {
  /** Also the queue name (a platform queue). */
  name: string;
  cron: string;
  owner: string;
  description: string;
  handler?: (ctx: ScheduleContext) => PlatformHandler;
}

export const SCHEDULES: readonly ScheduleEntry[] = [
  {
    name: 'keys.rotate',
    // Daily, cheap when nothing is due: each tenant's data key turns over after OCSUITE_KEY_ROTATION_DAYS (default 90 = quarterly).
    cron: '0 3 * * *',
    owner: 'kernel/crypto (key rotation)',
    description: 'rotate tenant data keys older than OCSUITE_KEY_ROTATION_DAYS and re-encrypt their secrets (seed 004, enhancement 2)',
    handler: ({ db }) => keyRotationHandler(db),
  },
  {
    name: 'access-log.prune',
    cron: '30 2 * * *',
    owner: 'kernel/audit (kernel/audit/jobs.ts)',
    description: 'daily access-log retention pruning under the maintenance role, itself audited',
    handler: ({ db }) => accessLogPruneHandler(db),
  },
  {
    name: 'translog.checkpoint.publish',
    cron: '*/15 * * * *',
    owner: 'kernel/audit (kernel/audit/jobs.ts)',
    description: 'sign and publish tree heads of every log whose head moved, push them to the witness (ledger logs join when the ledger exists)',
    handler: ({ db }) => checkpointPublishHandler(db),
  },
  {
    name: 'translog.key.rotate',
    // Yearly, 1 January 04:00 UTC; `ocsuite audit rotate-key` does the same at any time.
    cron: '0 4 1 1 *',
    owner: 'kernel/audit (kernel/audit/jobs.ts)',
    description: 'retire the transparency-log signing key for a new one (issue #22 §3); old checkpoints stay verifiable with the published key history',
    handler: ({ db }) => logKeyRotationHandler(db),
  },
  {
    name: 'jobs.completions.prune',
    cron: '15 * * * *',
    owner: 'jobs',
    description: 'delete job completion records and finished outbox rows older than the drivers\' 7-day idempotency window',
    handler: ({ db }) => async () => {
      await withMaintenance(db, { statementTimeoutMs: 60_000 }, async (tx) => {
        await tx.query(sql`DELETE FROM job_completions WHERE completed_at < now() - interval '8 days'`);
        await tx.query(sql`DELETE FROM job_outbox WHERE done_at < now() - interval '8 days'`);
      });
    },
  },
];

/** The queue a schedule enqueues into: a platform queue, retried a little, never piling up. */
export function scheduleQueue(entry: ScheduleEntry): QueueDefinition {
  return { name: entry.name, scope: 'platform', retryLimit: 3, retryDelaySeconds: 30, expireInSeconds: 900, maxDepth: 10, concurrency: 1 };
}
