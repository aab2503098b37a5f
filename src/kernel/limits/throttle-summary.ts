/**
 * Throttled attempts are evidence (issue #22 §2): a brute-force run refused
 * with 429 must show up in the audit trail, but one event per refused request
 * would let the attacker write the log. Refusals are counted in memory per
 * subject (client IP, or the account a request named) and written as one
 * summary event per subject per window.
 */
export type ThrottleReason = 'rate-limit' | 'locked-out';

export interface ThrottleSubject {
  type: 'ip' | 'email';
  /** The IP address, or the email handle (a hash, never the typed address). */
  id: string;
}

export interface ThrottleWindowSummary {
  subject: ThrottleSubject;
  refusals: number;
  byReason: Partial<Record<ThrottleReason, number>>;
  routes: string[];
  windowStart: Date;
  windowEnd: Date;
}

interface Tally {
  subject: ThrottleSubject;
  refusals: number;
  byReason: Partial<Record<ThrottleReason, number>>;
  routes: Set<string>;
}

/** Subjects tracked per window at most: beyond it, refusals are still counted under one overflow subject. */
const MAX_SUBJECTS = 10_000;
const MAX_ROUTES = 20;

export interface ThrottleSummary {
  note(subject: ThrottleSubject, reason: ThrottleReason, route: string): void;
  /** Writes the current window (also on shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function createThrottleSummary(opts: { windowMs: number; record: (summary: ThrottleWindowSummary) => Promise<void>; onError: (err: unknown) => void }): ThrottleSummary {
  let tallies = new Map<string, Tally>();
  let windowStart = new Date();
  let pending: Promise<void> = Promise.resolve();

  const flush = () => {
    const closing = tallies;
    const start = windowStart;
    tallies = new Map();
    windowStart = new Date();
    pending = pending.then(async () => {
      for (const t of closing.values()) {
        await opts.record({ subject: t.subject, refusals: t.refusals, byReason: t.byReason, routes: [...t.routes].sort(), windowStart: start, windowEnd: windowStart })
          .catch(opts.onError);
      }
    });
    return pending;
  };
  const timer = setInterval(() => void flush(), opts.windowMs);
  timer.unref();

  return {
    note(subject, reason, route) {
      let key = `${subject.type}:${subject.id}`;
      if (!tallies.has(key) && tallies.size >= MAX_SUBJECTS) {
        key = 'overflow';
        subject = { type: 'ip', id: 'many' };
      }
      let tally = tallies.get(key);
      if (!tally) tallies.set(key, (tally = { subject, refusals: 0, byReason: {}, routes: new Set() }));
      tally.refusals += 1;
      tally.byReason[reason] = (tally.byReason[reason] ?? 0) + 1;
      if (tally.routes.size < MAX_ROUTES) tally.routes.add(route);
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
