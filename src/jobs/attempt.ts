import { sql } from 'drizzle-orm';
import type { Database, Lease, Session } from '../db/client.ts';
import { queryAsTenant, withTenant } from '../db/transaction.ts';
import { JobDefinitionError, JobTimeoutError, TenantRefusedError } from '../kernel/jobs/errors.ts';
import type { JobInfo, PlatformHandler, QueueDefinition, TenantHandler } from '../kernel/jobs/port.ts';

/**
 * One attempt of a handler under its per-attempt timeout (`expireInSeconds`).
 * The timeout aborts the attempt's signal and ends the attempt at once: a
 * platform handler is no longer waited for; a tenant job's running statement
 * is cancelled (PostgreSQL) and its transaction rolled back right away, so on
 * the embedded PGlite — one connection — the database is free again at the
 * timeout, not when the handler chooses to return. A handler that carries on
 * regardless finds its session closed: every later statement is refused.
 */
function deadline(seconds: number, controller: AbortController): { timedOut: Promise<never>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new JobTimeoutError(`timed out after ${seconds} s`);
      controller.abort(err);
      reject(err);
    }, seconds * 1000);
  });
  // The loser of a race must not become an unhandled rejection.
  timedOut.catch(() => {});
  return { timedOut, clear: () => clearTimeout(timer) };
}

export async function runPlatformAttempt(definition: QueueDefinition, handler: PlatformHandler, info: JobInfo, controller: AbortController): Promise<void> {
  const d = deadline(definition.expireInSeconds, controller);
  try {
    const work = handler(info);
    work.catch(() => {});
    await Promise.race([work, d.timedOut]);
  } finally {
    d.clear();
  }
}

/** A session that refuses every statement once the attempt is over (timed out or finished). */
function fenced(tx: Session, signal: AbortSignal, closed: () => boolean): Session {
  const refuse = () => Promise.reject(signal.aborted ? signal.reason : new JobTimeoutError('the attempt is over: its transaction has ended'));
  return {
    query: (statement) => (signal.aborted || closed() ? refuse() : tx.query(statement)),
    exec: (text) => (signal.aborted || closed() ? refuse() : tx.exec(text)),
  };
}

/**
 * A tenant job: one withTenant transaction of the job's own tenant holds the
 * tenant check, the completion check, the handler's statements and the
 * completion record (`transactional: false`: each statement its own tenant
 * transaction, nothing held open while the job waits on I/O).
 */
export async function runTenantAttempt(
  db: Database, definition: QueueDefinition, handler: TenantHandler, info: JobInfo, controller: AbortController,
): Promise<void> {
  const tenantId = info.tenantId!;
  const seconds = definition.expireInSeconds;
  // Also a bound inside the database, for what the cancel below cannot reach.
  const opts = { statementTimeoutMs: seconds * 1000 };
  const d = deadline(seconds, controller);
  let over = false;
  const refuseUnless = (status: string | null | undefined) => {
    if (!status || status === 'deleted') throw new TenantRefusedError('gone', 'the tenant does not exist (deleted or never created)');
    if (status !== 'active') throw new TenantRefusedError('suspended', `the tenant is ${status}`);
  };
  const check = sql`
      SELECT (SELECT CASE WHEN deleted_at IS NOT NULL THEN 'deleted' ELSE status END FROM tenants WHERE id = ${tenantId}) AS status,
             EXISTS (SELECT 1 FROM job_completions WHERE job_id = ${info.id}) AS done`;
  const record = sql`INSERT INTO job_completions (tenant_id, job_id, queue) VALUES (${tenantId}, ${info.id}, ${info.queue}) ON CONFLICT DO NOTHING`;
  // One transaction (issue #21 §3: the tenant scope in one round trip): the check travels with the
  // transaction's opening; the handler's statements follow; the completion record is sent with the
  // COMMIT, so it commits with the work or not at all.
  const transactional = async (tx: Session): Promise<{ recorded: Promise<unknown> } | undefined> => {
    const [state] = await tx.query<{ status: string | null; done: boolean }>(check);
    refuseUnless(state?.status);
    if (state!.done) return undefined; // delivered again after its work committed: already done
    await handler(info, fenced(tx, controller.signal, () => over));
    if (controller.signal.aborted) throw controller.signal.reason;
    // Not awaited here: pipelined ahead of the COMMIT. Should it fail, the COMMIT rolls back (PostgreSQL
    // ends a failed transaction so) and the error surfaces below, after the transaction.
    const recorded = tx.query(record);
    recorded.catch(() => {});
    return { recorded };
  };
  // A statement per transaction: the record can only follow the work it vouches for.
  const statementwise = async (tx: Session) => {
    const [state] = await tx.query<{ status: string | null; done: boolean }>(sql`
      SELECT (SELECT CASE WHEN deleted_at IS NOT NULL THEN 'deleted' ELSE status END FROM tenants WHERE id = ${tenantId}) AS status,
             EXISTS (SELECT 1 FROM job_completions WHERE job_id = ${info.id}) AS done`);
    refuseUnless(state?.status);
    if (state!.done) return;
    await handler(info, tx);
    if (controller.signal.aborted) throw controller.signal.reason;
    await tx.query(record);
  };


  try {
    if (definition.transactional === false) {
      const session: Session = {
        query: (statement) => queryAsTenant(db, { tenantId }, opts, statement),
        exec: async () => {
          throw new JobDefinitionError('a non-transactional tenant job runs parameterised statements only');
        },
      };
      const work = statementwise(fenced(session, controller.signal, () => over));
      work.catch(() => {});
      await Promise.race([work, d.timedOut]);
    } else {
      const outcome = await withTenant(db, { tenantId }, opts, async (tx) => {
        // withTenant hands its lease over as the session; on PostgreSQL the lease can cancel.
        const cancel = (tx as Partial<Lease>).cancel?.bind(tx);
        const work = transactional(tx);
        work.catch(() => {});
        try {
          return await Promise.race([work, d.timedOut]);
        } catch (err) {
          // A statement still running holds the connection the rollback needs: cancel it first.
          if (controller.signal.aborted && cancel) await cancel();
          throw err;
        }
      });
      if (outcome) await outcome.recorded;
    }
  } finally {
    over = true;
    d.clear();
  }
}
