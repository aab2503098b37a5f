import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { sql } from 'drizzle-orm';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPg, type Database } from '../../src/db/client.ts';
import { withTenant } from '../../src/db/transaction.ts';
import { holdWrites, writeTogether } from '../../src/db/write-together.ts';
import { usingPostgres } from '../support/app.ts';

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A pg client whose socket records cork, uncork and write, in order. */
function recordingClient() {
  const log: string[] = [];
  let depth = 0;
  const stream = {
    cork: () => void (depth++, log.push('cork')),
    uncork: () => void (depth--, log.push('uncork')),
    write: (b: string) => void log.push(depth > 0 ? `held ${b}` : `sent ${b}`),
  };
  return { client: { connection: { stream } } as unknown as pg.PoolClient, stream, log };
}

describe('writeTogether', () => {
  it('holds every write of one turn of the event loop and releases them together at its end', async () => {
    const { client, stream, log } = recordingClient();
    writeTogether(client);
    stream.write('BEGIN');
    writeTogether(client); // a second statement of the same turn: no second cork
    stream.write('context');
    await Promise.resolve(); // promise hops stay within the turn: a COMMIT issued after them joins too
    writeTogether(client);
    stream.write('COMMIT');
    expect(log).toEqual(['cork', 'held BEGIN', 'held context', 'held COMMIT']);
    await turn();
    expect(log.at(-1)).toBe('uncork');
    // The next turn starts a batch of its own: nothing is held past a turn.
    writeTogether(client);
    stream.write('next');
    await turn();
    expect(log.slice(4)).toEqual(['uncork', 'cork', 'held next', 'uncork']);
  });

  it('holds each socket on its own: one released batch per socket and turn', async () => {
    const a = recordingClient();
    const b = recordingClient();
    holdWrites(a.stream);
    holdWrites(b.stream);
    holdWrites(a.stream);
    a.stream.write('incr 1');
    b.stream.write('incr 2');
    a.stream.write('incr 3');
    await turn();
    expect(a.log).toEqual(['cork', 'held incr 1', 'held incr 3', 'uncork']);
    expect(b.log).toEqual(['cork', 'held incr 2', 'uncork']);
  });

  it('leaves a client without a socket (not connected yet) alone', () => {
    expect(() => holdWrites(undefined)).not.toThrow();
    expect(() => writeTogether({} as pg.PoolClient)).not.toThrow();
  });
});

// On the real server: a tenant transaction's BEGIN, context and first query leave in one write, its
// last statement and COMMIT in another; the context is prepared once per connection.
// Registered on the PostgreSQL run only: the embedded profile has no socket (PGlite's protocol tests
// cover its one-call opening).
if (usingPostgres) describe('a withTenant transaction on PostgreSQL', () => {
  let db: Database;
  beforeAll(() => {
    db = openPg(process.env.OCSUITE_TEST_DATABASE_URL!, 1);
  });
  afterAll(() => db.close());

  /** Frontend messages of type Parse ('P') in what reaches the socket. */
  const parsesIn = (chunk: unknown) => {
    let n = 0;
    if (Buffer.isBuffer(chunk)) for (let at = 0; at < chunk.length; at += 1 + chunk.readInt32BE(at + 1)) if (chunk[at] === 0x50) n++;
    return n;
  };

  /** Sends to the socket while `work` runs: each _write or _writev (Writable's implementer API) is one. */
  async function writesOf(work: () => Promise<unknown>): Promise<{ writes: number; parses: number }> {
    const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
    const [write, writev] = [proto._write, proto._writev];
    let writes = 0;
    let parses = 0;
    proto._write = function (this: unknown, chunk: unknown, ...rest: unknown[]) {
      writes++;
      parses += parsesIn(chunk);
      return write.call(this, chunk, ...rest);
    };
    proto._writev = function (this: unknown, chunks: unknown, ...rest: unknown[]) {
      writes++;
      for (const c of chunks as Array<{ chunk: unknown }>) parses += parsesIn(c.chunk);
      return writev.call(this, chunks, ...rest);
    };
    try {
      await work();
    } finally {
      [proto._write, proto._writev] = [write, writev];
    }
    return { writes, parses };
  }

  it('sends BEGIN, the context and the first query in one write, and parses the context once', async () => {
    const tenantId = randomUUID();
    const tx = (last: boolean) => withTenant(db, { tenantId }, { statementTimeoutMs: 5_000 }, async (s) => {
      const [row] = await s.query<{ tenant: string }>(sql`SELECT current_setting('app.tenant_id') AS tenant, ${1}::int AS n`);
      expect(row!.tenant).toBe(tenantId);
      if (last) await s.query(sql`SELECT 1`);
    });
    await tx(false); // the connection exists and has prepared the context
    const one = await writesOf(() => tx(false));
    // opening + first query, then COMMIT
    expect(one.writes).toBe(2);
    // The context is not parsed again; only the caller's unnamed query is.
    expect(one.parses).toBe(1);
    const two = await writesOf(() => tx(true));
    expect(two.writes).toBe(3);
  });

  it('reports the failing statement of a batch, and the connection is usable afterwards', async () => {
    const tenantId = randomUUID();
    await expect(withTenant(db, { tenantId }, { statementTimeoutMs: 5_000 }, (s) => s.query(sql`SELECT 1/0`))).rejects.toThrow(/division by zero/);
    const rows = await withTenant(db, { tenantId }, { statementTimeoutMs: 5_000 }, (s) => s.query<{ t: string }>(sql`SELECT current_setting('app.tenant_id') AS t`));
    expect(rows[0]!.t).toBe(tenantId);
  });
});
