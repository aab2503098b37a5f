import type { Config } from '../config/config.ts';
import { migrate } from '../db/migrate.ts';
import { openMigrationDatabase } from '../db/open.ts';
import { installPgBossSchema } from '../jobs/pgboss.ts';

export async function migrateCommand(config: Config): Promise<number> {
  const db = await openMigrationDatabase(config);
  try {
    const { applied } = await migrate(db);
    console.log(`migrations applied: ${applied.join(', ')}`);
    // Jobs on pg-boss in PostgreSQL (no REDIS_URL): its schema is created by the owner here too.
    const owner = config.migrationDatabaseUrl ?? config.databaseUrl;
    if (owner && !config.redisUrl) {
      await installPgBossSchema(owner);
      console.log('job queue schema (pgboss) up to date');
    }
    return 0;
  } finally {
    await db.close();
  }
}
