import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { sql } from 'drizzle-orm';
import { openPg, openPglite, type Database } from '../../src/db/client.ts';
import { pgliteTemplate } from '../support/app.ts';
import { migrate } from '../../src/db/migrate.ts';
import { withIdentity, withMaintenance, withOwner } from '../../src/db/transaction.ts';
import { startBullMq } from '../../src/jobs/bullmq.ts';
import { listAllDeadLetters, type DeadLetter } from '../../src/jobs/dead-letters.ts';
import type { JobDriver } from '../../src/jobs/driver.ts';
import { startPgBoss } from '../../src/jobs/pgboss.ts';
import { JobSystem, type AttemptResult } from '../../src/jobs/system.ts';

export const usingPostgres = Boolean(process.env.OCSUITE_TEST_DATABASE_URL);
export const redisUrl = process.env.REDIS_URL;
export const silent = pino({ level: 'silent' });
export const TX = { statementTimeoutMs: 5_000 };

export interface DriverCase {
  label: string;
  kind: 'pg-boss' | 'bullmq';
  /** Where the job bookkeeping (tenants, dead letters, completions) lives. */
  openDb(): Promise<Database>;
  openDriver(db: Database): Promise<JobDriver & { destroy?(): Promise<void> }>;
}

async function pglite(): Promise<Database> {
  const db = await openPglite(undefined, { template: pgliteTemplate() });
  await migrate(db);
  return db;
}

async function postgres(): Promise<Database> {
  const db = openPg(process.env.OCSUITE_TEST_DATABASE_URL!, 4);
  await migrate(db);
  return db;
}

export const uniquePrefix = () => `ocsuite-test-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

/**
 * The drivers the contract suite runs against in this run: pg-boss over an
 * in-memory PGlite always, BullMQ on the run's Redis when REDIS_URL is set
 * (with the run's PostgreSQL database when there is one).
 */
export const driverCases: DriverCase[] = [
  {
    label: 'pg-boss on PGlite',
    kind: 'pg-boss',
    openDb: pglite,
    openDriver: (db) => startPgBoss({ db, connectionString: undefined, migrate: true, log: silent, pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 }),
  },
  ...(redisUrl
    ? [{
        label: `BullMQ on Redis (${usingPostgres ? 'PostgreSQL' : 'PGlite'} bookkeeping)`,
        kind: 'bullmq' as const,
        openDb: usingPostgres ? postgres : pglite,
        openDriver: () => startBullMq({ url: redisUrl, prefix: uniquePrefix(), log: silent, lockDurationMs: 2_000, stalledIntervalMs: 1_000 }),
      }]
    : []),
];

export class Observed {
  readonly results: Array<{ queue: string; result: AttemptResult }> = [];
  observe = (queue: string, result: AttemptResult) => {
    this.results.push({ queue, result });
  };
}

export async function createTenant(db: Database, name = 'Jobs tenant'): Promise<string> {
  const [row] = await withIdentity(db, TX, (tx) => tx.query<{ id: string }>(sql`INSERT INTO tenants (name) VALUES (${name}) RETURNING id`));
  return row!.id;
}

export async function setTenantStatus(db: Database, tenantId: string, status: 'active' | 'suspended'): Promise<void> {
  await withOwner(db, (tx) => tx.query(sql`UPDATE tenants SET status = ${status} WHERE id = ${tenantId}`));
}

export async function deadLetters(db: Database, queue: string): Promise<DeadLetter[]> {
  return (await withMaintenance(db, TX, (tx) => listAllDeadLetters(tx, { queue, limit: 100 }))).items;
}

export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let n = 0;
export const queueName = (label: string) => `t.${label}.${process.pid}.${Date.now().toString(36)}.${n++}`;

export function newSystem(driver: JobDriver, db: Database, observed?: Observed): JobSystem {
  return new JobSystem({ driver, db, log: silent, deferMs: 200, ...(observed ? { observe: observed.observe } : {}) });
}
