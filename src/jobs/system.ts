import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database, Session } from '../db/client.ts';
import { queryAsTenant, withTenant, type TransactionOptions } from '../db/transaction.ts';
import { recordPlatformDeadLetter, recordTenantDeadLetter } from './dead-letters.ts';
import type { DriverJob, JobDriver, Outcome } from './driver.ts';
import { idempotentJobId, parseEnvelope, seal, type Envelope } from './envelope.ts';
import { isUuid } from '../kernel/ids.ts';
import { JobDefinitionError, JobTimeoutError, PoisonError, QueueFullError, TenantRefusedError } from '../kernel/jobs/errors.ts';
import { TenantSlots } from './fairness.ts';
import { SpanKind, type Tracing } from '../kernel/telemetry/tracing.ts';
import { Outbox, type OutboxOptions, type OutboxStats } from './outbox.ts';
import type {
  DriverName, EnqueueOptions, EnqueueResult, JobHandler, JobInfo, JobQueue, PlatformHandler, QueueCounts, QueueDefinition, TenantHandler,
} from '../kernel/jobs/port.ts';

export type AttemptResult = 'completed' | 'failed' | 'dead';

export interface JobSystemOptions {
  driver: JobDriver;
  db: Database;
  log: Logger;
  /** Told about every finished attempt (the failure-spike monitor listens). */
  observe?: (queue: string, result: AttemptResult) => void;
  /** One consumer span per attempt (queue, attempt, result, tenant id; never the payload) when tracing is on. */
  tracing?: Tracing | null | undefined;
  /** How long a job of a tenant at its concurrency cap is put back for. */
  deferMs?: number;
  /**
   * Sends go through the transactional outbox (jobs/outbox.ts): what the platform does.
   * Unset: straight to the driver (the driver contract suite).
   */
  outbox?: OutboxOptions;
}

interface Entry {
  definition: QueueDefinition;
  handler: JobHandler | undefined;
  parse: ((data: unknown) => unknown) | undefined;
  slots: TenantSlots | undefined;
}

// The depth gate reads the driver's count at most this often and counts its own sends in between.
const DEPTH_REFRESH_MS = 250;

const queueFull = (definition: QueueDefinition) =>
  new QueueFullError(definition.name, Math.min(60, Math.max(1, Math.ceil(definition.expireInSeconds / 2))));

interface DepthGate {
  at: number;
  count: number;
  ready: Promise<void>;
}
const DEFAULT_CONCURRENCY = 4;

/**
 * The job system: the port of jobs/queue.ts over one driver. Everything that
 * must hold on both drivers is here: the envelope (tenant next to the data),
 * tenant checks and withTenant, completion records, per-attempt timeouts,
 * dead letters, backpressure and tenant fairness.
 */
export class JobSystem implements JobQueue {
  readonly driver: DriverName;
  readonly raw: JobDriver;
  readonly #db: Database;
  readonly #log: Logger;
  readonly #observe: JobSystemOptions['observe'];
  readonly #tracing: Tracing | null;
  readonly #deferMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #depth = new Map<string, DepthGate>();
  /** Sends admitted by the depth gate and not stored yet, per queue. */
  readonly #admitted = new Map<string, number>();
  readonly #working = new Set<string>();
  #workersStarted = false;
  #stopping = false;
  readonly #inFlight = new Set<AbortController>();
  readonly #outbox: Outbox | undefined;

  constructor(opts: JobSystemOptions) {
    this.raw = opts.driver;
    this.driver = opts.driver.name;
    this.#db = opts.db;
    this.#log = opts.log;
    this.#observe = opts.observe;
    this.#tracing = opts.tracing ?? null;
    this.#deferMs = opts.deferMs ?? 500;
    this.#outbox = opts.outbox
      ? new Outbox({ db: opts.db, driver: opts.driver, log: opts.log, options: opts.outbox, definitions: () => this.definitions() })
      : undefined;
  }

  /** The outbox of this system, when sends go through one. */
  get outbox(): Outbox | undefined {
    return this.#outbox;
  }

  /** Runs the outbox relay in this process (API and worker processes both do; claims never overlap). */
  startRelay(): void {
    this.#outbox?.start();
  }

  outboxStats(): Promise<OutboxStats | undefined> {
    return this.#outbox ? this.#outbox.stats() : Promise.resolve(undefined);
  }

  async define<T>(definition: QueueDefinition, handler?: JobHandler<T>, opts?: { parse?: (data: unknown) => T }): Promise<void> {
    if (!/^[a-z][a-z0-9._-]{0,99}$/.test(definition.name)) throw new JobDefinitionError(`queue name "${definition.name}" is not allowed`);
    if (definition.retryLimit < 0 || definition.expireInSeconds <= 0) throw new JobDefinitionError(`queue ${definition.name}: bad retry or timeout`);
    const existing = this.#entries.get(definition.name);
    const entry: Entry = {
      definition,
      handler: (handler as JobHandler | undefined) ?? existing?.handler,
      parse: (opts?.parse as ((d: unknown) => unknown) | undefined) ?? existing?.parse,
      slots: definition.scope === 'tenant' && definition.tenantConcurrency && !this.raw.nativeTenantConcurrency
        ? new TenantSlots(definition.tenantConcurrency) : undefined,
    };
    this.#entries.set(definition.name, entry);
    await this.raw.createQueue({
      name: definition.name,
      maxAttempts: definition.retryLimit + 1,
      retryDelaySeconds: definition.retryDelaySeconds,
      expireInSeconds: definition.expireInSeconds,
    });
    if (this.#workersStarted && entry.handler) await this.#work(entry);
  }

  definitions(): QueueDefinition[] {
    return [...this.#entries.values()].map((e) => e.definition);
  }

  definition(queue: string): QueueDefinition | undefined {
    return this.#entries.get(queue)?.definition;
  }

  async send(queue: string, data: object, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
    const entry = this.#entries.get(queue);
    if (!entry) throw new JobDefinitionError(`queue ${queue} is not defined`);
    const { definition } = entry;
    const tenantId = opts.tenantId ?? null;
    if (definition.scope === 'tenant' && !isUuid(tenantId)) throw new JobDefinitionError(`queue ${queue} is a tenant queue: a tenant id is required`);
    if (definition.scope === 'platform' && tenantId !== null) throw new JobDefinitionError(`queue ${queue} is a platform queue: it takes no tenant id`);
    // Always our own UUID: ids name dead letters and completion records, so they must never repeat
    // (BullMQ's own ids are a per-queue counter that starts again with an empty Redis).
    const id = opts.idempotencyKey ? idempotentJobId(queue, tenantId?.toLowerCase() ?? null, opts.idempotencyKey) : randomUUID();
    if (this.#outbox) return this.#outbox.enqueue(definition, seal(tenantId, data), id, { tx: opts.tx, delaySeconds: opts.delaySeconds });
    if (opts.tx) throw new JobDefinitionError('this job system has no outbox: a send cannot join a transaction');
    const counted = await this.#admit(definition);
    try {
      return await this.raw.send(queue, seal(tenantId, data), {
        id,
        idempotent: Boolean(opts.idempotencyKey),
        delayMs: opts.delaySeconds ? opts.delaySeconds * 1000 : undefined,
        groupId: tenantId?.toLowerCase() ?? undefined,
      });
    } finally {
      if (counted) this.#admitted.set(queue, (this.#admitted.get(queue) ?? 1) - 1);
    }
  }

  /**
   * Backpressure: refuse past the queue's depth limit before anything is stored.
   * The driver's count is read at most every DEPTH_REFRESH_MS and this
   * process's own sends are added in between; a refusal is confirmed by a
   * fresh count, which still includes this process's sends that are admitted
   * but not stored yet (so a burst of concurrent sends cannot reset the gate
   * below them), and which concurrent refusals share.
   */
  async #admit(definition: QueueDefinition, refused?: DepthGate): Promise<boolean> {
    if (!definition.maxDepth) return false;
    const now = Date.now();
    let gate = this.#depth.get(definition.name);
    const stale = !gate || (refused !== undefined && gate === refused) || now - gate.at > DEPTH_REFRESH_MS;
    if (stale) {
      const next: DepthGate = { at: now, count: this.#admitted.get(definition.name) ?? 0, ready: Promise.resolve() };
      next.ready = this.raw.waiting(definition.name).then((n) => {
        next.count += n;
      });
      this.#depth.set(definition.name, next);
      gate = next;
    }
    try {
      await gate!.ready;
    } catch (err) {
      this.#depth.delete(definition.name);
      throw err;
    }
    if (gate!.count >= definition.maxDepth) {
      if (!stale) return this.#admit(definition, gate);
      throw queueFull(definition);
    }
    gate!.count++;
    this.#admitted.set(definition.name, (this.#admitted.get(definition.name) ?? 0) + 1);
    return true;
  }

  async startWorkers(): Promise<void> {
    this.#workersStarted = true;
    for (const entry of this.#entries.values()) if (entry.handler) await this.#work(entry);
  }

  async #work(entry: Entry): Promise<void> {
    const name = entry.definition.name;
    if (this.#working.has(name)) return;
    this.#working.add(name);
    await this.raw.work(
      name,
      {
        concurrency: entry.definition.concurrency ?? DEFAULT_CONCURRENCY,
        tenantConcurrency: this.raw.nativeTenantConcurrency ? entry.definition.tenantConcurrency : undefined,
      },
      (job) => this.run(job),
      (job, error) => this.#lost(job, error),
    );
  }

  counts(queue: string): Promise<QueueCounts> {
    return this.raw.counts(queue);
  }

  async assertRoom(queue: string): Promise<void> {
    const definition = this.#entries.get(queue)?.definition;
    if (this.#outbox) return this.#outbox.assertRoom(definition);
    if (!definition?.maxDepth) return;
    const depth = (await this.raw.waiting(queue)) + (this.#admitted.get(queue) ?? 0);
    if (depth >= definition.maxDepth) throw queueFull(definition);
  }

  async pendingData(queue: string): Promise<unknown[]> {
    // In the outbox or in the driver (a row being handed over may be counted in both: never fewer).
    const [unsent, queued] = await Promise.all([this.#outbox?.unsent(queue) ?? [], this.raw.pendingData(queue)]);
    // What handlers see: the envelope's data; anything without an envelope will never run.
    return [...unsent, ...queued].flatMap((raw) => {
      const parsed = parseEnvelope(raw);
      return parsed.ok ? [parsed.envelope.data] : [];
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#outbox?.stop();
    await this.raw.stop();
    for (const c of this.#inFlight) c.abort(new Error('worker stopping'));
  }

  /** One delivery of one job, end to end; what the driver's worker calls. */
  run(job: DriverJob): Promise<Outcome> {
    return this.#tracing ? this.#traced(this.#tracing, job) : this.#settled(job);
  }

  async #traced(tracing: Tracing, job: DriverJob): Promise<Outcome> {
    const span = tracing.start(`job ${job.queue}`, SpanKind.CONSUMER, {
      'messaging.system': 'ocsuite', 'messaging.destination.name': job.queue, 'ocsuite.job.attempt': job.delivery,
    });
    const parsed = parseEnvelope(job.data);
    if (parsed.ok && parsed.envelope.tenantId) span.setAttribute('ocsuite.tenant_id', parsed.envelope.tenantId);
    try {
      const outcome = await tracing.within(span, () => this.#settled(job));
      span.setAttribute('ocsuite.job.result', outcome.status);
      if (outcome.status === 'dead' || outcome.status === 'retry') tracing.fail(span, outcome.status === 'dead' ? 'job-dead' : 'job-failed');
      return outcome;
    } catch (err) {
      tracing.fail(span, 'job-error');
      throw err;
    } finally {
      span.end();
    }
  }

  /** A delivery, then its outbox row finished when the job is. */
  async #settled(job: DriverJob): Promise<Outcome> {
    const outcome = await this.#deliver(job);
    if (this.#outbox && (outcome.status === 'completed' || outcome.status === 'dead')) {
      // Its outbox row is finished: never handed over again. Should this fail, a later hand-over
      // is the same job id, which the driver (and a tenant job's completion record) refuses.
      await this.#outbox.markDone(job.id).catch((err: unknown) =>
        this.#log.warn({ queue: job.queue, jobId: job.id, err: { message: message(err) } }, 'marking the outbox row done failed'));
    }
    return outcome;
  }

  async #deliver(job: DriverJob): Promise<Outcome> {
    const entry = this.#entries.get(job.queue);
    const parsed = parseEnvelope(job.data);
    if (!entry?.handler) return this.#retry(job, 'no handler for this queue in this process');
    const { definition } = entry;
    const maxAttempts = definition.retryLimit + 1;

    if (!parsed.ok) {
      return this.#dead(job, entry, null, { payload: job.data, error: `unparseable payload: ${parsed.reason}`, retryable: false, claimedTenantId: parsed.claimedTenantId });
    }
    const { envelope } = parsed;
    if (definition.scope === 'tenant' && envelope.tenantId === null) {
      return this.#dead(job, entry, null, { payload: envelope.data, error: 'tenant job without a tenant: refused', retryable: false, claimedTenantId: null });
    }
    if (definition.scope === 'platform' && envelope.tenantId !== null) {
      return this.#dead(job, entry, null, { payload: envelope.data, error: 'platform job carrying a tenant: refused', retryable: false, claimedTenantId: envelope.tenantId });
    }
    if (job.delivery > maxAttempts) {
      // The driver's spare delivery: the last attempt was lost with its worker.
      return this.#dead(job, entry, envelope.tenantId, { payload: envelope.data, error: `attempt ${maxAttempts} of ${maxAttempts} was lost (worker stopped or timed out)`, retryable: true, claimedTenantId: null });
    }
    let data: unknown = envelope.data;
    if (entry.parse) {
      try {
        data = entry.parse(envelope.data);
      } catch (err) {
        return this.#dead(job, entry, envelope.tenantId, { payload: envelope.data, error: `invalid payload: ${message(err)}`, retryable: false, claimedTenantId: null });
      }
    }
    if (entry.slots && envelope.tenantId) {
      if (!entry.slots.tryTake(envelope.tenantId)) return { status: 'defer', delayMs: this.#deferMs };
    }
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const info: JobInfo = { id: job.id, queue: job.queue, tenantId: envelope.tenantId, attempt: job.delivery, maxAttempts, data, signal: controller.signal };
    try {
      if (definition.scope === 'tenant') await this.#runTenant(entry, info, controller);
      else await this.#runPlatform(entry, info, controller);
      this.#observe?.(job.queue, 'completed');
      return { status: 'completed' };
    } catch (err) {
      if (err instanceof TenantRefusedError) {
        const gone = err.reason === 'gone';
        this.#log.warn({ queue: job.queue, jobId: job.id, tenantId: envelope.tenantId }, `tenant job refused: ${err.message}`);
        // A deleted tenant's data is not kept behind its shredding: its job's payload is dropped.
        return this.#dead(job, entry, gone ? null : envelope.tenantId, { payload: gone ? null : envelope.data, error: `refused: ${err.message}`, retryable: !gone, claimedTenantId: gone ? envelope.tenantId : null });
      }
      const error = message(err);
      if (err instanceof PoisonError || job.delivery >= maxAttempts) {
        return this.#dead(job, entry, envelope.tenantId, { payload: envelope.data, error, retryable: true, claimedTenantId: null });
      }
      this.#observe?.(job.queue, 'failed');
      this.#log.warn({ queue: job.queue, jobId: job.id, attempt: job.delivery, maxAttempts, error }, 'job attempt failed; retrying');
      return { status: 'retry', error };
    } finally {
      this.#inFlight.delete(controller);
      if (entry.slots && envelope.tenantId) entry.slots.give(envelope.tenantId);
    }
  }

  async #runPlatform(entry: Entry, info: JobInfo, controller: AbortController): Promise<void> {
    const ms = entry.definition.expireInSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new JobTimeoutError(`timed out after ${entry.definition.expireInSeconds} s`);
        controller.abort(err);
        reject(err);
      }, ms);
    });
    try {
      await Promise.race([(entry.handler as PlatformHandler)(info), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A tenant job: one withTenant transaction of the job's own tenant holds the
   * tenant check, the completion check, the handler's statements and the
   * completion record. The timeout aborts the signal and discards the work;
   * the transaction ends only after the handler's last statement.
   */
  async #runTenant(entry: Entry, info: JobInfo, controller: AbortController): Promise<void> {
    const tenantId = info.tenantId!;
    const seconds = entry.definition.expireInSeconds;
    const opts = { statementTimeoutMs: seconds * 1000 };
    const timer = setTimeout(() => controller.abort(new JobTimeoutError(`timed out after ${seconds} s`)), seconds * 1000);
    const body = async (tx: Session) => {
      const [state] = await tx.query<{ status: string | null; done: boolean }>(sql`
        SELECT (SELECT CASE WHEN deleted_at IS NOT NULL THEN 'deleted' ELSE status END FROM tenants WHERE id = ${tenantId}) AS status,
               EXISTS (SELECT 1 FROM job_completions WHERE job_id = ${info.id}) AS done`);
      if (!state?.status || state.status === 'deleted') throw new TenantRefusedError('gone', 'the tenant does not exist (deleted or never created)');
      if (state.status !== 'active') throw new TenantRefusedError('suspended', `the tenant is ${state.status}`);
      if (state.done) return; // delivered again after its work committed: already done
      await (entry.handler as TenantHandler)(info, tx);
      if (controller.signal.aborted) throw controller.signal.reason;
      await tx.query(sql`INSERT INTO job_completions (tenant_id, job_id, queue) VALUES (${tenantId}, ${info.id}, ${info.queue}) ON CONFLICT DO NOTHING`);
    };
    try {
      if (entry.definition.transactional === false) {
        // Each statement in its own transaction of the job's tenant: nothing held open while the job waits.
        await body({
          query: (statement) => queryAsTenant(this.#db, { tenantId }, opts, statement),
          exec: async () => {
            throw new JobDefinitionError('a non-transactional tenant job runs parameterised statements only');
          },
        });
      } else {
        await withTenant(this.#db, { tenantId }, opts, body);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  #retry(job: DriverJob, error: string): Outcome {
    this.#observe?.(job.queue, 'failed');
    return { status: 'retry', error };
  }

  async #dead(
    job: DriverJob,
    entry: Entry | undefined,
    tenantId: string | null,
    d: { payload: unknown; error: string; retryable: boolean; claimedTenantId: string | null },
  ): Promise<Outcome> {
    try {
      await this.#record(job, tenantId, d);
    } catch (err) {
      // Never drop it: without a dead letter the driver keeps the job and retries.
      this.#log.error({ queue: job.queue, jobId: job.id, err: { message: message(err) } }, 'recording a dead letter failed');
      return this.#retry(job, `${d.error} (dead letter not recorded: ${message(err)})`);
    }
    this.#observe?.(job.queue, 'dead');
    this.#log.error({ queue: job.queue, jobId: job.id, tenantId, attempts: job.delivery, maxAttempts: entry ? entry.definition.retryLimit + 1 : undefined, error: d.error }, 'job dead-lettered');
    return { status: 'dead', error: d.error };
  }

  async #record(job: DriverJob, tenantId: string | null, d: { payload: unknown; error: string; retryable: boolean; claimedTenantId: string | null }) {
    const input = { queue: job.queue, jobId: job.id, payload: d.payload, error: d.error, attempts: job.delivery, retryable: d.retryable };
    const opts: TransactionOptions = { statementTimeoutMs: 10_000 };
    if (tenantId) await recordTenantDeadLetter(this.#db, opts, tenantId, input);
    else await recordPlatformDeadLetter(this.#db, opts, { ...input, claimedTenantId: d.claimedTenantId });
  }

  /** A job the driver failed on its own (stall limit): make sure it has a dead letter. */
  async #lost(job: DriverJob, error: string): Promise<void> {
    if (this.#stopping) return;
    const parsed = parseEnvelope(job.data);
    const envelope: Envelope | undefined = parsed.ok ? parsed.envelope : undefined;
    const d = { payload: envelope ? envelope.data : job.data, error: `lost: ${error}`, retryable: Boolean(envelope), claimedTenantId: null };
    try {
      await this.#record(job, envelope?.tenantId ?? null, d);
    } catch (err) {
      // The tenant may be gone (its rows with it): keep the record on the platform side rather than lose it.
      this.#log.error({ queue: job.queue, jobId: job.id, err: { message: message(err) } }, 'recording a lost tenant job failed; recording it as a platform dead letter');
      await this.#record(job, null, { ...d, retryable: false, claimedTenantId: envelope?.tenantId ?? null })
        .catch((e: unknown) => this.#log.error({ queue: job.queue, jobId: job.id, err: { message: message(e) } }, 'recording a lost job failed'));
    }
    this.#observe?.(job.queue, 'dead');
    await this.#outbox?.markDone(job.id).catch(() => {});
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
