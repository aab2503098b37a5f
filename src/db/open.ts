import path from 'node:path';
import type { Config } from '../config/config.ts';
import { openPg, openPglite, type Database } from './client.ts';

/** The request-serving database of the configured profile. */
export function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'dbPoolMax'> & Partial<Pick<Config, 'requestTimeoutMs'>>): Promise<Database> | Database {
  if (config.databaseUrl) return openPg(config.databaseUrl, config.dbPoolMax, { connectMs: requestPathConnectMs(config.requestTimeoutMs) });
  return openPglite(path.join(config.dataDir, 'pgdata'));
}

/**
 * How long a request may wait for a database connection: well below
 * OCSUITE_REQUEST_TIMEOUT_MS, so an unreachable or saturated database answers
 * 503 while the request still has time to say so (issue #23 §2).
 */
export function requestPathConnectMs(requestTimeoutMs = 10_000): number {
  return Math.max(50, Math.min(5_000, Math.floor(requestTimeoutMs / 3)));
}

/** The owner connection that runs migrations (the same PGlite in the embedded profile). */
export function openMigrationDatabase(config: Pick<Config, 'migrationDatabaseUrl' | 'databaseUrl' | 'dataDir' | 'dbPoolMax'>) {
  if (config.migrationDatabaseUrl) return openPg(config.migrationDatabaseUrl, 1);
  return openDatabase(config);
}

/** The hot standby of DATABASE_READ_URL (read-only work only; see Platform.withTenantRead). */
export function openReadDatabase(config: Pick<Config, 'readDatabaseUrl' | 'dbReadPoolMax'> & Partial<Pick<Config, 'requestTimeoutMs'>>): Database {
  return openPg(config.readDatabaseUrl!, config.dbReadPoolMax, { connectMs: requestPathConnectMs(config.requestTimeoutMs) });
}
