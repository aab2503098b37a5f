import fs from 'node:fs';
import { lockDataDir } from './data-dir-lock.ts';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { runScopedQuery, statementName } from './scoped-query.ts';
import { writeTogether } from './write-together.ts';
import { pgliteProtocol } from './pglite-protocol.ts';
import { cancelBackend } from './cancel.ts';
import { Availability, unavailableReason } from './availability.ts';

/**
 * One database port over two drivers. PGlite (embedded) is a single connection,
 * so sessions are handed out one at a time; `pg` (server) hands out pooled
 * clients. Callers never see a driver: they get a Session inside a transaction.
 */
export interface Session {
  /** Parameterised query built with drizzle's `sql` tagged template. */
  query<T = Record<string, unknown>>(statement: SQL): Promise<T[]>;
  /** Simple-protocol text of trusted, constant SQL only (migrations, BEGIN/COMMIT). */
  exec(text: string): Promise<void>;
}

export interface Lease extends Session {
  release(broken?: boolean): void;
  /** Text and values from a library that brings its own SQL (the job queue); never application input. */
  raw(text: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
  /**
   * BEGIN and the context statement in one call: on PGlite, where each call into the backend
   * costs; on pg, one write with the context prepared once per connection.
   */
  begin?(context: SQL | undefined): Promise<void>;
  /**
   * Cancels the statement this lease's connection runs now (PostgreSQL: a cancel request;
   * a job's timeout uses it). Absent on PGlite, whose statements run on the caller's thread.
   */
  cancel?(): Promise<void>;
}

export interface Database {
  readonly kind: 'pglite' | 'pg';
  acquire(): Promise<Lease>;
  /**
   * `statement` in one transaction after `context` (a set_config statement):
   * one round trip on PostgreSQL (see scoped-query.ts), sequential on PGlite.
   */
  scopedQuery<T>(context: SQL, statement: SQL): Promise<T[]>;
  /** Whether the server is reachable, as the last statements saw it (availability.ts). */
  readonly availability: Availability;
  close(): Promise<void>;
  /** Connections of the pool (or PGlite's one connection and the sessions queued for it), for /metrics. */
  poolStats?(): PoolStats;
  /** PGlite only: the data folder as a tarball, to start other databases from (`openPglite(…, { template })`). */
  dumpDataDir?(): Promise<Blob>;
}

export interface PoolStats {
  max: number;
  total: number;
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
}

/** Feeds the database's availability: a success ends an outage, an unavailable error starts one. */
function watched(availability: Availability) {
  return {
    ok<T>(value: T): T {
      availability.succeeded();
      return value;
    },
    fail(err: unknown): never {
      const reason = unavailableReason(err);
      if (reason) availability.failed(reason);
      throw err;
    },
  };
}

export interface PgTimeouts {
  /**
   * How long to wait for a pooled connection (a free one, or a new one to be
   * established) before failing with a pool timeout (503). Default 5 s.
   */
  connectMs?: number;
}

const dialect = new PgDialect();

export function toQuery(statement: SQL): { text: string; params: unknown[] } {
  const q = dialect.sqlToQuery(statement);
  return { text: q.sql, params: q.params };
}

/**
 * `template`: a data folder dumped by PGlite's `dumpDataDir` to start from instead of
 * running initdb (the test suite migrates one database and starts every file's from it).
 */
export async function openPglite(dataDir: string | undefined, opts: { template?: Blob } = {}): Promise<Database> {
  if (dataDir) fs.mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o700 });
  const unlock = dataDir ? lockDataDir(dataDir) : () => {};
  let client: PGlite;
  try {
    client = await PGlite.create({ ...(dataDir ? { dataDir } : {}), ...(opts.template ? { loadDataDir: opts.template } : {}) });
  } catch (err) {
    unlock();
    throw err;
  }
  // One connection: a lease is a turn on a queue, so two transactions never interleave.
  let tail: Promise<void> = Promise.resolve();
  const availability = new Availability();
  const w = watched(availability);

  let queued = 0;
  // One call into the backend per statement, not six; every call in call order (pglite-protocol.ts).
  const proto = pgliteProtocol(client);
  const session: Session = {
    async query<T>(statement: SQL) {
      return proto.run<T>([toQuery(statement)]).then(w.ok, w.fail);
    },
    async exec(text: string) {
      await proto.exec(text).then(w.ok, w.fail);
    },
  };
  function raw(text: string, values?: unknown[]): Promise<Record<string, unknown>[]> {
    // Parameterless text may hold several statements (a library's DDL): the simple protocol runs them all.
    return values?.length ? proto.run([{ text, params: values }]) : proto.exec(text);
  }
  async function begin(context: SQL | undefined): Promise<void> {
    await proto.run([{ text: 'BEGIN', params: [] }, ...(context ? [toQuery(context)] : [])]).then(w.ok, w.fail);
  }
  function acquire(): Promise<Lease> {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    queued += 1;
    let released = false;
    const ready = tail.then(() => ({
      ...session, raw, begin, release: () => {
        if (!released) queued -= 1;
        released = true;
        release();
      },
    }));
    tail = tail.then(() => turn);
    return ready;
  }
  return {
    kind: 'pglite',
    availability,
    acquire,
    async scopedQuery<T>(context: SQL, statement: SQL) {
      const lease = await acquire();
      try {
        // One call and one implicit transaction, as on PostgreSQL (scoped-query.ts).
        return await proto.run<T>([toQuery(context), toQuery(statement)]).then(w.ok, w.fail);
      } finally {
        lease.release();
      }
    },
    async close() {
      await tail;
      await client.close();
      unlock();
    },
    dumpDataDir: () => client.dumpDataDir('none'),
    poolStats: () => ({ max: 1, total: 1, idle: queued === 0 ? 1 : 0, waiting: Math.max(0, queued - 1) }),
  };
}

export function openPg(url: string, max: number, timeouts: PgTimeouts = {}): Database {
  // Pipeline mode: statements of one transaction are written without waiting for
  // the previous reply, so the tenant opening travels with the first query
  // (DESIGN.md §8). PostgreSQL still runs them in order and aborts the rest of
  // the transaction at the first error.
  // connectionTimeoutMillis bounds both waiting for a free client and opening a new
  // connection (pg's default is to wait forever: a request then outlives its timeout);
  // TCP keep-alive notices a server that vanished without closing the socket.
  const pool = new pg.Pool({
    connectionString: url, max, application_name: 'ocsuite', pipeline: true,
    connectionTimeoutMillis: timeouts.connectMs ?? 5_000, keepAlive: true, keepAliveInitialDelayMillis: 10_000,
  } as pg.PoolConfig);
  // A broken idle client must not crash the process; the pool drops it.
  pool.on('error', () => {});
  const availability = new Availability();
  const w = watched(availability);
  // A checked-out client whose server crashes (kill -9, `pg_ctl -m immediate`) emits 'error' (EPIPE,
  // "Connection terminated unexpectedly") with no pool listener attached: unhandled, that kills the
  // API process. Its pending queries reject anyway (→ 503), so the event itself is only swallowed.
  const guarded = new WeakSet<pg.PoolClient>();
  const guard = (client: pg.PoolClient) => {
    if (!guarded.has(client)) {
      client.on('error', () => {});
      guarded.add(client);
    }
    return client;
  };
  const connect = () => pool.connect().then(guard).then(w.ok, w.fail);
  return {
    kind: 'pg',
    availability,
    async acquire() {
      const client = await connect();
      return {
        async query<T>(statement: SQL) {
          const { text, params } = toQuery(statement);
          writeTogether(client);
          const result = await client.query(text, params).then(w.ok, w.fail);
          return result.rows as T[];
        },
        async exec(text: string) {
          writeTogether(client);
          await client.query(text).then(w.ok, w.fail);
        },
        async begin(context: SQL | undefined) {
          // One write; the context's text is constant, so it is parsed once per connection.
          writeTogether(client);
          const opening = [client.query('BEGIN')];
          if (context) {
            const { text, params } = toQuery(context);
            opening.push(client.query({ name: statementName(text), text, values: params }));
          }
          await Promise.all(opening.map((q) => q.then(w.ok, w.fail)));
        },
        async raw(text: string, values?: unknown[]) {
          const result = await client.query(text, values).then(w.ok, w.fail);
          return (Array.isArray(result) ? result.flatMap((r) => r.rows) : result.rows) as Record<string, unknown>[];
        },
        release(broken?: boolean) {
          client.release(broken ? new Error('discarded after a failed transaction') : undefined);
        },
        async cancel() {
          const { processID, secretKey } = client as unknown as { processID: number | null; secretKey: number | null };
          if (processID !== null && secretKey !== null) await cancelBackend(url, processID, secretKey);
        },
      };
    },
    async scopedQuery<T>(context: SQL, statement: SQL) {
      const client = await connect();
      let broken = false;
      try {
        const q = toQuery(statement);
        const c = toQuery(context);
        return w.ok(await runScopedQuery<T>(client, { text: c.text, values: c.params }, { text: q.text, values: q.params }));
      } catch (err) {
        broken = !(err instanceof pg.DatabaseError) || unavailableReason(err) !== undefined;
        return w.fail(err);
      } finally {
        client.release(broken ? new Error('discarded after an unexpected failure') : undefined);
      }
    },
    async close() {
      await pool.end();
    },
    poolStats: () => ({ max, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
}
