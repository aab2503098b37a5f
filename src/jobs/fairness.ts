/**
 * Per-tenant concurrency in this process, for drivers without a native one
 * (BullMQ open source has no groups): a tenant at its cap has its job put back
 * for a moment instead of taking another slot, so a flood from one tenant
 * cannot occupy every worker while other tenants' jobs wait.
 */
export class TenantSlots {
  readonly #running = new Map<string, number>();
  readonly #cap: number;

  constructor(cap: number) {
    this.#cap = cap;
  }

  tryTake(tenantId: string): boolean {
    const n = this.#running.get(tenantId) ?? 0;
    if (n >= this.#cap) return false;
    this.#running.set(tenantId, n + 1);
    return true;
  }

  give(tenantId: string): void {
    const n = (this.#running.get(tenantId) ?? 1) - 1;
    if (n <= 0) this.#running.delete(tenantId);
    else this.#running.set(tenantId, n);
  }
}
