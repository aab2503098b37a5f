import path from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from './config/config.ts';
import type { Database } from './db/client.ts';
import { roleProblems } from './db/guard.ts';
import { migrate, migrationStatus } from './db/migrate.ts';
import { openDatabase, openMigrationDatabase } from './db/open.ts';
import { withOwner } from './db/transaction.ts';
import { AccessTokenIssuer } from './kernel/auth/access-tokens.ts';
import { loadSigningKeys } from './kernel/auth/signing-keys.ts';
import { createKeyFile, loadMasterKeys, type Keyring } from './kernel/crypto/index.ts';
import { createMailer } from './kernel/mail/mailer.ts';
import { startMailWorker } from './kernel/mail/delivery.ts';
import { startPgBoss } from './jobs/pgboss.ts';
import { createLogger } from './kernel/telemetry/logger.ts';
import { createMetrics } from './kernel/telemetry/metrics.ts';
import { bindTransactions, type Platform } from './platform.ts';

export class StartupError extends Error {
  readonly code = 'ERR_STARTUP';
}

/**
 * Master keys: from the environment or a mounted file; in the embedded profile a
 * key file is created on first start (0600) and announced loudly.
 */
export function loadKeyring(config: Config, log: Logger): Keyring {
  if (config.masterKeys || config.masterKeysFile) {
    return loadMasterKeys({ env: config.masterKeys, file: config.masterKeysFile });
  }
  if (config.production) throw new StartupError('master keys are required in production');
  const file = path.join(config.dataDir, 'master.keys');
  const { keyring, created } = createKeyFile(file);
  if (created) {
    log.warn({ file }, 'CREATED A LOCAL MASTER KEY FILE. Anyone who can read it can open every tenant secret. '
      + 'Back it up and keep it off shared disks; in production set OCSUITE_MASTER_KEYS or OCSUITE_MASTER_KEYS_FILE.');
  }
  return keyring;
}

export interface BootOptions {
  /** Apply pending migrations at start (default: everywhere but NODE_ENV=production). */
  migrate?: boolean;
  logDestination?: DestinationStream;
  /** Share an already-open database (tests). */
  db?: Database;
  /** With `db` on PostgreSQL: where the job queue connects. */
  jobsConnectionString?: string;
}

export async function bootPlatform(config: Config, opts: BootOptions = {}): Promise<Platform> {
  const log = createLogger(config.logLevel, opts.logDestination);
  const db = opts.db ?? (await openDatabase(config));
  try {
    const shouldMigrate = opts.migrate ?? !config.production;
    if (shouldMigrate) {
      const owner = opts.db || !config.migrationDatabaseUrl || config.migrationDatabaseUrl === config.databaseUrl ? db : await openMigrationDatabase(config);
      try {
        await migrate(owner);
      } finally {
        if (owner !== db) await owner.close();
      }
    } else {
      const { pending } = await migrationStatus(db);
      if (pending.length > 0) throw new StartupError(`pending migrations ${pending.join(', ')}: run \`ocsuite migrate\` first`);
    }
    const problems = await withOwner(db, (tx) => roleProblems(tx, config.production));
    if (problems.length > 0) throw new StartupError(`unsafe database roles:\n  - ${problems.join('\n  - ')}`);

    const keyring = loadKeyring(config, log);
    const tx = bindTransactions(config, db);
    const keys = await tx.withIdentity((t) => loadSigningKeys(t, keyring));
    const tokens = new AccessTokenIssuer({ keys, issuer: config.issuer, audience: config.audience, ttlSeconds: config.accessTokenTtlSeconds });
    const mailer = createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, outboxDir: path.join(config.dataDir, 'outbox') });
    // Jobs run in-process in both profiles for now; `ocsuite worker` and BullMQ arrive with the jobs component.
    const jobs = await startPgBoss({ db, connectionString: opts.db ? opts.jobsConnectionString : config.databaseUrl, migrate: shouldMigrate, log });
    await startMailWorker(jobs, keyring, mailer);
    return { config, db, keyring, tokens, mailer, jobs, log, metrics: createMetrics(), ...tx };
  } catch (err) {
    if (!opts.db) await db.close().catch(() => {});
    throw err;
  }
}

export async function shutdownPlatform(platform: Platform): Promise<void> {
  await platform.jobs.stop();
  platform.mailer.close();
  await platform.db.close();
}
