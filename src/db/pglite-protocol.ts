import { protocol, types, type PGlite } from '@electric-sql/pglite';
import { LRUCache } from 'lru-cache';

const { serialize } = protocol;

export interface ProtocolStatement {
  text: string;
  params: unknown[];
}

type Row = Record<string, unknown>;
type Message = { name: string };
type Field = { name: string; dataTypeID: number };

/** Texts whose parameter types are remembered: the application's statements are a few hundred. */
const TYPES_CACHED = 4_096;

/**
 * Statements into PGlite with one call into its backend each, or several in one.
 *
 * PGlite's `query` makes six calls into the WebAssembly backend per statement
 * (Parse, Describe S, Bind, Describe P, Execute, Sync, one call each), and on the
 * embedded profile those calls are most of a request's database time. The backend
 * takes a whole batch of protocol messages in one call, so here a statement is
 * one call once its parameter types are known (asked once per text with
 * Describe S, then remembered), and statements sent together — a tenant's
 * context and its query — share one call. Outside BEGIN they also share one
 * implicit transaction: PostgreSQL ends it at Sync (protocol §55.2.3, "Extended
 * Query"), so a failure anywhere rolls all of them back. Values are serialised
 * with PGlite's serializers for the described types and rows parsed with its
 * parsers, as `query` does, so callers see the same results.
 *
 * Every call takes PGlite's query lock at once, in call order: a caller that
 * fires BEGIN and its context without awaiting (transaction.ts) gets them run
 * in that order, and PGlite's one result collector is never shared.
 */
export function pgliteProtocol(client: PGlite) {
  const paramTypes = new LRUCache<string, number[]>({ max: TYPES_CACHED });

  /** execProtocol does not check, as `query` does: a closed database answers with PGlite's own error (availability.ts knows it). */
  function open(): void {
    if (client.closed) throw new Error('PGlite is closed');
  }

  async function typesOf(text: string): Promise<number[]> {
    const known = paramTypes.get(text);
    if (known) return known;
    const { messages } = await client.execProtocol(concat([serialize.parse({ text }), serialize.describe({ type: 'S' }), serialize.sync()]));
    const description = messages.find((m) => m.name === 'parameterDescription') as { dataTypeIDs: number[] } | undefined;
    const found = description?.dataTypeIDs ?? [];
    paramTypes.set(text, found);
    return found;
  }

  function serialised(params: readonly unknown[], typeIds: readonly number[]): (string | null)[] {
    return params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serializer = client.serializers[typeIds[i]!];
      return serializer ? serializer(value) : String(value);
    });
  }

  return {
    /** Runs `statements` in order in one call (one implicit transaction outside BEGIN); the rows of the last. */
    run<T>(statements: readonly ProtocolStatement[]): Promise<T[]> {
      return client.runExclusive(async () => {
        open();
        const parts: Uint8Array[] = [];
        for (const { text, params } of statements) {
          const values = params.length ? serialised(params, await typesOf(text)) : [];
          parts.push(serialize.parse({ text }), serialize.bind({ values }), serialize.describe({ type: 'P' }), serialize.execute({}));
        }
        parts.push(serialize.sync());
        const { messages } = await client.execProtocol(concat(parts));
        return rowsOf(messages, client.parsers, statements.length) as T[];
      });
    },
    /**
     * Simple-protocol text (one or several statements, no parameters); the rows of all of them.
     * Anything but transaction control may be DDL, which can change a text's parameter types.
     */
    exec(text: string): Promise<Row[]> {
      if (!/^(BEGIN|COMMIT|ROLLBACK)$/.test(text)) paramTypes.clear();
      return client.runExclusive(async () => {
        open();
        return rowsOf((await client.execProtocol(serialize.query(text))).messages, client.parsers, 0);
      });
    },
  };
}

/**
 * The data rows of a batch, parsed by their row description: with `fromStatement`, only those of
 * that statement (counted by parseComplete) and the ones after it; with 0, all of them.
 */
function rowsOf(messages: readonly Message[], parsers: PGlite['parsers'], fromStatement: number): Row[] {
  let parsed = 0;
  let fields: Field[] = [];
  const rows: Row[] = [];
  for (const m of messages) {
    if (m.name === 'parseComplete') parsed += 1;
    if (parsed < fromStatement) continue;
    if (m.name === 'rowDescription') fields = (m as unknown as { fields: Field[] }).fields;
    else if (m.name === 'dataRow') {
      const values = (m as unknown as { fields: (string | null)[] }).fields;
      const row: Row = {};
      for (let i = 0; i < fields.length; i++) row[fields[i]!.name] = types.parseType(values[i] ?? null, fields[i]!.dataTypeID, parsers);
      rows.push(row);
    }
  }
  return rows;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
