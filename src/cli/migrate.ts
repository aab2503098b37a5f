import type { Config } from '../config/config.ts';
import { migrate } from '../db/migrate.ts';
import { openMigrationDatabase } from '../db/open.ts';

export async function migrateCommand(config: Config): Promise<number> {
  const db = await openMigrationDatabase(config);
  try {
    const { applied } = await migrate(db);
    console.log(`migrations applied: ${applied.join(', ')}`);
    return 0;
  } finally {
    await db.close();
  }
}
