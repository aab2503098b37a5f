import type pg from 'pg';

/** The part of a net.Socket this needs. */
export interface CorkableStream { cork(): void; uncork(): void }

const held = new WeakSet<CorkableStream>();

/**
 * Holds a socket's writes until the end of this turn of the event loop, so what
 * is written to it meanwhile leaves in one write(2) instead of one each (Node's
 * documented cork/uncork-on-next-turn pattern). On localhost with two cores the
 * syscall and the wake-up of the server per message are the cost (~50–90 µs
 * each here). `setImmediate`, not `nextTick`: a COMMIT is issued a few promise
 * hops after the statement before it, and the requests read in one poll phase
 * share a connection's batch (the rate-limit counters in Redis), which a
 * nextTick flush would already have sent alone. Nothing waits longer than the
 * rest of the current turn.
 */
export function holdWrites(stream: CorkableStream | undefined | null): void {
  if (!stream || held.has(stream) || typeof stream.cork !== 'function') return;
  stream.cork();
  held.add(stream);
  setImmediate(() => {
    held.delete(stream);
    stream.uncork();
  });
}

/**
 * A pg client's statements of this turn in one write: the ones a transaction pipelines
 * (BEGIN, its context, its first query; a last write and its COMMIT). pg corks the
 * messages of one query itself; this extends that across queries.
 */
export function writeTogether(client: pg.PoolClient): void {
  holdWrites((client as unknown as { connection?: { stream?: CorkableStream } }).connection?.stream);
}
