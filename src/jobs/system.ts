import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database } from '../db/client.ts';
import { runPlatformAttempt, runTenantAttempt } from './attempt.ts';
import { DeadPath, message, type AttemptResult } from './dead-path.ts';
import { DepthGates, queueFull } from './depth-gate.ts';
import type { DriverJob, JobDriver, Outcome } from './driver.ts';
import { idempotentJobId, parseEnvelope, seal } from './envelope.ts';
import { isUuid } from '../kernel/ids.ts';
import { JobDefinitionError, PoisonError, TenantRefusedError } from '../kernel/jobs/errors.ts';
import { SpanKind, type Tracing } from '../kernel/telemetry/tracing.ts';
import { Outbox, type OutboxOptions, type OutboxStats } from './outbox.ts';
import { hasLimits, LocalTenantGate, type TenantGate, type TenantLimits } from './tenant-gate.ts';
import type {
  DriverName, EnqueueOptions, EnqueueResult, JobHandler, JobInfo, JobQueue, PlatformHandler, QueueCounts, QueueDefinition, TenantHandler,
} from '../kernel/jobs/port.ts';

export type { AttemptResult } from './dead-path.ts';

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
  gate: TenantGate | undefined;
}

const DEFAULT_CONCURRENCY = 4;
// A deferred job's delay is spread by up to this share, so jobs put back together do not all come back together.
const DEFER_JITTER = 0.25;

/** The caps of a tenant queue that the system enforces (the driver may hold some of them natively). */
function limitsOf(definition: QueueDefinition, driver: JobDriver): TenantLimits {
  return {
    concurrency: driver.nativeTenantConcurrency ? undefined : definition.tenantConcurrency,
    ratePerSecond: definition.tenantRatePerSecond,
    burst: definition.tenantRateBurst,
  };
}

/**
 * The job system: the port of kernel/jobs/port.ts over one driver. Everything
 * that must hold on both drivers is here or in the files it composes: the
 * envelope (tenant next to the data), tenant checks and withTenant with
 * completion records and per-attempt timeouts (attempt.ts), dead letters
 * (dead-path.ts), backpressure (depth-gate.ts, outbox.ts) and tenant caps
 * (tenant-gate.ts, redis-gate.ts).
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
  readonly #depth: DepthGates;
  readonly #dead: DeadPath;
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
    this.#depth = new DepthGates(opts.driver);
    this.#outbox = opts.outbox
      ? new Outbox({ db: opts.db, driver: opts.driver, log: opts.log, options: opts.outbox, definitions: () => this.definitions() })
      : undefined;
    this.#dead = new DeadPath({ db: opts.db, log: opts.log, observe: opts.observe, outbox: this.#outbox });
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
    for (const [k, v] of [['tenantConcurrency', definition.tenantConcurrency], ['tenantRatePerSecond', definition.tenantRatePerSecond], ['tenantRateBurst', definition.tenantRateBurst]] as const) {
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new JobDefinitionError(`queue ${definition.name}: ${k} must be a positive number`);
    }
    if (definition.scope === 'platform' && (definition.tenantConcurrency || definition.tenantRatePerSecond)) {
      throw new JobDefinitionError(`queue ${definition.name}: tenant caps on a platform queue`);
    }
    const existing = this.#entries.get(definition.name);
    const limits = limitsOf(definition, this.raw);
    const entry: Entry = {
      definition,
      handler: (handler as JobHandler | undefined) ?? existing?.handler,
      parse: (opts?.parse as ((d: unknown) => unknown) | undefined) ?? existing?.parse,
      gate: definition.scope === 'tenant' && hasLimits(limits)
        ? (this.raw.tenantGate?.(definition.name, limits) ?? new LocalTenantGate(limits)) : undefined,
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
    const counted = await this.#depth.admit(definition);
    try {
      return await this.raw.send(queue, seal(tenantId, data), {
        id,
        idempotent: Boolean(opts.idempotencyKey),
        delayMs: opts.delaySeconds ? opts.delaySeconds * 1000 : undefined,
        groupId: tenantId?.toLowerCase() ?? undefined,
      });
    } finally {
      if (counted) this.#depth.stored(queue);
    }
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
      (job, error) => this.#dead.lost(job, error),
    );
  }

  counts(queue: string): Promise<QueueCounts> {
    return this.raw.counts(queue);
  }

  async assertRoom(queue: string): Promise<void> {
    const definition = this.#entries.get(queue)?.definition;
    if (this.#outbox) return this.#outbox.assertRoom(definition);
    if (!definition?.maxDepth) return;
    const depth = (await this.raw.waiting(queue)) + this.#depth.pending(queue);
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
    this.#dead.stopping = true;
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

  /**
   * Past the tenant's caps, or a deferral. Drivers that can put a job back without an attempt
   * (BullMQ) get `defer`; the others (pg-boss) wait here for the tenant's turn.
   */
  async #enterGate(gate: TenantGate, job: DriverJob, tenantId: string): Promise<{ leave(): Promise<void> } | Outcome> {
    for (;;) {
      const entry = await gate.enter(tenantId, job.id);
      if (entry.admitted) return entry;
      const wait = entry.retryInMs > 0 ? entry.retryInMs : this.#deferMs;
      const delayMs = Math.ceil(wait * (1 + Math.random() * DEFER_JITTER));
      if (this.raw.canDefer) return { status: 'defer', delayMs };
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }

  async #deliver(job: DriverJob): Promise<Outcome> {
    const entry = this.#entries.get(job.queue);
    const parsed = parseEnvelope(job.data);
    if (!entry?.handler) return this.#dead.retry(job, 'no handler for this queue in this process');
    const { definition } = entry;
    const maxAttempts = definition.retryLimit + 1;
    const dead = (tenantId: string | null, d: Parameters<DeadPath['dead']>[3]) => this.#dead.dead(job, maxAttempts, tenantId, d);

    if (!parsed.ok) {
      return dead(null, { payload: job.data, error: `unparseable payload: ${parsed.reason}`, retryable: false, claimedTenantId: parsed.claimedTenantId });
    }
    const { envelope } = parsed;
    if (definition.scope === 'tenant' && envelope.tenantId === null) {
      return dead(null, { payload: envelope.data, error: 'tenant job without a tenant: refused', retryable: false, claimedTenantId: null });
    }
    if (definition.scope === 'platform' && envelope.tenantId !== null) {
      return dead(null, { payload: envelope.data, error: 'platform job carrying a tenant: refused', retryable: false, claimedTenantId: envelope.tenantId });
    }
    if (job.delivery > maxAttempts) {
      // The driver's spare delivery: the last attempt was lost with its worker.
      return dead(envelope.tenantId, { payload: envelope.data, error: `attempt ${maxAttempts} of ${maxAttempts} was lost (worker stopped or timed out)`, retryable: true, claimedTenantId: null });
    }
    let data: unknown = envelope.data;
    if (entry.parse) {
      try {
        data = entry.parse(envelope.data);
      } catch (err) {
        return dead(envelope.tenantId, { payload: envelope.data, error: `invalid payload: ${message(err)}`, retryable: false, claimedTenantId: null });
      }
    }
    let admitted: { leave(): Promise<void> } | undefined;
    if (entry.gate && envelope.tenantId) {
      const entered = await this.#enterGate(entry.gate, job, envelope.tenantId);
      if ('status' in entered) return entered;
      admitted = entered;
    }
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const info: JobInfo = { id: job.id, queue: job.queue, tenantId: envelope.tenantId, attempt: job.delivery, maxAttempts, data, signal: controller.signal };
    try {
      if (definition.scope === 'tenant') await runTenantAttempt(this.#db, definition, entry.handler as TenantHandler, info, controller);
      else await runPlatformAttempt(definition, entry.handler as PlatformHandler, info, controller);
      this.#observe?.(job.queue, 'completed');
      return { status: 'completed' };
    } catch (err) {
      if (err instanceof TenantRefusedError) {
        const gone = err.reason === 'gone';
        this.#log.warn({ queue: job.queue, jobId: job.id, tenantId: envelope.tenantId }, `tenant job refused: ${err.message}`);
        // A deleted tenant's data is not kept behind its shredding: its job's payload is dropped.
        return dead(gone ? null : envelope.tenantId, { payload: gone ? null : envelope.data, error: `refused: ${err.message}`, retryable: !gone, claimedTenantId: gone ? envelope.tenantId : null });
      }
      const error = message(err);
      if (err instanceof PoisonError || job.delivery >= maxAttempts) {
        return dead(envelope.tenantId, { payload: envelope.data, error, retryable: true, claimedTenantId: null });
      }
      this.#observe?.(job.queue, 'failed');
      this.#log.warn({ queue: job.queue, jobId: job.id, attempt: job.delivery, maxAttempts, error }, 'job attempt failed; retrying');
      return { status: 'retry', error };
    } finally {
      this.#inFlight.delete(controller);
      // Not waited for: the release goes out on the driver's connection ahead of the job's own
      // acknowledgement, and should it fail the slot's lease ends on its own.
      void admitted?.leave();
    }
  }
}
