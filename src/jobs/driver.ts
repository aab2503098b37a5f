import type { DriverName, QueueCounts } from '../kernel/jobs/port.ts';
import type { TenantGate, TenantLimits } from './tenant-gate.ts';

/**
 * What a queue driver does; everything that must behave the same on both
 * (tenant checks, dead letters, idempotency, timeouts, fairness, backpressure)
 * lives above it in jobs/system.ts, so one contract suite covers both.
 */
export interface DriverJob {
  id: string;
  queue: string;
  data: unknown;
  /** 1 for the first delivery. */
  delivery: number;
}

export type Outcome =
  | { status: 'completed' }
  /** A failed attempt that the driver retries with back-off. */
  | { status: 'retry'; error: string }
  /** Terminal: the job is failed in the driver (its dead letter is already recorded). */
  | { status: 'dead'; error: string }
  /** Fairness: put the job back for later without counting an attempt. */
  | { status: 'defer'; delayMs: number };

export interface DriverQueue {
  name: string;
  /** Attempts the application allows (retryLimit + 1). */
  maxAttempts: number;
  retryDelaySeconds: number;
  expireInSeconds: number;
}

export interface DriverWorkOptions {
  concurrency: number;
  /** Only drivers with `nativeTenantConcurrency` use it; the others get `defer` outcomes. */
  tenantConcurrency?: number | undefined;
}

export interface DriverSchedule {
  queue: string;
  cron: string;
  next: Date | null;
}

export interface JobDriver {
  readonly name: DriverName;
  /**
   * Deliveries the driver makes beyond maxAttempts so that an attempt lost
   * with its worker (killed, expired) still reaches the dead letters.
   */
  readonly spareDeliveries: number;
  readonly nativeTenantConcurrency: boolean;
  /** Whether a `defer` outcome puts the job back without using an attempt (otherwise the system waits in the slot). */
  readonly canDefer: boolean;
  /** Tenant caps held in the driver's shared store, across processes; absent: the system counts them in-process. */
  tenantGate?(queue: string, limits: TenantLimits): TenantGate;
  createQueue(queue: DriverQueue): Promise<void>;
  send(queue: string, data: object, opts: { id?: string | undefined; idempotent?: boolean; delayMs?: number | undefined; groupId?: string | undefined }): Promise<{ id: string; created: boolean }>;
  /** `lost` is told about jobs the driver failed without asking `run` (BullMQ's stall limit). */
  work(queue: string, opts: DriverWorkOptions, run: (job: DriverJob) => Promise<Outcome>, lost: (job: DriverJob, error: string) => Promise<void>): Promise<void>;
  /** Jobs that are waiting to run (ready, delayed or being retried): what the depth limit counts. */
  waiting(queue: string): Promise<number>;
  counts(queue: string): Promise<QueueCounts>;
  /** The payloads of jobs not finished yet: waiting, delayed, retrying or running. */
  pendingData(queue: string): Promise<unknown[]>;
  schedule(queue: string, cron: string, data: object): Promise<void>;
  unschedule(queue: string): Promise<void>;
  schedules(): Promise<DriverSchedule[]>;
  /** Told each time the driver's store comes back after a lost connection (Redis restarted or flushed). */
  onReconnect?(listener: () => void): void;
  stop(): Promise<void>;
}
