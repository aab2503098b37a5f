/**
 * Access logs: one row per request (who, tenant, route template, status,
 * duration, IP, request id), kept off the hot path. The onResponse hook only
 * pushes into a memory buffer; a timer flushes it in ONE transaction of
 * multi-row INSERTs, as the maintenance role — the only role that may insert
 * access lines across tenants (the runtime role never gets cross-tenant
 * INSERT). close() flushes what is left, so a clean shutdown loses no line
 * (the HTTP glue is http/access-log.ts). A crash loses at most one interval; a failed flush is retried with
 * the next one while the buffer stays under its cap.
 */
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Database } from '../../db/client.ts';
import { withMaintenance } from '../../db/transaction.ts';

export interface AccessLine {
  at: Date;
  tenantId: string | null;
  userId: string | null;
  method: string;
  route: string;
  status: number;
  durationMs: number;
  ip: string | null;
  requestId: string;
}

export interface AccessLogWriterOptions {
  db: Database;
  statementTimeoutMs: number;
  flushMs: number;
  log?: Logger | undefined;
  /** Lines kept while the database refuses them; beyond it the oldest are dropped (and counted). */
  maxBuffered?: number;
  /** A flush starts early when this many lines wait. */
  batchSize?: number;
}

export class AccessLogWriter {
  readonly #opts: Required<Omit<AccessLogWriterOptions, 'log'>> & { log: Logger | undefined };
  #buffer: AccessLine[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  written = 0;
  dropped = 0;

  constructor(opts: AccessLogWriterOptions) {
    this.#opts = { maxBuffered: 100_000, batchSize: 2_000, ...opts, log: opts.log };
    this.#timer = setInterval(() => void this.flush(), opts.flushMs);
    this.#timer.unref();
  }

  get pending(): number {
    return this.#buffer.length;
  }

  push(line: AccessLine): void {
    this.#buffer.push(line);
    if (this.#buffer.length > this.#opts.maxBuffered) {
      this.#buffer.shift();
      this.dropped++;
    }
    if (this.#buffer.length >= this.#opts.batchSize) void this.flush();
  }

  /**
   * Buffers the line and resolves once it is committed (or its write failed and it waits for
   * the retry): concurrent callers share one INSERT, like a group commit.
   */
  async pushCommitted(line: AccessLine): Promise<void> {
    this.#buffer.push(line);
    await this.flush();
  }

  /** Writes everything buffered so far; flushes never overlap. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write());
    return this.#flushing;
  }

  /** Stops the timer and writes what is left (Fastify onClose). */
  async close(): Promise<void> {
    if (this.#closed) return this.#flushing;
    this.#closed = true;
    clearInterval(this.#timer);
    // Let onResponse hooks of requests that just finished run first.
    await new Promise((resolve) => setImmediate(resolve));
    await this.flush();
  }

  async #write(): Promise<void> {
    if (this.#buffer.length === 0) return;
    const batch = this.#buffer;
    this.#buffer = [];
    try {
      await insertAccessLines(this.#opts.db, this.#opts.statementTimeoutMs, batch);
      this.written += batch.length;
    } catch (err) {
      this.#opts.log?.error({ err: (err as Error).message, lines: batch.length }, 'access log flush failed; will retry');
      const keep = batch.concat(this.#buffer);
      this.dropped += Math.max(0, keep.length - this.#opts.maxBuffered);
      this.#buffer = keep.slice(-this.#opts.maxBuffered);
    }
  }
}

export async function insertAccessLines(db: Database, statementTimeoutMs: number, lines: readonly AccessLine[]): Promise<void> {
  const tenant = lines.filter((l) => l.tenantId !== null);
  const platform = lines.filter((l) => l.tenantId === null);
  const col = <T>(rows: readonly AccessLine[], f: (l: AccessLine) => T) => sql.param(rows.map(f));
  await withMaintenance(db, { statementTimeoutMs }, async (tx) => {
    if (tenant.length > 0) {
      await tx.query(sql`
        INSERT INTO access_logs (tenant_id, at, user_id, method, route, status, duration_ms, ip, request_id)
        SELECT * FROM unnest(${col(tenant, (l) => l.tenantId)}::uuid[], ${col(tenant, (l) => l.at.toISOString())}::timestamptz[],
          ${col(tenant, (l) => l.userId)}::uuid[], ${col(tenant, (l) => l.method)}::text[], ${col(tenant, (l) => l.route)}::text[],
          ${col(tenant, (l) => l.status)}::smallint[], ${col(tenant, (l) => l.durationMs)}::real[], ${col(tenant, (l) => l.ip)}::text[],
          ${col(tenant, (l) => l.requestId)}::text[])`);
    }
    if (platform.length > 0) {
      await tx.query(sql`
        INSERT INTO platform_access_logs (at, method, route, status, duration_ms, ip, request_id)
        SELECT * FROM unnest(${col(platform, (l) => l.at.toISOString())}::timestamptz[], ${col(platform, (l) => l.method)}::text[],
          ${col(platform, (l) => l.route)}::text[], ${col(platform, (l) => l.status)}::smallint[], ${col(platform, (l) => l.durationMs)}::real[],
          ${col(platform, (l) => l.ip)}::text[], ${col(platform, (l) => l.requestId)}::text[])`);
    }
  });
}
