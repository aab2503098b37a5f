import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPglite, type Database } from '../../src/db/client.ts';
import { pgliteProtocol } from '../../src/db/pglite-protocol.ts';
import { withTenant } from '../../src/db/transaction.ts';

/**
 * The embedded profile's statements go into PGlite's backend as whole protocol
 * batches (src/db/pglite-protocol.ts) instead of through PGlite's `query`. The
 * results must be exactly PGlite's own, a batch must be one transaction, calls
 * fired without awaiting must run in call order, and a schema change must not
 * leave a stale parameter type behind. PGlite is the subject here, on every profile.
 */
let client: PGlite;
let db: Database;

beforeAll(async () => {
  client = await PGlite.create();
  db = await openPglite(undefined);
});
afterAll(async () => {
  await client?.close();
  await db?.close();
});

describe('PGlite in protocol batches', () => {
  it("returns what PGlite's own query returns, type by type", async () => {
    const proto = pgliteProtocol(client);
    const text = `SELECT $1::int AS i, $2::bigint AS big, $3::numeric AS num, $4::bool AS b, $5::timestamptz AS at, $6::jsonb AS doc,
      $7::bytea AS bytes, $8::text[] AS words, $9::uuid[] AS ids, $10::text AS nothing, $11::date AS day, $12::real AS r, 'x' AS same, 'y' AS same`;
    const params = [42, '9007199254740993', '12345678901234567890.5', true, new Date('2026-12-02T10:00:00.123Z'), { a: [1, 'two', null] },
      Buffer.from([0, 1, 254, 255]), ['a', 'b c', '"q"', null], ['6c0421a5-d29b-462c-a992-1b281d452aae'], null, '2026-12-02', 1.5];
    const ours = await proto.run([{ text, params }]);
    const theirs = (await client.query(text, params)).rows;
    expect(ours).toEqual(theirs);
    expect(ours[0]).toMatchObject({ i: 42, b: true, doc: { a: [1, 'two', null] }, words: ['a', 'b c', '"q"', null], nothing: null, same: 'y' });
  });

  it('runs a batch as one transaction outside BEGIN: a failing statement takes the earlier one with it', async () => {
    const proto = pgliteProtocol(client);
    await proto.exec('CREATE TABLE batch_probe (n int PRIMARY KEY)');
    await expect(proto.run([{ text: 'INSERT INTO batch_probe VALUES ($1)', params: [1] }, { text: 'INSERT INTO batch_probe VALUES ($1)', params: [1] }])).rejects.toMatchObject({ code: '23505' });
    expect(await proto.run([{ text: 'SELECT count(*)::int AS n FROM batch_probe', params: [] }])).toEqual([{ n: 0 }]);
    // The settings of a batch are its own: set_config(…, true) ends with it.
    expect(await proto.run([{ text: "SELECT set_config('app.tenant_id', $1, true)", params: ['t1'] }, { text: "SELECT current_setting('app.tenant_id', true) AS t", params: [] }])).toEqual([{ t: 't1' }]);
    expect(await proto.run([{ text: "SELECT coalesce(current_setting('app.tenant_id', true), '') AS t", params: [] }])).toEqual([{ t: '' }]);
  });

  it('runs calls fired without awaiting in call order (BEGIN, then the context, then the query)', async () => {
    const proto = pgliteProtocol(client);
    const begin = proto.exec('BEGIN');
    const context = proto.run([{ text: "SELECT set_config('app.user_id', $1, true)", params: ['u1'] }]);
    const read = proto.run<{ u: string }>([{ text: "SELECT current_setting('app.user_id', true) AS u", params: [] }]);
    await Promise.all([begin, context]);
    expect(await read).toEqual([{ u: 'u1' }]);
    await proto.exec('ROLLBACK');
    expect(client.isInTransaction()).toBe(false);
  });

  it('asks for parameter types again after DDL: a changed column type is serialised by its new type', async () => {
    const proto = pgliteProtocol(client);
    await proto.exec('CREATE TABLE retyped (v int)');
    const insert = { text: 'INSERT INTO retyped VALUES ($1) RETURNING v', params: [7] as unknown[] };
    expect(await proto.run([insert])).toEqual([{ v: 7 }]);
    await proto.exec('ALTER TABLE retyped ALTER COLUMN v TYPE text[] USING ARRAY[v::text]');
    expect(await proto.run([{ text: insert.text, params: [['x', 'y']] }])).toEqual([{ v: ['x', 'y'] }]);
  });

  it('through the Database port: scopedQuery is one transaction, and an error leaves no transaction open', async () => {
    const ctx = sql`SELECT set_config('app.tenant_id', ${'6c0421a5-d29b-462c-a992-1b281d452aae'}, true)`;
    expect(await db.scopedQuery(ctx, sql`SELECT current_setting('app.tenant_id') AS t`)).toEqual([{ t: '6c0421a5-d29b-462c-a992-1b281d452aae' }]);
    await expect(db.scopedQuery(ctx, sql`SELECT 1/0`)).rejects.toMatchObject({ code: '22012' });
    const lease = await db.acquire();
    try {
      // An aborted transaction left open would refuse this with 25P02; the context would still show.
      expect(await lease.query(sql`SELECT coalesce(current_setting('app.tenant_id', true), '') AS t`)).toEqual([{ t: '' }]);
    } finally {
      lease.release();
    }
  });

  it('through the Database port: BEGIN and the context in one call hold for every statement of the transaction, and end with it', async () => {
    const tenantId = '6c0421a5-d29b-462c-a992-1b281d452aae';
    // A context that fails (no such role on this bare database) is the error reported, not the 25P02 after it.
    await expect(withTenant(db, { tenantId }, { statementTimeoutMs: 5000 }, (tx) => tx.query(sql`SELECT 1`))).rejects.toMatchObject({ code: '22023' });
    const owner = await db.acquire();
    try {
      await owner.exec('CREATE ROLE ocsuite_runtime');
    } finally {
      owner.release();
    }
    const seen = await withTenant(db, { tenantId }, { statementTimeoutMs: 5000 }, async (tx) => {
      const first = await tx.query<{ t: string; role: string }>(sql`SELECT current_setting('app.tenant_id') AS t, current_setting('role') AS role`);
      await tx.query(sql`SELECT pg_sleep(0)`);
      const second = await tx.query<{ t: string; open: boolean }>(sql`SELECT current_setting('app.tenant_id') AS t, now() <> clock_timestamp() AS open`);
      return [...first, ...second];
    });
    expect(seen).toEqual([{ t: tenantId, role: 'ocsuite_runtime' }, { t: tenantId, open: true }]);
    const lease = await db.acquire();
    try {
      expect(await lease.query(sql`SELECT coalesce(current_setting('app.tenant_id', true), '') AS t, current_user = session_user AS own`)).toEqual([{ t: '', own: true }]);
    } finally {
      lease.release();
    }
  });

  it("a closed database answers with PGlite's own error, the one availability.ts maps to 503", async () => {
    const closed = await PGlite.create();
    const proto = pgliteProtocol(closed);
    await closed.close();
    await expect(proto.run([{ text: 'SELECT $1::int', params: [1] }])).rejects.toThrow(/^PGlite is closed$/);
    await expect(proto.exec('SELECT 1')).rejects.toThrow(/^PGlite is closed$/);
  });
});
