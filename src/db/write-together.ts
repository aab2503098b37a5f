import type pg from 'pg';

type Stream = { cork(): void; uncork(): void; destroyed?: boolean };
const corked = new WeakSet<Stream>();

/**
 * Holds a connection's writes until the end of this turn of the event loop, so
 * the statements a transaction pipelines (BEGIN, its context, its first query;
 * a last write and its COMMIT) leave in one write(2) instead of one each. pg
 * corks the messages of one query itself; this extends it across queries
 * (Node's documented cork/uncork-on-next-turn pattern). On localhost with two
 * cores the syscall and the wake-up of the server per message are the cost.
 * `setImmediate`, not `nextTick`: a COMMIT is issued a few promise hops after the
 * statement before it, which a nextTick flush would already have sent alone.
 */
export function writeTogether(client: pg.PoolClient): void {
  const stream = (client as unknown as { connection?: { stream?: Stream } }).connection?.stream;
  if (!stream || corked.has(stream) || typeof stream.cork !== 'function') return;
  stream.cork();
  corked.add(stream);
  setImmediate(() => {
    corked.delete(stream);
    stream.uncork();
  });
}
