import type { Session } from '../../db/client.ts';
import { maintenanceTx, pace, type RotationOptions } from './rotation-options.ts';

/** The write of one page, run in the next page's transaction; returns the rows it changed. */
export type Write = (t: Session) => Promise<number>;

/**
 * A resumable keyset walk in pages. Each transaction carries the previous
 * page's write and the next page's read, sent together; the CPU work on the
 * current page (opening, re-sealing, verifying) runs while that transaction
 * is in flight. Progress is reported once a page's write has committed;
 * between pages the walk honours the throttle and the abort signal. Returns
 * the rows the writes changed.
 */
export async function walk<R>(o: RotationOptions, p: {
  batch: number;
  read: (t: Session, after: R | undefined) => Promise<R[]>;
  /** The CPU work of one page; returns its write, if it has one. */
  process: (rows: R[]) => Write | undefined;
  committed?: (rows: number) => void;
}): Promise<number> {
  let done = 0;
  let moved = 0;
  let page = await maintenanceTx(o, (t) => p.read(t, undefined));
  let pending: { write: Write | undefined; rows: number } | undefined;
  while (page.length > 0 || pending) {
    const current = page;
    const prev = pending;
    const readNext = current.length >= p.batch;
    const step = prev?.write || readNext
      ? maintenanceTx(o, async (t) => {
        const [n, next] = await Promise.all([prev?.write ? prev.write(t) : 0, readNext ? p.read(t, current[current.length - 1]) : []]);
        return { n, next };
      })
      : Promise.resolve({ n: 0, next: [] as R[] });
    step.catch(() => {}); // awaited below, after the CPU work
    // Let the transaction acquire its connection and send its statements before the CPU work holds the thread.
    await new Promise((r) => setImmediate(r));
    pending = current.length > 0 ? { write: p.process(current), rows: current.length } : undefined;
    const { n, next } = await step;
    page = next;
    if (prev) {
      done += prev.rows;
      moved += n;
      p.committed?.(done);
      if (page.length > 0 || pending) await pace(o);
    }
  }
  return moved;
}
