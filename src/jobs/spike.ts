/**
 * Failure-spike detection (seed 004, recommended enhancement 3): the failure
 * rate of the latest window compared with its recent baseline. Pure, so the
 * decision can be tested on synthetic series; jobs/monitor.ts feeds it.
 */
export interface Window {
  /** Attempts that finished (succeeded or failed) in the window. */
  total: number;
  failed: number;
}

export interface SpikeOptions {
  /** Below this many attempts in the current window nothing fires: 3 of 4 failing is noise, not a spike. */
  minVolume: number;
  /** Below this many failures nothing fires either. */
  minFailures: number;
  /** The current rate must be at least this many times the baseline rate… */
  factor: number;
  /** …and at least this much above it (absolute), so a baseline of 0.1 % does not fire at 0.3 %. */
  minIncrease: number;
  /** Windows of history the baseline needs before anything can fire. */
  minBaselineWindows: number;
}

export const DEFAULT_SPIKE: SpikeOptions = { minVolume: 20, minFailures: 5, factor: 3, minIncrease: 0.2, minBaselineWindows: 3 };

export interface SpikeVerdict {
  spike: boolean;
  rate: number;
  baselineRate: number;
  reason: string;
  /**
   * Whether the window may enter the baseline. Not a spike window, not an empty one (an idle
   * period must not push the real history out), and not a window that fails like a spike while
   * there is no baseline to compare it with (right after start or after an idle period): a
   * baseline learnt from an incident would hide the incident and the next one.
   */
  learn: boolean;
}

/** `history` is oldest first and excludes `current`. */
export function detectFailureSpike(history: readonly Window[], current: Window, opts: SpikeOptions = DEFAULT_SPIKE): SpikeVerdict {
  const rate = current.total > 0 ? current.failed / current.total : 0;
  const totals = history.reduce((a, w) => ({ total: a.total + w.total, failed: a.failed + w.failed }), { total: 0, failed: 0 });
  // Volume-weighted: a quiet window with one failure does not dominate the baseline.
  const baselineRate = totals.total > 0 ? totals.failed / totals.total : 0;
  const baselined = history.filter((w) => w.total > 0).length >= opts.minBaselineWindows;
  // Failing as a spike would against a clean baseline: such a window proves nothing about normal.
  const failing = current.failed >= opts.minFailures && rate >= opts.minIncrease;
  const learn = current.total > 0 && (baselined || !failing);
  const verdict = (spike: boolean, reason: string): SpikeVerdict => ({ spike, rate, baselineRate, reason, learn: learn && !spike });
  if (current.total < opts.minVolume) return verdict(false, `volume ${current.total} below the floor of ${opts.minVolume}`);
  if (current.failed < opts.minFailures) return verdict(false, `${current.failed} failures below the floor of ${opts.minFailures}`);
  if (!baselined) return verdict(false, 'not enough history for a baseline');
  if (rate < baselineRate * opts.factor) return verdict(false, `rate ${pct(rate)} is under ${opts.factor}× the baseline ${pct(baselineRate)}`);
  if (rate - baselineRate < opts.minIncrease) return verdict(false, `rate ${pct(rate)} is within ${pct(opts.minIncrease)} of the baseline ${pct(baselineRate)}`);
  return verdict(true, `failure rate ${pct(rate)} against a baseline of ${pct(baselineRate)} over ${current.total} attempts`);
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
