import type { Logger } from 'pino';
import type { Database } from '../db/client.ts';
import type { TransactionOptions } from '../db/transaction.ts';
import { recordPlatformDeadLetter, recordTenantDeadLetter } from './dead-letters.ts';
import type { DriverJob, Outcome } from './driver.ts';
import { parseEnvelope } from './envelope.ts';
import type { Outbox } from './outbox.ts';

export type AttemptResult = 'completed' | 'failed' | 'dead';

export interface DeadDetails {
  payload: unknown;
  error: string;
  retryable: boolean;
  claimedTenantId: string | null;
}

export const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The way to the dead letters, for jobs `run` gave up on and for jobs the
 * driver lost on its own (BullMQ's stall limit; pg-boss's expiry of the spare
 * delivery): a dead letter is recorded before the driver is told the job is
 * terminal, and never dropped — if recording fails the job is retried.
 */
export class DeadPath {
  readonly #db: Database;
  readonly #log: Logger;
  readonly #observe: ((queue: string, result: AttemptResult) => void) | undefined;
  readonly #outbox: Outbox | undefined;
  stopping = false;

  constructor(o: { db: Database; log: Logger; observe: ((queue: string, result: AttemptResult) => void) | undefined; outbox: Outbox | undefined }) {
    this.#db = o.db;
    this.#log = o.log;
    this.#observe = o.observe;
    this.#outbox = o.outbox;
  }

  retry(job: DriverJob, error: string): Outcome {
    this.#observe?.(job.queue, 'failed');
    return { status: 'retry', error };
  }

  async dead(job: DriverJob, maxAttempts: number | undefined, tenantId: string | null, d: DeadDetails): Promise<Outcome> {
    try {
      await this.#record(job, tenantId, d);
    } catch (err) {
      // Never drop it: without a dead letter the driver keeps the job and retries.
      this.#log.error({ queue: job.queue, jobId: job.id, err: { message: message(err) } }, 'recording a dead letter failed');
      return this.retry(job, `${d.error} (dead letter not recorded: ${message(err)})`);
    }
    this.#observe?.(job.queue, 'dead');
    this.#log.error({ queue: job.queue, jobId: job.id, tenantId, attempts: job.delivery, maxAttempts, error: d.error }, 'job dead-lettered');
    return { status: 'dead', error: d.error };
  }

  async #record(job: DriverJob, tenantId: string | null, d: DeadDetails) {
    const input = { queue: job.queue, jobId: job.id, payload: d.payload, error: d.error, attempts: job.delivery, retryable: d.retryable };
    const opts: TransactionOptions = { statementTimeoutMs: 10_000 };
    if (tenantId) await recordTenantDeadLetter(this.#db, opts, tenantId, input);
    else await recordPlatformDeadLetter(this.#db, opts, { ...input, claimedTenantId: d.claimedTenantId });
  }

  /**
   * A job the driver failed on its own: make sure it has a dead letter. Throws when it could
   * record none (a driver that redelivers its lost jobs, pg-boss, then tries again).
   */
  async lost(job: DriverJob, error: string): Promise<void> {
    if (this.stopping) throw new Error('stopping: the lost job is recorded by the next worker');
    const parsed = parseEnvelope(job.data);
    const envelope = parsed.ok ? parsed.envelope : undefined;
    const d = { payload: envelope ? envelope.data : job.data, error: `lost: ${error}`, retryable: Boolean(envelope), claimedTenantId: null };
    try {
      await this.#record(job, envelope?.tenantId ?? null, d);
    } catch (err) {
      // The tenant may be gone (its rows with it): keep the record on the platform side rather than lose it.
      this.#log.error({ queue: job.queue, jobId: job.id, err: { message: message(err) } }, 'recording a lost tenant job failed; recording it as a platform dead letter');
      await this.#record(job, null, { ...d, retryable: false, claimedTenantId: envelope?.tenantId ?? null });
    }
    this.#observe?.(job.queue, 'dead');
    this.#log.error({ queue: job.queue, jobId: job.id, attempts: job.delivery, error: d.error }, 'lost job dead-lettered');
    await this.#outbox?.markDone(job.id).catch(() => {});
  }
}
