/**
 * A database that cannot be reached is an outage, not a bug (issue #23 §2):
 * every request during it is answered 503 with Retry-After, and the log gets
 * one warning when it starts and one line when it ends — not an error with a
 * stack per request. This file knows what the two drivers (`pg`, PGlite) throw
 * when the server is gone, and keeps the up/down state of one database.
 */

/** SQLSTATEs that mean the server, not the statement, is the problem. */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server is shutting down (pg_ctl stop, a failover)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or in recovery
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '08000', '08001', '08003', '08004', '08006', '08007', '08P01', // connection_exception class
  '25006', // read_only_sql_transaction: a standby after failover answers writes this way until promoted
]);

/** Socket-level errors of a connection that failed or broke. */
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);

/** Messages of `pg`, `pg-pool` and PGlite for a connection or pool that cannot serve (they carry no code). */
const UNAVAILABLE_MESSAGES: readonly [RegExp, UnavailableReason][] = [
  [/^timeout exceeded when trying to connect$/, 'pool-timeout'],
  [/^Connection terminated due to connection timeout$/, 'connect-timeout'],
  [/^Connection terminated( unexpectedly)?$/, 'connection-lost'],
  [/^Client has encountered a connection error and is not queryable$/, 'connection-lost'],
  [/^Client was closed and is not queryable$/, 'connection-lost'],
  [/^Query read timeout$/, 'query-timeout'],
  [/^Cannot use a pool after calling end on the pool$/, 'closed'],
  [/^PGlite is closed$/, 'closed'],
];

export type UnavailableReason = 'unreachable' | 'shutting-down' | 'starting-up' | 'too-many-connections' | 'pool-timeout' | 'connect-timeout' | 'connection-lost' | 'query-timeout' | 'closed';

function reasonOfCode(code: unknown): UnavailableReason | undefined {
  if (typeof code !== 'string') return undefined;
  if (UNAVAILABLE_ERRNOS.has(code)) return 'unreachable';
  if (!UNAVAILABLE_SQLSTATES.has(code)) return undefined;
  if (code === '57P01' || code === '57P02' || code === '25006') return 'shutting-down';
  if (code === '57P03') return 'starting-up';
  if (code.startsWith('53')) return 'too-many-connections';
  return 'connection-lost';
}

/**
 * Why `err` means the database is unavailable, or undefined when it is an
 * ordinary error. Looks through `cause` and AggregateError members (Node's
 * happy-eyeballs connect reports ECONNREFUSED of ::1 and 127.0.0.1 together).
 */
export function unavailableReason(err: unknown, depth = 0): UnavailableReason | undefined {
  if (typeof err !== 'object' || err === null || depth > 4) return undefined;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  const byCode = reasonOfCode(e.code);
  if (byCode) return byCode;
  if (typeof e.message === 'string') {
    for (const [pattern, reason] of UNAVAILABLE_MESSAGES) if (pattern.test(e.message)) return reason;
  }
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const r = unavailableReason(inner, depth + 1);
      if (r) return r;
    }
  }
  return e.cause === undefined ? undefined : unavailableReason(e.cause, depth + 1);
}

export interface OutageListener {
  /** The first unavailable error after the database was up. */
  down(reason: UnavailableReason): void;
  /** The first success after an outage. */
  up(outageMs: number, failures: number): void;
}

/**
 * The up/down state of one database, fed by the driver (a query that succeeded)
 * and by whoever sees an unavailable error (the HTTP error handler, readiness).
 * Only transitions reach the listeners: one line per outage each way.
 */
export class Availability {
  #downSince: number | undefined;
  #failures = 0;
  readonly #listeners = new Set<OutageListener>();

  get isDown(): boolean {
    return this.#downSince !== undefined;
  }

  listen(listener: OutageListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** An unavailable error was seen; returns true when it started an outage. */
  failed(reason: UnavailableReason): boolean {
    this.#failures++;
    if (this.#downSince !== undefined) return false;
    this.#downSince = Date.now();
    for (const l of this.#listeners) l.down(reason);
    return true;
  }

  /** The database answered. Cheap on the hot path: one comparison while it is up. */
  succeeded(): void {
    if (this.#downSince === undefined) return;
    const ms = Date.now() - this.#downSince;
    const failures = this.#failures;
    this.#downSince = undefined;
    this.#failures = 0;
    for (const l of this.#listeners) l.up(ms, failures);
  }
}
