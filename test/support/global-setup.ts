import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openPglite } from '../../src/db/client.ts';
import { migrate } from '../../src/db/migrate.ts';

/**
 * With DATABASE_URL set, the suite runs against real PostgreSQL in a database
 * of its own, created here and dropped afterwards, so a run never touches data
 * it did not make. One master key is generated per run and shared by every
 * test file (they share that database's signing keys).
 */
export default async function setup() {
  process.env.OCSUITE_TEST_MASTER_KEYS = `t1:${randomBytes(32).toString('base64')}`;
  const base = process.env.DATABASE_URL;
  if (!base) return pgliteTemplate();
  const name = `ocsuite_test_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  process.env.OCSUITE_TEST_DATABASE_URL = url.toString();
  return async () => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  };
}

/**
 * Embedded profile: PGlite's initdb and the migrations take seconds per database, and
 * every test file starts several. One migrated database is dumped here and each test
 * app starts from a copy of it (test/support/app.ts), as a fresh, migrated database.
 */
async function pgliteTemplate() {
  const db = await openPglite(undefined);
  await migrate(db);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-pglite-')), 'template.tar');
  fs.writeFileSync(file, Buffer.from(await (await db.dumpDataDir!()).arrayBuffer()));
  await db.close();
  process.env.OCSUITE_TEST_PGLITE_TEMPLATE = file;
  return () => fs.rmSync(path.dirname(file), { recursive: true, force: true });
}
