import type { Session } from '../../db/client.ts';

/**
 * The job queue port every module uses (DESIGN.md §4, §5). Jobs that touch
 * tenant data carry a tenant id and run inside withTenant; jobs without one are
 * platform jobs and are declared as such by their queue definition. Two drivers
 * implement it underneath (jobs/driver.ts): pg-boss (embedded, in-process) and
 * BullMQ on Redis (production).
 */
export interface QueueDefinition {
  name: string;
  /** `platform`: runs without a tenant (mail delivery, maintenance). `tenant`: runs inside withTenant. */
  scope: 'platform' | 'tenant';
  /** Retries after the first attempt, with exponential back-off and jitter. */
  retryLimit: number;
  /** Base of the back-off: about retryDelaySeconds × 2^(attempt-1), jittered. */
  retryDelaySeconds: number;
  /** Per-attempt timeout; an attempt that exceeds it fails (and is retried). */
  expireInSeconds: number;
  /** Backpressure: enqueueing while this many jobs wait is refused (503 + Retry-After on the API). */
  maxDepth?: number;
  /** Jobs this process runs at once for the queue. */
  concurrency?: number;
  /**
   * Fairness: jobs of one tenant running at once (tenant queues), so one tenant cannot starve the rest.
   * Held across every worker process (pg-boss: groupConcurrency; BullMQ: a leased semaphore in Redis).
   */
  tenantConcurrency?: number;
  /**
   * Rate cap: jobs of one tenant started per second (tenant queues), a token bucket refilled at this
   * rate. A job past it waits for its turn without using an attempt (docs/jobs.md "Backpressure and fairness").
   */
  tenantRatePerSecond?: number;
  /** The bucket's size: jobs one tenant may start at once after a quiet spell. Default: one second's worth (at least 1). */
  tenantRateBurst?: number;
  /**
   * Tenant queues. true (default): the handler's statements, the tenant check and the completion record
   * share one withTenant transaction, so a job's changes commit exactly once. false: each statement is
   * its own tenant-scoped transaction, for jobs that wait on I/O (an open transaction on the embedded
   * PGlite holds its only connection); such jobs are at-least-once and must be idempotent.
   */
  transactional?: boolean;
}

export interface EnqueueOptions {
  /** Required for tenant queues, refused for platform queues. Comes from the principal, never from input. */
  tenantId?: string;
  /** A retried enqueue with the same key (same queue and tenant) does not create a second job. */
  idempotencyKey?: string;
  delaySeconds?: number;
  /**
   * The transaction of the change that causes the job: its outbox row commits or rolls back
   * with it (docs/jobs.md "Outbox"). Without it the row is written in a transaction of its own.
   */
  tx?: Session;
}

export interface EnqueueResult {
  id: string;
  /** false when the idempotency key matched an existing job. */
  created: boolean;
}

export interface JobInfo<T = unknown> {
  id: string;
  queue: string;
  tenantId: string | null;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  data: T;
  /** Aborted when the attempt times out or the worker stops. */
  signal: AbortSignal;
}

/** Platform job handler: no transaction, no tenant. */
export type PlatformHandler<T = unknown> = (job: JobInfo<T>) => Promise<void>;
/** Tenant job handler: runs inside one withTenant transaction of the job's tenant, with its completion record. */
export type TenantHandler<T = unknown> = (job: JobInfo<T>, tx: Session) => Promise<void>;

export type JobHandler<T = unknown> = PlatformHandler<T> | TenantHandler<T>;

export interface Registration<T = unknown> {
  definition: QueueDefinition;
  /** Validates the payload; throwing marks the job poison (dead-lettered without retries). */
  parse?: (data: unknown) => T;
  handler?: JobHandler<T>;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  /** Age of the oldest job ready to run; 0 when none waits. */
  oldestWaitingSeconds: number;
}

export type DriverName = 'pg-boss' | 'bullmq';

export interface JobQueue {
  readonly driver: DriverName;
  /** Declares a queue (both API and worker processes); a handler makes this process able to run it. */
  define<T>(definition: QueueDefinition, handler?: JobHandler<T>, opts?: { parse?: (data: unknown) => T }): Promise<void>;
  send(queue: string, data: object, opts?: EnqueueOptions): Promise<EnqueueResult>;
  /** Starts consuming every defined queue that has a handler (workers). */
  startWorkers(): Promise<void>;
  definitions(): QueueDefinition[];
  counts(queue: string): Promise<QueueCounts>;
  /** The payloads of jobs not finished yet: waiting, delayed, retrying or running. */
  pendingData(queue: string): Promise<unknown[]>;
  /**
   * Refuses (QueueFullError, 503) when the queue is at its depth limit now;
   * admits nothing. For work that must not be done when its job could not be
   * queued: check first, then write, then send.
   */
  assertRoom(queue: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A repeatable platform job a module declares (cron, UTC), e.g. expiring
 * pending ledger transfers. Runs once per period on the worker that holds it.
 */
export interface ScheduleDeclaration<P = unknown> {
  /** Also the queue name (a platform queue). */
  name: string;
  cron: string;
  description: string;
  /** Built with the platform once per process. */
  handler: (platform: P) => PlatformHandler;
}
