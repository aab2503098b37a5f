import { DEFAULT_SPIKE, detectFailureSpike, type SpikeOptions, type SpikeVerdict, type Window } from './spike.ts';
import type { AttemptResult } from './system.ts';

export interface MonitorOptions {
  windowMs: number;
  /** Closed windows kept as the baseline. */
  historyWindows: number;
  /** Windows after an alert during which the same queue does not alert again. */
  cooldownWindows: number;
  spike: SpikeOptions;
  onSpike: (queue: string, verdict: SpikeVerdict, window: Window) => void;
}

/**
 * Counts attempt results per queue in fixed windows and asks the spike
 * detector at each window's end. Per process: each worker process watches the
 * attempts it runs (the Prometheus rule in docs/observability/alerts.yml
 * watches the sum).
 */
export class FailureMonitor {
  readonly #o: MonitorOptions;
  readonly #current = new Map<string, Window>();
  readonly #history = new Map<string, Window[]>();
  readonly #quietUntil = new Map<string, number>();
  #closed = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: Partial<MonitorOptions> & Pick<MonitorOptions, 'onSpike'>) {
    this.#o = { windowMs: 60_000, historyWindows: 15, cooldownWindows: 10, spike: DEFAULT_SPIKE, ...opts };
  }

  observe = (queue: string, result: AttemptResult): void => {
    const w = this.#current.get(queue) ?? { total: 0, failed: 0 };
    w.total++;
    if (result !== 'completed') w.failed++;
    this.#current.set(queue, w);
  };

  /** Closes the current window of every queue (the timer calls it; tests call it directly). */
  tick(): void {
    this.#closed++;
    const queues = new Set([...this.#current.keys(), ...this.#history.keys()]);
    for (const queue of queues) {
      const window = this.#current.get(queue) ?? { total: 0, failed: 0 };
      const history = this.#history.get(queue) ?? [];
      const verdict = detectFailureSpike(history, window, this.#o.spike);
      if (verdict.spike && this.#closed >= (this.#quietUntil.get(queue) ?? 0)) {
        this.#quietUntil.set(queue, this.#closed + this.#o.cooldownWindows);
        this.#o.onSpike(queue, verdict, window);
      }
      // Only windows the detector vouches for enter the baseline (spike.ts `learn`): no spike window
      // (a long incident must not become the new normal), no idle window, no failing window before
      // there is a baseline (right after start, or once idle windows have aged the history out).
      if (verdict.learn) history.push(window);
      while (history.length > this.#o.historyWindows) history.shift();
      this.#history.set(queue, history);
    }
    this.#current.clear();
  }

  start(): void {
    this.#timer ??= setInterval(() => this.tick(), this.#o.windowMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
