import { createHash } from 'node:crypto';
import pg from 'pg';

// pg internals, not its public API: package.json pins pg exactly, and test/db/scoped-query.test.ts
// fails if an upgrade changes what they send.
type Connection = {
  parsedStatements: Record<string, string>;
  parse(m: { text: string; name: string; types: unknown[] }): void;
  bind(m: { portal: string; statement: string; values: unknown[]; valueMapper: unknown }): void;
  describe(m: { type: 'P'; name: string }): void;
  execute(m: { portal: string; rows: number }): void;
};

const BaseQuery = (pg as unknown as { Query: new (config: object) => { prepare(c: Connection): void } }).Query;
const prepareValue = (pg as unknown as { utils?: { prepareValue: unknown } }).utils?.prepareValue;

const names = new Map<string, string>();
/** A stable name for a constant statement text (prepared once per connection). */
export const statementName = (text: string) => {
  let name = names.get(text);
  if (!name) names.set(text, (name = `ocsuite_scope_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`));
  return name;
};

/**
 * Two statements in ONE extended-protocol batch closed by a single Sync
 * (PostgreSQL protocol §55.2.3: everything before Sync is one implicit
 * transaction). The first sets the role and tenant with bound parameters, the
 * second is the caller's query: one round trip, no BEGIN/COMMIT, and no value
 * ever spliced into SQL text. An error in either aborts both; the transaction-
 * local settings end at the Sync, so the pooled connection keeps no state.
 */
export class ScopedQuery extends BaseQuery {
  readonly #context: { text: string; values: unknown[] };

  constructor(
    context: { text: string; values: unknown[] },
    query: { text: string; values: unknown[] },
    callback: (err: Error | null, results: Array<{ rows: unknown[] }>) => void,
  ) {
    super({ text: query.text, values: query.values, queryMode: 'extended', callback });
    this.#context = context;
  }

  override prepare(connection: Connection): void {
    // The context statement is constant text: prepare it once per connection.
    const name = statementName(this.#context.text);
    if (connection.parsedStatements[name] !== this.#context.text) {
      connection.parse({ text: this.#context.text, name, types: [] });
      connection.parsedStatements[name] = this.#context.text;
    }
    connection.bind({ portal: '', statement: name, values: this.#context.values, valueMapper: prepareValue });
    connection.describe({ type: 'P', name: '' });
    connection.execute({ portal: '', rows: 0 });
    super.prepare(connection);
  }
}

/** Runs a ScopedQuery on a client and resolves with the caller's rows (the second result). */
export function runScopedQuery<T>(client: pg.PoolClient, context: { text: string; values: unknown[] }, query: { text: string; values: unknown[] }): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const q = new ScopedQuery(context, query, (err, results) => {
      if (err) return reject(err);
      if (!Array.isArray(results) || results.length !== 2) return reject(new Error('scoped query: unexpected result shape'));
      resolve(results[1]!.rows as T[]);
    });
    client.query(q as never);
  });
}
