/**
 * Tenant caps of a queue (issue #22 §5): how many of one tenant's jobs run at
 * once (`tenantConcurrency`) and how many start per second (`tenantRatePerSecond`,
 * a token bucket of `tenantRateBurst`). A job of a tenant at a cap is not run:
 * it is put back (BullMQ) or waits for its turn (pg-boss), without using an
 * attempt, so one tenant's flood cannot take the workers from the others.
 */
export interface TenantLimits {
  concurrency?: number | undefined;
  ratePerSecond?: number | undefined;
  burst?: number | undefined;
}

export type GateEntry =
  | { admitted: true; leave(): Promise<void> }
  /** At a cap: try again in about this long. */
  | { admitted: false; retryInMs: number };

export interface TenantGate {
  /** `holder` names this attempt (a lease in a shared store). */
  enter(tenantId: string, holder: string): Promise<GateEntry>;
}

export const hasLimits = (l: TenantLimits) => Boolean(l.concurrency || l.ratePerSecond);

/** The bucket's size when the queue does not set one: a second's worth of jobs, at least one. */
export const burstOf = (l: TenantLimits) => Math.max(1, l.burst ?? Math.ceil(l.ratePerSecond ?? 1));

const ADMITTED_NOTHING = async () => {};

/**
 * Caps in this process, for what the driver does not enforce across processes:
 * pg-boss's groupConcurrency already holds the concurrency cap in the database,
 * so there only the rate is counted here (per process: one `serve` in the
 * embedded profile; docs/jobs.md says what several pg-boss workers mean).
 */
export class LocalTenantGate implements TenantGate {
  readonly #running = new Map<string, number>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #limits: TenantLimits;
  readonly #now: () => number;

  constructor(limits: TenantLimits, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#now = now;
  }

  async enter(tenantId: string): Promise<GateEntry> {
    const { concurrency, ratePerSecond } = this.#limits;
    const running = this.#running.get(tenantId) ?? 0;
    if (concurrency && running >= concurrency) return { admitted: false, retryInMs: 0 };
    if (ratePerSecond) {
      const burst = burstOf(this.#limits);
      const now = this.#now();
      const b = this.#buckets.get(tenantId) ?? { tokens: burst, at: now };
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) * ratePerSecond) / 1000);
      b.at = now;
      this.#buckets.set(tenantId, b);
      if (b.tokens < 1) return { admitted: false, retryInMs: Math.ceil(((1 - b.tokens) * 1000) / ratePerSecond) };
      b.tokens -= 1;
      if (this.#buckets.size > 10_000) this.#prune(now);
    }
    if (!concurrency) return { admitted: true, leave: ADMITTED_NOTHING };
    this.#running.set(tenantId, running + 1);
    return {
      admitted: true,
      leave: async () => {
        const n = (this.#running.get(tenantId) ?? 1) - 1;
        if (n <= 0) this.#running.delete(tenantId);
        else this.#running.set(tenantId, n);
      },
    };
  }

  /** A bucket that has refilled is the default state: forgetting it changes nothing, so idle tenants cost no memory. */
  #prune(now: number): void {
    const rate = this.#limits.ratePerSecond ?? 1;
    const burst = burstOf(this.#limits);
    for (const [k, b] of this.#buckets) if (b.tokens + ((now - b.at) * rate) / 1000 >= burst) this.#buckets.delete(k);
  }
}
