import { JobDefinitionError } from '../kernel/jobs/errors.ts';
import type { Database, Session } from '../db/client.ts';
import { withMaintenance, withTenant, type TransactionOptions } from '../db/transaction.ts';
import { recordAuditEvent, type AuditEventInput } from '../kernel/audit/events.ts';
import { claimForRetry, discard, finishRetry, listAllDeadLetters, listTenantDeadLetters, locate, type DeadLetter, type DeadLetterPage, type ListFilter, type Table } from './dead-letters.ts';
import type { JobQueue } from '../kernel/jobs/port.ts';

/**
 * What operators and tenant admins do with dead letters: list, inspect, retry,
 * discard. Two scopes: a tenant admin acts through withTenant (RLS: only their
 * tenant's rows, another tenant's id is simply not found); a platform operator
 * acts through the maintenance role on every tenant's and the platform's rows.
 * Every retry and discard is audited.
 */
export type Actor =
  | { kind: 'tenant'; tenantId: string; userId?: string | undefined; keyId?: string | undefined; request?: AuditEventInput['request'] }
  | { kind: 'operator'; name: string; request?: AuditEventInput['request'] };

export interface OperationDeps {
  db: Database;
  jobs: JobQueue;
  statementTimeoutMs: number;
}

const resolver = (actor: Actor) => (actor.kind === 'operator' ? `operator:${actor.name}` : actor.keyId ? `api_key:${actor.keyId}` : `user:${actor.userId}`);
const txOpts = (d: OperationDeps): TransactionOptions => ({ statementTimeoutMs: d.statementTimeoutMs });

function inScope<T>(d: OperationDeps, actor: Actor, fn: (tx: Session) => Promise<T>): Promise<T> {
  return actor.kind === 'tenant'
    ? withTenant(d.db, { tenantId: actor.tenantId, userId: actor.userId }, txOpts(d), fn)
    : withMaintenance(d.db, txOpts(d), fn);
}

async function tableOf(tx: Session, actor: Actor, id: string): Promise<Table | undefined> {
  return actor.kind === 'tenant' ? 'tenant' : locate(tx, id);
}

function auditOf(actor: Actor, action: string, dl: DeadLetter, extra: Record<string, unknown> = {}): AuditEventInput {
  return {
    tenantId: actor.kind === 'tenant' ? actor.tenantId : null,
    actor: actor.kind === 'operator' ? { type: 'operator', id: actor.name } : actor.keyId ? { type: 'api_key', id: actor.keyId } : { type: 'user', id: actor.userId },
    action,
    target: { type: 'job_dead_letter', id: dl.id },
    outcome: 'success',
    metadata: { queue: dl.queue, jobId: dl.jobId, ...(actor.kind === 'operator' && dl.tenantId ? { tenant: dl.tenantId } : {}), ...extra },
    request: actor.request,
  };
}

/** One page (ListFilter.cursor continues a list); a cursor this API did not issue is a CursorError (400). */
export function listDeadLetters(d: OperationDeps, actor: Actor, f: ListFilter & { tenantId?: string | undefined }): Promise<DeadLetterPage> {
  return inScope(d, actor, (tx) => (actor.kind === 'tenant' ? listTenantDeadLetters(tx, f) : listAllDeadLetters(tx, f)));
}

export type RetryResult =
  | { outcome: 'retried'; deadLetter: DeadLetter; jobId: string }
  | { outcome: 'not-found' }
  /** Its queue is not defined in this version of the platform: the dead letter stays, to retry after a deploy or discard. */
  | { outcome: 'queue-unknown'; queue: string };

/**
 * Claims the dead letter, sends its payload again as a new job (its id comes
 * from the dead letter's, so neither the idempotency key nor the completion
 * record of the failed job blocks it, and a retry repeated after a failure
 * finds the job already sent) and records the new job's id. A full queue
 * (QueueFullError, 503), an undefined queue or a failure to record hands the
 * claim back.
 */
export async function retryDeadLetter(d: OperationDeps, actor: Actor, id: string): Promise<RetryResult> {
  const claimed = await inScope(d, actor, async (tx) => {
    const table = await tableOf(tx, actor, id);
    if (!table) return undefined;
    const dl = await claimForRetry(tx, table, id);
    return dl ? { table, dl } : undefined;
  });
  if (!claimed) return { outcome: 'not-found' };
  const { table, dl } = claimed;
  const handBack = () => inScope(d, actor, (tx) => finishRetry(tx, table, id, 'failed'));
  let jobId: string;
  try {
    // Keyed by the dead letter: if recording the retry fails below, the next retry finds this
    // job instead of sending a second one.
    const sent = await d.jobs.send(dl.queue, (dl.payload ?? {}) as object, {
      idempotencyKey: `dead-letter-retry:${dl.id}`, ...(dl.tenantId ? { tenantId: dl.tenantId } : {}),
    });
    jobId = sent.id;
  } catch (err) {
    await handBack();
    if (err instanceof JobDefinitionError) return { outcome: 'queue-unknown', queue: dl.queue };
    throw err;
  }
  const by = resolver(actor);
  try {
    await inScope(d, actor, async (tx) => {
      await finishRetry(tx, table, id, { jobId, by });
      await recordAuditEvent(tx, auditOf(actor, 'jobs.dead_letter_retried', dl, { newJobId: jobId }));
    });
  } catch (err) {
    // Never stuck in `retrying`: the dead letter is handed back, and retrying it again records
    // the retry of the job already sent (same idempotency key).
    await handBack().catch(() => {});
    throw err;
  }
  return { outcome: 'retried', deadLetter: { ...dl, status: 'retried', retriedJobId: jobId, resolvedBy: by }, jobId };
}

export async function discardDeadLetter(d: OperationDeps, actor: Actor, id: string): Promise<DeadLetter | undefined> {
  const by = resolver(actor);
  return inScope(d, actor, async (tx) => {
    const table = await tableOf(tx, actor, id);
    if (!table) return undefined;
    const dl = await discard(tx, table, id, by);
    if (dl) await recordAuditEvent(tx, auditOf(actor, 'jobs.dead_letter_discarded', dl));
    return dl;
  });
}
