import type { SQL } from 'drizzle-orm';
import { SpanKind } from '@opentelemetry/api';
import { toQuery, type Database, type Lease } from '../../db/client.ts';
import type { Tracing } from './tracing.ts';

/** The statement's verb (SELECT, INSERT, WITH, …): the only part of SQL a span carries; never text or parameters. */
export function sqlVerb(text: string): string {
  const m = /^\s*(?:\/\*[\s\S]*?\*\/\s*)?([A-Za-z]{2,12})\b/.exec(text);
  return m ? m[1]!.toUpperCase() : 'OTHER';
}

async function traced<T>(tracing: Tracing, name: string, text: string, run: () => Promise<T>): Promise<T> {
  const span = tracing.start(name, SpanKind.CLIENT, { 'db.system.name': 'postgresql', 'db.operation.name': sqlVerb(text) });
  try {
    return await run();
  } catch (err) {
    // The SQLSTATE (23505, 42501, …) is a code; the message can quote values and is not kept.
    const code = (err as { code?: unknown }).code;
    tracing.fail(span, typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? `sqlstate.${code}` : 'db-error');
    throw err;
  } finally {
    span.end();
  }
}

const traced_ = new WeakSet<Database>();

/** Whether `db` is a tracing wrapper (tests: with tracing off the platform holds the driver's own database). */
export const isTracedDatabase = (db: Database): boolean => traced_.has(db);

/**
 * The database with one span per statement (BEGIN/COMMIT/ROLLBACK excluded):
 * boot wraps the database only when tracing is on, so without it nothing of
 * this runs.
 */
export function traceDatabase(db: Database, tracing: Tracing): Database {
  const textOf = (statement: SQL) => toQuery(statement).text;
  const wrapped: Database = {
    kind: db.kind,
    availability: db.availability,
    async acquire(): Promise<Lease> {
      const lease = await db.acquire();
      return {
        query: (statement) => traced(tracing, 'db.query', textOf(statement), () => lease.query(statement)),
        exec: (text) => lease.exec(text),
        raw: (text, values) => traced(tracing, 'db.raw', text, () => lease.raw(text, values)),
        release: (broken) => lease.release(broken),
      };
    },
    scopedQuery: (context, statement) => traced(tracing, 'db.scoped_query', textOf(statement), () => db.scopedQuery(context, statement)),
    close: () => db.close(),
    ...(db.poolStats ? { poolStats: () => db.poolStats!() } : {}),
  };
  traced_.add(wrapped);
  return wrapped;
}
