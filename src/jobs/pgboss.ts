import { PgBoss, type Db } from 'pg-boss';
import type { Logger } from 'pino';
import type { Database } from '../db/client.ts';
import type { JobQueue, QueueDefinition } from './queue.ts';

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
  log: Logger;
}

export async function startPgBoss(opts: PgBossOptions): Promise<JobQueue> {
  const boss = opts.connectionString
    ? new PgBoss({ connectionString: opts.connectionString, max: 4, schema: 'pgboss', migrate: opts.migrate, application_name: 'ocsuite-jobs' })
    : new PgBoss({ db: viaLeases(opts.db), backend: 'pglite', schema: 'pgboss', migrate: opts.migrate });
  boss.on('error', (err) => opts.log.error({ err: { message: err.message } }, 'job queue error'));
  await boss.start();
  const polling = opts.pollingIntervalSeconds ?? 1;
  return {
    driver: 'pg-boss',
    async define(q: QueueDefinition) {
      await boss.createQueue(q.name, { retryLimit: q.retryLimit, retryDelay: q.retryDelaySeconds, retryBackoff: true, expireInSeconds: q.expireInSeconds });
    },
    send: (queue, data, o) => boss.send(queue, data, o?.singletonKey ? { singletonKey: o.singletonKey } : {}),
    async work(queue, handler) {
      await boss.work(queue, { pollingIntervalSeconds: polling }, async (jobs) => {
        for (const job of jobs) await handler(job.data);
      });
    },
    stop: () => boss.stop({ graceful: true, timeout: 10_000 }),
  };
}
