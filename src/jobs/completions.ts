import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { queryAsTenant } from '../db/transaction.ts';

interface Pending {
  jobId: string;
  queue: string;
  done: () => void;
  failed: (err: unknown) => void;
}

/**
 * Completion records of tenant jobs whose handler ran no statement (issue #21
 * §3): there is no work in their transaction for the record to commit with, so
 * the transaction ends read-only — no WAL flush — and the record is written
 * here, grouped: records that arrive while a write is under way go together in
 * the next one (one transaction per tenant). The job waits for its record, so
 * it is durable before the driver is told the job completed, as it was when
 * the record committed in the job's own transaction.
 */
export class CompletionWriter {
  readonly #db: Database;
  readonly #pending = new Map<string, Pending[]>();
  #writing: Promise<void> | undefined;

  constructor(db: Database) {
    this.#db = db;
  }

  record(tenantId: string, jobId: string, queue: string): Promise<void> {
    return new Promise<void>((done, failed) => {
      const list = this.#pending.get(tenantId) ?? [];
      list.push({ jobId, queue, done, failed });
      this.#pending.set(tenantId, list);
      this.#writing ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    // Let the records of jobs finishing at the same moment join the first write.
    await new Promise((r) => setImmediate(r));
    while (this.#pending.size > 0) {
      const batch = [...this.#pending];
      this.#pending.clear();
      await Promise.all(batch.map(([tenantId, list]) => this.#write(tenantId, list)));
    }
    this.#writing = undefined;
  }

  async #write(tenantId: string, list: Pending[]): Promise<void> {
    try {
      // One round trip on PostgreSQL: the transaction's opening, the insert and its COMMIT pipelined.
      await queryAsTenant(this.#db, { tenantId }, { statementTimeoutMs: 10_000 }, sql`
        INSERT INTO job_completions (tenant_id, job_id, queue)
        SELECT ${tenantId}, r->>'j', r->>'q' FROM jsonb_array_elements(${JSON.stringify(list.map((p) => ({ j: p.jobId, q: p.queue })))}::jsonb) AS r
        ON CONFLICT DO NOTHING`);
      for (const p of list) p.done();
    } catch (err) {
      // Each job fails its attempt (and is retried): none is acknowledged without its record.
      for (const p of list) p.failed(err);
    }
  }
}
