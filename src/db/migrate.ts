import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { sql } from 'drizzle-orm';
import type { Database, Session } from './client.ts';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

export interface Migration {
  version: string;
  text: string;
  checksum: string;
}

export class MigrationError extends Error {
  readonly code = 'ERR_MIGRATION';
}

export function readMigrations(): Migration[] {
  return fs
    .readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8');
      return { version: file.replace(/\.sql$/, ''), text, checksum: createHash('sha256').update(text).digest('hex') };
    });
}

// Serialises concurrent `migrate` runs across processes (a no-op cost on PGlite).
const LOCK_KEY = 7_263_011_001;

export interface MigrationStatus {
  applied: string[];
  pending: string[];
}

/**
 * Applies pending migrations, each in its own transaction, recording a checksum.
 * An applied migration whose file changed is an error: history is not rewritten.
 */
export async function migrate(db: Database): Promise<MigrationStatus> {
  const lease = await db.acquire();
  let broken = false;
  try {
    await lease.exec(`SELECT pg_advisory_lock(${LOCK_KEY})`);
    try {
      await lease.exec(`CREATE TABLE IF NOT EXISTS ocsuite_schema_migrations (
        version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      await keepOwnerPolicy(lease);
      const status = await compare(lease);
      for (const m of readMigrations().filter((x) => status.pending.includes(x.version))) {
        try {
          await lease.exec(`BEGIN;\n${m.text}\n`);
          await lease.query(sql`INSERT INTO ocsuite_schema_migrations (version, checksum) VALUES (${m.version}, ${m.checksum})`);
          await lease.exec('COMMIT');
        } catch (err) {
          await lease.exec('ROLLBACK').catch(() => (broken = true));
          throw new MigrationError(`migration ${m.version} failed: ${(err as Error).message}`);
        }
      }
      return { applied: [...status.applied, ...status.pending], pending: [] };
    } finally {
      await lease.exec(`SELECT pg_advisory_unlock(${LOCK_KEY})`).catch(() => (broken = true));
    }
  } finally {
    lease.release(broken);
  }
}

/**
 * Migration 0001 forces row-level security on the history (every table here has
 * it): the owner who migrates needs a policy of its own, or a non-superuser
 * owner sees no history and cannot record a migration. Idempotent.
 */
async function keepOwnerPolicy(session: Session): Promise<void> {
  await session.exec(`DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE tablename = 'ocsuite_schema_migrations' AND policyname = 'ocsuite_schema_migrations_owner') THEN
      CREATE POLICY ocsuite_schema_migrations_owner ON ocsuite_schema_migrations TO CURRENT_USER USING (true) WITH CHECK (true);
    END IF;
  END $$`);
}

async function compare(session: Session): Promise<MigrationStatus> {
  const rows = await session.query<{ version: string; checksum: string }>(
    sql`SELECT version, checksum FROM ocsuite_schema_migrations ORDER BY version`,
  );
  const known = new Map(rows.map((r) => [r.version, r.checksum]));
  const files = readMigrations();
  for (const m of files) {
    const applied = known.get(m.version);
    if (applied && applied !== m.checksum) {
      throw new MigrationError(`migration ${m.version} was changed after it was applied (checksum mismatch)`);
    }
  }
  return {
    applied: files.filter((m) => known.has(m.version)).map((m) => m.version),
    pending: files.filter((m) => !known.has(m.version)).map((m) => m.version),
  };
}

/** Read-only: what is applied and what is pending (for `serve` in production and `doctor`). */
export async function migrationStatus(db: Database): Promise<MigrationStatus> {
  const lease = await db.acquire();
  try {
    const exists = await lease.query<{ ok: boolean }>(sql`SELECT to_regclass('ocsuite_schema_migrations') IS NOT NULL AS ok`);
    if (!exists[0]?.ok) return { applied: [], pending: readMigrations().map((m) => m.version) };
    // The application's login reads the history as the maintenance role (migration 0012); the
    // owner, or a database from before 0012, directly.
    try {
      await lease.exec('BEGIN');
      await lease.exec('SET LOCAL ROLE ocsuite_maintenance');
      const status = await compare(lease);
      await lease.exec('COMMIT');
      if (status.applied.length > 0) return status;
    } catch (err) {
      await lease.exec('ROLLBACK').catch(() => {});
      if (err instanceof MigrationError) throw err;
    }
    return await compare(lease);
  } finally {
    lease.release();
  }
}
