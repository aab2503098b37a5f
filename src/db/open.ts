import path from 'node:path';
import type { Config } from '../config/config.ts';
import { openPg, openPglite, type Database } from './client.ts';

/** The request-serving database of the configured profile. */
export function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'dbPoolMax'>): Promise<Database> | Database {
  if (config.databaseUrl) return openPg(config.databaseUrl, config.dbPoolMax);
  return openPglite(path.join(config.dataDir, 'pgdata'));
}

/** The owner connection that runs migrations (the same PGlite in the embedded profile). */
export function openMigrationDatabase(config: Pick<Config, 'migrationDatabaseUrl' | 'databaseUrl' | 'dataDir' | 'dbPoolMax'>) {
  if (config.migrationDatabaseUrl) return openPg(config.migrationDatabaseUrl, 1);
  return openDatabase(config);
}
