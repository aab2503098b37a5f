import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPg, openPglite, type Database } from '../../src/db/client.ts';
import { ScopedQuery } from '../../src/db/scoped-query.ts';
import { usingPostgres } from '../support/app.ts';

/**
 * ScopedQuery drives pg internals (Query#submit/prepare, Connection#parse/bind/describe/execute,
 * parsedStatements, utils.prepareValue), which is why package.json pins pg exactly. The wire tests
 * run on every profile and fail if a pg upgrade changes what those internals send; the behaviour
 * tests run through Database#scopedQuery on the suite's profile (on PostgreSQL, one pooled
 * connection, so "afterwards" is the same connection).
 */
const INJECTION = "'); DROP TABLE scoped_probe; --";

/** A Connection whose socket records what pg would send, message by message. */
function recordingConnection() {
  const sent: Array<'cork' | 'uncork' | Buffer> = [];
  const stream = {
    writable: true,
    write: (chunk: Buffer) => sent.push(Buffer.from(chunk)) > 0,
    cork: () => sent.push('cork'),
    uncork: () => sent.push('uncork'),
  };
  return { connection: new pg.Connection({ stream: () => stream as unknown as Duplex }), sent };
}

/** Frontend messages (type byte, int32 length, body) out of the recorded writes. */
function messages(sent: Array<'cork' | 'uncork' | Buffer>): Array<{ type: string; body: Buffer }> {
  const bytes = Buffer.concat(sent.filter((s): s is Buffer => Buffer.isBuffer(s)));
  const out: Array<{ type: string; body: Buffer }> = [];
  for (let at = 0; at < bytes.length; at += 1 + bytes.readInt32BE(at + 1)) {
    out.push({ type: String.fromCharCode(bytes[at]!), body: bytes.subarray(at + 5, at + 1 + bytes.readInt32BE(at + 1)) });
  }
  return out;
}

const parseMessage = (body: Buffer) => {
  const [name, text] = body.toString('utf8').split('\0');
  return { name, text };
};

/** Bind: portal, statement, parameter formats, then each parameter as int32 length + bytes (-1 is NULL). */
function bindMessage(body: Buffer) {
  let at = body.indexOf(0) + 1;
  const statement = body.toString('utf8', at, body.indexOf(0, at));
  at = body.indexOf(0, at) + 1;
  at += 2 + 2 * body.readInt16BE(at);
  const count = body.readInt16BE(at);
  at += 2;
  const values: Array<string | null> = [];
  for (let n = 0; n < count; n++) {
    const length = body.readInt32BE(at);
    at += 4;
    values.push(length < 0 ? null : body.toString('utf8', at, at + length));
    at += Math.max(length, 0);
  }
  return { statement, values };
}

const submit = (q: ScopedQuery, connection: pg.Connection) => (q as unknown as pg.Query).submit(connection);

describe('ScopedQuery on the wire (the pg internals it relies on)', () => {
  const context = { text: 'SELECT set_config($1, $2, true), $3::text[], $4::int, $5::text', values: ['app.probe', INJECTION, [1, 2], 42, null] };
  const query = { text: 'SELECT $1::text AS echoed', values: [INJECTION] };

  it('sends the context and the statement as one corked batch closed by a single Sync, every value bound', () => {
    const { connection, sent } = recordingConnection();
    submit(new ScopedQuery(context, query, () => {}), connection);
    expect(sent[0]).toBe('cork');
    expect(sent.at(-1)).toBe('uncork');
    const m = messages(sent);
    expect(m.map((x) => x.type).join('')).toBe('PBDEPBDES');

    const contextParse = parseMessage(m[0]!.body);
    expect(contextParse.name).toMatch(/^ocsuite_scope_[0-9a-f]{16}$/);
    expect(contextParse.text).toBe(context.text);
    // utils.prepareValue maps values the way pg always does (an array to a literal, a number to text).
    expect(bindMessage(m[1]!.body)).toEqual({ statement: contextParse.name, values: ['app.probe', INJECTION, '{"1","2"}', '42', null] });
    expect(parseMessage(m[4]!.body)).toEqual({ name: '', text: query.text });
    expect(bindMessage(m[5]!.body)).toEqual({ statement: '', values: [INJECTION] });
  });

  it('parses the context statement once per connection', () => {
    const { connection, sent } = recordingConnection();
    submit(new ScopedQuery(context, query, () => {}), connection);
    sent.length = 0;
    submit(new ScopedQuery(context, query, () => {}), connection);
    expect(messages(sent).map((x) => x.type).join('')).toBe('BDEPBDES');
  });

  it('is the Connection a pg.Client sends through', () => {
    const client = new pg.Client();
    expect(client.connection).toBeInstanceOf(pg.Connection);
    expect((client.connection as unknown as { parsedStatements: object }).parsedStatements).toEqual({});
  });
});

describe(`Database#scopedQuery on ${usingPostgres ? 'PostgreSQL (one round trip)' : 'PGlite (sequential)'}`, () => {
  let db: Database;
  let pid: number;
  const tenant = randomUUID();
  const context = sql`SELECT set_config('app.tenant_id', ${tenant}, true)`;
  /** What the (one) pooled connection holds after a scoped query. */
  const afterwards = async () => {
    const lease = await db.acquire();
    try {
      const [row] = await lease.query<{ tenant: string | null; pid: number; written: number }>(sql`
        SELECT nullif(current_setting('app.tenant_id', true), '') AS tenant, pg_backend_pid() AS pid,
               (SELECT count(*)::int FROM scoped_probe) AS written`);
      return row;
    } finally {
      lease.release();
    }
  };

  beforeAll(async () => {
    db = usingPostgres ? openPg(process.env.OCSUITE_TEST_DATABASE_URL!, 1) : await openPglite(undefined);
    const lease = await db.acquire();
    // A temporary table: it lives on this one connection only, so no other test file sees it.
    await lease.exec('CREATE TEMP TABLE scoped_probe (v text)');
    pid = (await lease.query<{ pid: number }>(sql`SELECT pg_backend_pid() AS pid`))[0]!.pid;
    lease.release();
  });
  afterAll(() => db?.close());

  it('runs the statement inside the context, and the connection keeps nothing afterwards', async () => {
    const [inside] = await db.scopedQuery<{ tenant: string; pid: number }>(context, sql`SELECT current_setting('app.tenant_id') AS tenant, pg_backend_pid() AS pid`);
    expect(inside).toEqual({ tenant, pid });
    expect(await afterwards()).toEqual({ tenant: null, pid, written: 0 });
  });

  it('rolls back both when the statement fails, and when the context fails; the connection stays in the pool', async () => {
    const writingContext = sql`WITH w AS (INSERT INTO scoped_probe VALUES ('context') RETURNING v) SELECT set_config('app.tenant_id', ${tenant}, true) FROM w`;
    await expect(db.scopedQuery(writingContext, sql`SELECT 1 / 0`)).rejects.toThrow(/division by zero/);
    expect(await afterwards()).toEqual({ tenant: null, pid, written: 0 });
    await expect(db.scopedQuery(sql`SELECT 1 / 0`, sql`INSERT INTO scoped_probe VALUES ('statement')`)).rejects.toThrow(/division by zero/);
    expect(await afterwards()).toEqual({ tenant: null, pid, written: 0 });
  });

  it('binds values as data in both statements', async () => {
    const [row] = await db.scopedQuery<{ setting: string; echoed: string }>(
      sql`SELECT set_config('app.probe', ${INJECTION}, true)`,
      sql`SELECT current_setting('app.probe') AS setting, ${INJECTION}::text AS echoed`,
    );
    expect(row).toEqual({ setting: INJECTION, echoed: INJECTION });
    expect(await afterwards()).toEqual({ tenant: null, pid, written: 0 });
  });
});
