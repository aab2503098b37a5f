import { sql } from 'drizzle-orm';
import type { Database, Session } from '../db/client.ts';
import { withMaintenance, withTenant, type TransactionOptions } from '../db/transaction.ts';
import { keysetCursor } from '../kernel/pagination/keyset-cursor.ts';

/**
 * The dead-letter store, shared by both drivers (docs/jobs.md): tenant jobs'
 * dead letters in `job_dead_letters` (RLS: a tenant sees only its own),
 * platform jobs' — and tenant jobs whose tenant is gone — in
 * `job_platform_dead_letters` (maintenance role only). Recording is idempotent
 * per (queue, job id), so the driver's own failure path and ours may both call it.
 */
export interface DeadLetterInput {
  queue: string;
  jobId: string;
  payload: unknown;
  error: string;
  attempts: number;
  retryable: boolean;
}

export type DeadLetterStatus = 'dead' | 'retrying' | 'retried' | 'discarded';

export interface DeadLetter {
  id: string;
  tenantId: string | null;
  /** Platform rows of refused tenant jobs: the tenant the job claimed. */
  claimedTenantId: string | null;
  queue: string;
  jobId: string;
  payload: unknown;
  error: string;
  attempts: number;
  retryable: boolean;
  status: DeadLetterStatus;
  failedAt: string;
  resolvedAt: string | null;
  resolvedBy: string | null;
  retriedJobId: string | null;
}

const MAX_ERROR = 2000;
const clip = (s: string) => (s.length > MAX_ERROR ? `${s.slice(0, MAX_ERROR - 1)}…` : s);
const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

export async function recordTenantDeadLetter(db: Database, opts: TransactionOptions, tenantId: string, d: DeadLetterInput): Promise<void> {
  await withTenant(db, { tenantId }, opts, (tx) => tx.query(sql`
    INSERT INTO job_dead_letters (tenant_id, queue, job_id, payload, error, attempts, retryable)
    VALUES (${tenantId}, ${d.queue}, ${d.jobId}, ${json(d.payload)}::jsonb, ${clip(d.error)}, ${d.attempts}, ${d.retryable})
    ON CONFLICT (tenant_id, queue, job_id) DO NOTHING`));
}

export async function recordPlatformDeadLetter(db: Database, opts: TransactionOptions, d: DeadLetterInput & { claimedTenantId: string | null }): Promise<void> {
  await withMaintenance(db, opts, (tx) => tx.query(sql`
    INSERT INTO job_platform_dead_letters (queue, job_id, claimed_tenant_id, payload, error, attempts, retryable)
    VALUES (${d.queue}, ${d.jobId}, ${d.claimedTenantId}, ${json(d.payload)}::jsonb, ${clip(d.error)}, ${d.attempts}, ${d.retryable})
    ON CONFLICT (queue, job_id) DO NOTHING`));
}

interface Row {
  id: string;
  tenant_id: string | null;
  claimed_tenant_id: string | null;
  queue: string;
  job_id: string;
  payload: unknown;
  error: string;
  attempts: number;
  retryable: boolean;
  status: DeadLetterStatus;
  failed_at: Date | string;
  resolved_at: Date | string | null;
  resolved_by: string | null;
  retried_job_id: string | null;
  /** failed_at as PostgreSQL prints it: the cursor's exact position (a JS Date drops microseconds). */
  cursor_ts: string;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

function toDeadLetter(r: Row): DeadLetter {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    claimedTenantId: r.claimed_tenant_id,
    queue: r.queue,
    jobId: r.job_id,
    payload: r.payload,
    error: r.error,
    attempts: r.attempts,
    retryable: r.retryable,
    status: r.status,
    failedAt: iso(r.failed_at)!,
    resolvedAt: iso(r.resolved_at),
    resolvedBy: r.resolved_by,
    retriedJobId: r.retried_job_id,
  };
}

export interface ListFilter {
  /** One dead letter by id (however old). */
  id?: string | undefined;
  status?: DeadLetterStatus | undefined;
  queue?: string | undefined;
  /** The page size. */
  limit: number;
  /** The `nextCursor` of the previous page: the list goes on after it (newest first). */
  cursor?: string | undefined;
}

export interface DeadLetterPage {
  items: DeadLetter[];
  /** null on the last page. */
  nextCursor: string | null;
}

/** Keyset over (failed_at, id), newest first: pages neither skip nor repeat rows while new ones arrive. */
export const deadLetterCursor = keysetCursor({ failedAt: 'timestamptz', id: 'uuid' });

const TENANT_COLUMNS = sql`id, tenant_id, NULL::text AS claimed_tenant_id, queue, job_id, payload, error, attempts, retryable, status, failed_at, resolved_at, resolved_by, retried_job_id, failed_at::text AS cursor_ts`;
const PLATFORM_COLUMNS = sql`id, NULL::uuid AS tenant_id, claimed_tenant_id, queue, job_id, payload, error, attempts, retryable, status, failed_at, resolved_at, resolved_by, retried_job_id, failed_at::text AS cursor_ts`;

function pageOf(rows: Row[], limit: number): DeadLetterPage {
  const { items, nextCursor } = deadLetterCursor.page(rows, limit, (r) => ({ failedAt: r.cursor_ts, id: r.id }));
  return { items: items.map(toDeadLetter), nextCursor };
}

/** Decoded before any statement: a forged cursor is a CursorError (400), never a query error. */
const afterOf = (f: ListFilter) => {
  const after = f.cursor ? deadLetterCursor.decode(f.cursor) : undefined;
  return after ? sql`AND (failed_at, id) < (${after.failedAt}::timestamptz, ${after.id}::uuid)` : sql``;
};

/** A page of a tenant's own dead letters; `tx` is a withTenant session, so RLS is the filter. */
export async function listTenantDeadLetters(tx: Session, f: ListFilter): Promise<DeadLetterPage> {
  const after = afterOf(f);
  const rows = await tx.query<Row>(sql`
    SELECT ${TENANT_COLUMNS} FROM job_dead_letters
    WHERE (${f.status ?? null}::text IS NULL OR status = ${f.status ?? null})
      AND (${f.queue ?? null}::text IS NULL OR queue = ${f.queue ?? null})
      AND (${f.id ?? null}::uuid IS NULL OR id = ${f.id ?? null}::uuid)
      ${after}
    ORDER BY failed_at DESC, id DESC LIMIT ${f.limit + 1}`);
  return pageOf(rows, f.limit);
}

/** A page of every tenant's and the platform's dead letters; `tx` is a maintenance session (operators). */
export async function listAllDeadLetters(tx: Session, f: ListFilter & { tenantId?: string | undefined }): Promise<DeadLetterPage> {
  const after = afterOf(f);
  const rows = await tx.query<Row>(sql`
    SELECT * FROM (
      SELECT ${TENANT_COLUMNS} FROM job_dead_letters
      WHERE (${f.tenantId ?? null}::uuid IS NULL OR tenant_id = ${f.tenantId ?? null}::uuid)
      UNION ALL
      SELECT ${PLATFORM_COLUMNS} FROM job_platform_dead_letters WHERE ${f.tenantId ?? null}::uuid IS NULL
    ) d
    WHERE (${f.status ?? null}::text IS NULL OR status = ${f.status ?? null})
      AND (${f.queue ?? null}::text IS NULL OR queue = ${f.queue ?? null})
      AND (${f.id ?? null}::uuid IS NULL OR id = ${f.id ?? null}::uuid)
      ${after}
    ORDER BY failed_at DESC, id DESC LIMIT ${f.limit + 1}`);
  return pageOf(rows, f.limit);
}

/** Counts of dead letters still awaiting an operator, per queue (metrics). */
export async function countDead(tx: Session): Promise<Map<string, number>> {
  const rows = await tx.query<{ queue: string; n: number }>(sql`
    SELECT queue, count(*)::int AS n FROM (
      SELECT queue FROM job_dead_letters WHERE status = 'dead'
      UNION ALL SELECT queue FROM job_platform_dead_letters WHERE status = 'dead'
    ) d GROUP BY queue`);
  return new Map(rows.map((r) => [r.queue, r.n]));
}

export type Table = 'tenant' | 'platform';

/**
 * Claims a dead letter for a retry (dead → retrying), so two operators
 * retrying at once send one job. Returns undefined when there is nothing to
 * claim: missing, another tenant's (RLS), already resolved.
 */
export async function claimForRetry(tx: Session, table: Table, id: string): Promise<DeadLetter | undefined> {
  const rows = table === 'tenant'
    ? await tx.query<Row>(sql`UPDATE job_dead_letters SET status = 'retrying' WHERE id = ${id} AND status = 'dead' AND retryable
        RETURNING ${TENANT_COLUMNS}`)
    : await tx.query<Row>(sql`UPDATE job_platform_dead_letters SET status = 'retrying' WHERE id = ${id} AND status = 'dead' AND retryable
        RETURNING ${PLATFORM_COLUMNS}`);
  return rows[0] ? toDeadLetter(rows[0]) : undefined;
}

export async function finishRetry(tx: Session, table: Table, id: string, outcome: { jobId: string; by: string } | 'failed'): Promise<void> {
  if (outcome === 'failed') {
    if (table === 'tenant') await tx.query(sql`UPDATE job_dead_letters SET status = 'dead' WHERE id = ${id} AND status = 'retrying'`);
    else await tx.query(sql`UPDATE job_platform_dead_letters SET status = 'dead' WHERE id = ${id} AND status = 'retrying'`);
    return;
  }
  if (table === 'tenant') {
    await tx.query(sql`UPDATE job_dead_letters SET status = 'retried', resolved_at = now(), resolved_by = ${outcome.by}, retried_job_id = ${outcome.jobId}
      WHERE id = ${id} AND status = 'retrying'`);
  } else {
    await tx.query(sql`UPDATE job_platform_dead_letters SET status = 'retried', resolved_at = now(), resolved_by = ${outcome.by}, retried_job_id = ${outcome.jobId}
      WHERE id = ${id} AND status = 'retrying'`);
  }
}

export async function discard(tx: Session, table: Table, id: string, by: string): Promise<DeadLetter | undefined> {
  const rows = table === 'tenant'
    ? await tx.query<Row>(sql`UPDATE job_dead_letters SET status = 'discarded', resolved_at = now(), resolved_by = ${by}
        WHERE id = ${id} AND status = 'dead' RETURNING ${TENANT_COLUMNS}`)
    : await tx.query<Row>(sql`UPDATE job_platform_dead_letters SET status = 'discarded', resolved_at = now(), resolved_by = ${by}
        WHERE id = ${id} AND status = 'dead' RETURNING ${PLATFORM_COLUMNS}`);
  return rows[0] ? toDeadLetter(rows[0]) : undefined;
}

/** Which table holds a dead letter (operators address both by id). */
export async function locate(tx: Session, id: string): Promise<Table | undefined> {
  const rows = await tx.query<{ t: Table }>(sql`
    SELECT 'tenant' AS t FROM job_dead_letters WHERE id = ${id}
    UNION ALL SELECT 'platform' FROM job_platform_dead_letters WHERE id = ${id} LIMIT 1`);
  return rows[0]?.t;
}
