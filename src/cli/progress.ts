import cliProgress from 'cli-progress';

/**
 * Progress of long CLI work (key rotation, log verification, re-encryption,
 * exports): a bar with rate and ETA on a terminal, a plain line at most every
 * few seconds otherwise (logs, CI), nothing with --json (stdout stays
 * machine-readable). Progress goes to stderr unless the command passes its
 * own stream (key rotation prints its progress lines on stdout, as before).
 */
export interface Progress {
  update(phase: string, done: number, total: number): void;
  /** Ends the current bar and prints one summary line per phase. */
  finish(): void;
}

export interface ProgressOptions {
  json?: boolean;
  stream?: NodeJS.WriteStream;
  /** Minimum interval between plain lines when not on a terminal. */
  plainIntervalMs?: number;
}

export function createProgress(opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.json) return { update() {}, finish() {} };
  const phases = new Map<string, { done: number; total: number; startedAt: number }>();
  const rate = (p: { done: number; startedAt: number }) => p.done / Math.max((Date.now() - p.startedAt) / 1000, 0.001);
  const summary = () => {
    for (const [phase, p] of phases) stream.write(`${phase}: ${p.done}/${p.total} done in ${((Date.now() - p.startedAt) / 1000).toFixed(1)} s (${rate(p).toFixed(0)}/s)\n`);
  };

  if (!stream.isTTY) {
    // At most one line per interval; an update held back is printed when the interval ends (a slow
    // batch still shows where it is), and the last one at once.
    const interval = opts.plainIntervalMs ?? 5_000;
    let lastLine = 0;
    let held: { phase: string; done: number; total: number } | undefined;
    let timer: NodeJS.Timeout | undefined;
    const print = (phase: string, done: number, total: number) => {
      lastLine = Date.now();
      held = undefined;
      const p = phases.get(phase)!;
      const eta = done > 0 && done < total ? `, ETA ${Math.ceil((total - done) / rate({ done, startedAt: p.startedAt }))} s` : '';
      stream.write(`${phase}: ${done}/${total} (${rate({ done, startedAt: p.startedAt }).toFixed(0)}/s${eta})\n`);
    };
    return {
      update(phase, done, total) {
        const p = phases.get(phase) ?? { done: 0, total, startedAt: Date.now() };
        phases.set(phase, { ...p, done, total });
        const now = Date.now();
        if (now - lastLine >= interval || done >= total) return print(phase, done, total);
        held = { phase, done, total };
        timer ??= setTimeout(() => {
          timer = undefined;
          if (held) print(held.phase, held.done, held.total);
        }, interval - (now - lastLine)).unref();
      },
      finish() {
        if (timer) clearTimeout(timer);
        summary();
      },
    };
  }

  const bar = new cliProgress.SingleBar({
    stream,
    format: '{phase} [{bar}] {value}/{total} {percentage}% | {rate}/s | ETA {eta_formatted}',
    hideCursor: true,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  let current: string | undefined;
  return {
    update(phase, done, total) {
      const p = phases.get(phase) ?? { done: 0, total, startedAt: Date.now() };
      phases.set(phase, { ...p, done, total });
      if (current !== phase) {
        if (current !== undefined) bar.stop();
        current = phase;
        bar.start(total, done, { phase, rate: '0' });
      }
      bar.setTotal(total);
      bar.update(done, { phase, rate: rate({ done, startedAt: p.startedAt }).toFixed(0) });
    },
    finish() {
      if (current !== undefined) bar.stop();
      summary();
    },
  };
}
