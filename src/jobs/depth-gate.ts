import { QueueFullError } from '../kernel/jobs/errors.ts';
import type { QueueDefinition } from '../kernel/jobs/port.ts';
import type { JobDriver } from './driver.ts';

// The depth gate reads the driver's count at most this often and counts its own sends in between.
const DEPTH_REFRESH_MS = 250;

export const queueFull = (definition: QueueDefinition) =>
  new QueueFullError(definition.name, Math.min(60, Math.max(1, Math.ceil(definition.expireInSeconds / 2))));

interface Gate {
  at: number;
  count: number;
  ready: Promise<void>;
}

/**
 * Backpressure without an outbox (the driver contract suite): refuse past the
 * queue's depth limit before anything is stored. The driver's count is read at
 * most every DEPTH_REFRESH_MS and this process's own sends are added in
 * between; a refusal is confirmed by a fresh count, which still includes this
 * process's sends that are admitted but not stored yet (so a burst of
 * concurrent sends cannot reset the gate below them), and which concurrent
 * refusals share.
 */
export class DepthGates {
  readonly #driver: JobDriver;
  readonly #gates = new Map<string, Gate>();
  /** Sends admitted and not stored yet, per queue. */
  readonly #admitted = new Map<string, number>();

  constructor(driver: JobDriver) {
    this.#driver = driver;
  }

  /** true: admitted and counted (call `stored` once the send is done, whatever its result). */
  async admit(definition: QueueDefinition, refused?: Gate): Promise<boolean> {
    if (!definition.maxDepth) return false;
    const now = Date.now();
    let gate = this.#gates.get(definition.name);
    const stale = !gate || (refused !== undefined && gate === refused) || now - gate.at > DEPTH_REFRESH_MS;
    if (stale) {
      const next: Gate = { at: now, count: this.pending(definition.name), ready: Promise.resolve() };
      next.ready = this.#driver.waiting(definition.name).then((n) => {
        next.count += n;
      });
      this.#gates.set(definition.name, next);
      gate = next;
    }
    try {
      await gate!.ready;
    } catch (err) {
      this.#gates.delete(definition.name);
      throw err;
    }
    if (gate!.count >= definition.maxDepth) {
      if (!stale) return this.admit(definition, gate);
      throw queueFull(definition);
    }
    gate!.count++;
    this.#admitted.set(definition.name, this.pending(definition.name) + 1);
    return true;
  }

  stored(queue: string): void {
    this.#admitted.set(queue, (this.#admitted.get(queue) ?? 1) - 1);
  }

  pending(queue: string): number {
    return this.#admitted.get(queue) ?? 0;
  }
}
