import { sql } from 'drizzle-orm';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/client.ts';
import { withMaintenance, withOwner } from '../db/transaction.ts';
import { scheduleHealth } from '../jobs/schedule-health.ts';
import { modules } from '../modules/index.ts';

type Check = { ok: boolean; name: string; detail: string; warn?: boolean };

// Jobs waiting longer than this to be handed to the driver: the relay is not getting through.
const OUTBOX_WARN_SECONDS = 30;
const OUTBOX_FAIL_SECONDS = 300;

/** The outbox's depth and age, and whether the driver holds every declared schedule (issue #23 §1, §3). */
export async function jobChecks(db: Database, config: Config): Promise<Check[]> {
  const checks: Check[] = [];
  const [box] = await withMaintenance(db, { statementTimeoutMs: 10_000 }, (tx) => tx.query<{ depth: number; oldest: number | null }>(sql`
    SELECT count(*)::int AS depth, extract(epoch FROM now() - min(created_at))::float8 AS oldest
    FROM job_outbox WHERE done_at IS NULL AND sent_at IS NULL`));
  const depth = box?.depth ?? 0;
  const oldest = Math.round(box?.oldest ?? 0);
  const full = depth >= config.outboxMaxDepth;
  checks.push({
    ok: !full && oldest < OUTBOX_FAIL_SECONDS,
    warn: oldest >= OUTBOX_WARN_SECONDS,
    name: 'job outbox',
    detail: depth === 0 ? 'empty: every job was handed to the queue driver'
      : `${depth} job(s) waiting to be handed to the queue driver, oldest ${oldest} s${full ? ` — at OCSUITE_OUTBOX_MAX_DEPTH (${config.outboxMaxDepth}): requests that enqueue answer 503` : ''}${oldest >= OUTBOX_WARN_SECONDS ? ' (is the queue driver reachable, and a serve or worker process running?)' : ''}`,
  });
  checks.push(await scheduleCheck(db, config));
  return checks;
}

async function scheduleCheck(db: Database, config: Config): Promise<Check> {
  const declared = modules.flatMap((m) => (m.schedules ?? []).map((s) => ({ module: m.name, name: s.name, cron: s.cron, description: s.description })));
  let active: Array<{ queue: string }>;
  try {
    if (config.redisUrl) {
      // One try, no reconnects: the doctor reports an unreachable Redis instead of waiting for it.
      const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 3_000 });
      redis.on('error', () => {});
      try {
        await redis.connect();
        active = [];
        for (const name of scheduleHealth([], declared).map((r) => r.name)) {
          const q = new Queue(name, { connection: redis, prefix: config.jobsPrefix });
          try {
            if ((await withTimeout(q.getJobSchedulers(), 5_000, 'Redis did not list the schedules within 5 s')).length > 0) active.push({ queue: name });
          } finally {
            await q.close().catch(() => {});
          }
        }
      } finally {
        redis.disconnect();
      }
    } else {
      active = await withOwner(db, async (tx) => {
        const [exists] = await tx.query<{ ok: boolean }>(sql`SELECT to_regclass('pgboss.schedule') IS NOT NULL AS ok`);
        return exists?.ok ? tx.query<{ queue: string }>(sql`SELECT name AS queue FROM pgboss.schedule`) : [];
      });
    }
  } catch (err) {
    return { ok: false, name: 'job schedules', detail: `cannot read the queue driver's schedules: ${(err as Error).message}` };
  }
  const rows = scheduleHealth(active, declared);
  const missing = rows.filter((r) => r.status === 'missing');
  return {
    ok: missing.length === 0,
    name: 'job schedules',
    detail: missing.length
      ? `missing in the driver: ${missing.map((r) => r.name).join(', ')} — a running worker re-asserts them within OCSUITE_SCHEDULE_HEAL_SECONDS; none running?`
      : `${rows.filter((r) => r.status === 'ok').length} scheduled`,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why)), ms)))]).finally(() => clearTimeout(timer));
}
