import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FailureMonitor } from '../../src/jobs/monitor.ts';
import { DEFAULT_SPIKE, detectFailureSpike, type Window } from '../../src/jobs/spike.ts';

/** Failure-spike detection: pure decisions on synthetic series, then the windowing around them. */
const steady = (n: number, total: number, failed: number): Window[] => Array.from({ length: n }, () => ({ total, failed }));

describe('detectFailureSpike', () => {
  it('fires on a synthetic spike over a quiet baseline', () => {
    const v = detectFailureSpike(steady(10, 100, 2), { total: 100, failed: 40 });
    expect(v.spike).toBe(true);
    expect(v.rate).toBe(0.4);
    expect(v.baselineRate).toBe(0.02);
    expect(v.reason).toContain('40.0 %');
  });

  it('stays quiet on steady load, whatever its level', () => {
    for (const [total, failed] of [[100, 0], [100, 2], [1000, 30], [50, 15]] as const) {
      const history = steady(10, total, failed);
      expect(detectFailureSpike(history, { total, failed }).spike, `${failed}/${total}`).toBe(false);
    }
  });

  it('stays quiet under the minimum-volume floor, however bad the ratio', () => {
    const v = detectFailureSpike(steady(10, 100, 0), { total: 6, failed: 6 });
    expect(v).toMatchObject({ spike: false, reason: 'volume 6 below the floor of 20' });
    expect(detectFailureSpike(steady(10, 100, 0), { total: 200, failed: 4 }).spike).toBe(false);
  });

  it('needs a baseline before it fires (a fresh process does not alert on its first bad minute)', () => {
    expect(detectFailureSpike([], { total: 100, failed: 90 }).spike).toBe(false);
    expect(detectFailureSpike(steady(2, 100, 1), { total: 100, failed: 90 }).spike).toBe(false);
  });

  it('compares with the baseline: 40 % is no spike where 30 % is normal, nor is 0.1 % → 0.3 %', () => {
    expect(detectFailureSpike(steady(10, 100, 30), { total: 100, failed: 40 }).spike).toBe(false);
    expect(detectFailureSpike(steady(10, 10_000, 10), { total: 10_000, failed: 30 }).spike).toBe(false);
  });

  it('never fires on a steady series with jitter (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ total: fc.integer({ min: 50, max: 500 }), pct: fc.integer({ min: 0, max: 8 }) }), { minLength: 4, maxLength: 20 }),
      fc.integer({ min: 50, max: 500 }),
      fc.integer({ min: 0, max: 8 }),
      (hist, total, pct) => {
        const history = hist.map((h) => ({ total: h.total, failed: Math.floor((h.total * h.pct) / 100) }));
        return !detectFailureSpike(history, { total, failed: Math.floor((total * pct) / 100) }).spike;
      },
    ));
  });

  it('always fires when a quiet queue with volume turns mostly failing (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 20, max: 2_000 }), fc.integer({ min: 50, max: 100 }), (total, pct) => {
      const failed = Math.ceil((total * pct) / 100);
      return failed < DEFAULT_SPIKE.minFailures || detectFailureSpike(steady(5, 200, 1), { total, failed }).spike;
    }));
  });
});

describe('FailureMonitor', () => {
  function feed(m: FailureMonitor, queue: string, ok: number, failed: number) {
    for (let i = 0; i < ok; i++) m.observe(queue, 'completed');
    for (let i = 0; i < failed; i++) m.observe(queue, i % 2 ? 'dead' : 'failed');
  }

  it('alerts once per spike per queue, with a cooldown, and only for the queue that spiked', () => {
    const alerts: Array<{ queue: string; failed: number }> = [];
    const m = new FailureMonitor({ cooldownWindows: 3, onSpike: (queue, _v, w) => alerts.push({ queue, failed: w.failed }) });
    for (let i = 0; i < 5; i++) {
      feed(m, 'mail.send', 98, 2);
      feed(m, 'alerts.deliver', 50, 1);
      m.tick();
    }
    expect(alerts).toEqual([]);
    feed(m, 'mail.send', 40, 60);
    feed(m, 'alerts.deliver', 50, 1);
    m.tick();
    expect(alerts).toEqual([{ queue: 'mail.send', failed: 60 }]);
    // Still failing: inside the cooldown, no second alert; the spike did not become the baseline.
    feed(m, 'mail.send', 40, 60);
    m.tick();
    expect(alerts).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      feed(m, 'mail.send', 98, 2);
      m.tick();
    }
    feed(m, 'mail.send', 30, 70);
    m.tick();
    expect(alerts).toEqual([{ queue: 'mail.send', failed: 60 }, { queue: 'mail.send', failed: 70 }]);
  });

  it('stays quiet on steady load with occasional failures', () => {
    const alerts: string[] = [];
    const m = new FailureMonitor({ onSpike: (q) => alerts.push(q) });
    for (let i = 0; i < 60; i++) {
      feed(m, 'q', 95 + (i % 7), i % 5);
      m.tick();
    }
    expect(alerts).toEqual([]);
  });

  it('does not learn its baseline from failing windows right after start (issue #22 §5)', () => {
    const alerts: number[] = [];
    const m = new FailureMonitor({ cooldownWindows: 0, onSpike: (_q, _v, w) => alerts.push(w.failed) });
    // The process starts in the middle of an incident: no baseline yet, so nothing may fire…
    for (let i = 0; i < 4; i++) {
      feed(m, 'q', 40, 60);
      m.tick();
    }
    expect(alerts).toEqual([]);
    // …and those windows did not become "normal": healthy windows build the baseline…
    for (let i = 0; i < 3; i++) {
      feed(m, 'q', 98, 2);
      m.tick();
    }
    // …against which the same failure rate is a spike (learnt from the start, 60 % would be the norm).
    feed(m, 'q', 40, 60);
    m.tick();
    expect(alerts).toEqual([60]);
  });

  it('does not learn its baseline from failing windows after an idle period (issue #22 §5)', () => {
    const alerts: number[] = [];
    const m = new FailureMonitor({ historyWindows: 5, cooldownWindows: 0, onSpike: (_q, _v, w) => alerts.push(w.failed) });
    for (let i = 0; i < 5; i++) {
      feed(m, 'q', 98, 2);
      m.tick();
    }
    // Idle for longer than the history holds: empty windows do not push the healthy baseline out…
    for (let i = 0; i < 20; i++) m.tick();
    // …so the first busy window after the pause, failing, is compared with it and fires,
    feed(m, 'q', 30, 70);
    m.tick();
    expect(alerts).toEqual([70]);
    // and a queue idle since it started learns nothing from failing windows either.
    const fresh: number[] = [];
    const n = new FailureMonitor({ historyWindows: 5, cooldownWindows: 0, onSpike: (_q, _v, w) => fresh.push(w.failed) });
    feed(n, 'r', 98, 2);
    n.tick();
    for (let i = 0; i < 20; i++) n.tick();
    for (let i = 0; i < 3; i++) {
      feed(n, 'r', 30, 70);
      n.tick();
    }
    for (let i = 0; i < 2; i++) {
      feed(n, 'r', 98, 2);
      n.tick();
    }
    feed(n, 'r', 30, 70);
    n.tick();
    expect(fresh).toEqual([70]);
  });

  it('marks what may enter the baseline: not empty, not spiking, not failing without a baseline', () => {
    expect(detectFailureSpike(steady(5, 100, 1), { total: 0, failed: 0 }).learn).toBe(false);
    expect(detectFailureSpike(steady(5, 100, 1), { total: 100, failed: 60 }).learn).toBe(false);
    expect(detectFailureSpike([], { total: 100, failed: 60 }).learn).toBe(false);
    expect(detectFailureSpike([], { total: 100, failed: 2 }).learn).toBe(true);
    expect(detectFailureSpike(steady(5, 100, 30), { total: 100, failed: 40 }).learn).toBe(true);
  });
});
