import { KernelError } from '../errors.ts';

/**
 * Backpressure: the queue holds its maximum of waiting jobs. A coded error
 * (`queue-full`, 503 + Retry-After on HTTP) wherever it surfaces in a request,
 * so every route that enqueues answers the same way without catching it.
 */
export class QueueFullError extends KernelError {
  readonly queue: string;
  declare readonly retryAfterSeconds: number;
  constructor(queue: string, retryAfterSeconds: number) {
    super('queue-full', 'The job queue is at capacity; retry later.', { retryAfterSeconds, extensions: { retryAfter: retryAfterSeconds } });
    this.queue = queue;
  }
}

/** Thrown by a handler or a payload parser: retrying cannot help, so the job goes to the dead letters now. */
export class PoisonError extends Error {
  readonly code = 'ERR_JOB_POISON';
}

/** A tenant job whose tenant is missing, deleted or suspended: refused, never run without a tenant. */
export class TenantRefusedError extends Error {
  readonly code = 'ERR_JOB_TENANT_REFUSED';
  /** `gone`: no such tenant (deleted or never created); `suspended`: it exists, the job may run later. */
  readonly reason: 'gone' | 'suspended';
  constructor(reason: 'gone' | 'suspended', message: string) {
    super(message);
    this.reason = reason;
  }
}

export class JobTimeoutError extends Error {
  readonly code = 'ERR_JOB_TIMEOUT';
}

/** Programming errors: unknown queue, tenant id on a platform queue, none on a tenant queue. */
export class JobDefinitionError extends Error {
  readonly code = 'ERR_JOB_DEFINITION';
}
