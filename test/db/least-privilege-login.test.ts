import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPg, type Database } from '../../src/db/client.ts';
import { migrationStatus, readMigrations } from '../../src/db/migrate.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { startApp, usingPostgres, type TestApp } from '../support/app.ts';

/**
 * Production runs with a login that is neither superuser nor owner, only a
 * member of the three roles (docs/operations.md). What `serve` and `doctor`
 * check at start — that no migration is pending — must work for it.
 */
const LOGIN = 'ocsuite_app_probe';
let t: TestApp;
let db: Database;
beforeAll(async () => {
  t = await startApp();
  await withOwner(t.platform.db, (tx) => tx.exec(`DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${LOGIN}') THEN CREATE ROLE ${LOGIN} NOLOGIN NOSUPERUSER NOBYPASSRLS; END IF;
  END $$; GRANT ocsuite_runtime, ocsuite_identity, ocsuite_maintenance TO ${LOGIN};`));
  // One connection whose session is the application's login (PGlite has one connection anyway).
  db = usingPostgres ? openPg(process.env.OCSUITE_TEST_DATABASE_URL!, 1) : t.platform.db;
});
afterAll(async () => {
  if (usingPostgres) await db?.close();
  await t?.close();
});

async function asLogin<T>(fn: () => Promise<T>): Promise<T> {
  const lease = await db.acquire();
  await lease.exec(`SET SESSION AUTHORIZATION ${LOGIN}`);
  lease.release();
  try {
    return await fn();
  } finally {
    const back = await db.acquire();
    await back.exec('RESET SESSION AUTHORIZATION');
    back.release();
  }
}

describe('the least-privilege application login', () => {
  it('sees every migration applied (through the maintenance role), and cannot write the history', async () => {
    const status = await asLogin(() => migrationStatus(db));
    expect(status.pending).toEqual([]);
    expect(status.applied).toEqual(readMigrations().map((m) => m.version));
    // Reading is all it may do with the history.
    const write = asLogin(async () => {
      const lease = await db.acquire();
      try {
        return await lease.query(sql`INSERT INTO ocsuite_schema_migrations (version, checksum) VALUES ('9999_forged', 'x')`);
      } finally {
        lease.release();
      }
    });
    await expect(write).rejects.toMatchObject({ code: '42501' });
  });
});
