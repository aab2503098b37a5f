import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * With DATABASE_URL set, the suite runs against real PostgreSQL in a database
 * of its own, created here and dropped afterwards, so a run never touches data
 * it did not make. One master key is generated per run and shared by every
 * test file (they share that database's signing keys).
 */
export default async function setup() {
  process.env.OCSUITE_TEST_MASTER_KEYS = `t1:${randomBytes(32).toString('base64')}`;
  const base = process.env.DATABASE_URL;
  if (!base) return;
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
