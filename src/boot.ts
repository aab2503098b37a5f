import path from 'node:path';
import type { DestinationStream, Logger } from 'pino';
import type { Config } from './config/config.ts';
import type { Database } from './db/client.ts';
import { roleProblems } from './db/guard.ts';
import { migrate, migrationStatus } from './db/migrate.ts';
import { openDatabase, openMigrationDatabase, openReadDatabase } from './db/open.ts';
import { withOwner } from './db/transaction.ts';
import { AccessTokenIssuer } from './kernel/auth/access-tokens.ts';
import { loadSigningKeys, SIGNING_KEY_RELOAD_MS } from './kernel/auth/signing-keys.ts';
import { createKeyFile, loadMasterKeys, type Keyring } from './kernel/crypto/index.ts';
import { keyAges, registerKeyAgeMetrics } from './kernel/crypto/key-ages.ts';
import { syncMasterKeys } from './kernel/crypto/master-key-store.ts';
import { bindKeyRotation } from './kernel/crypto/rotation-schedule.ts';
import { createMailer } from './kernel/mail/mailer.ts';
import { registerMailJobs } from './kernel/mail/delivery.ts';
import type { OpenJobsOptions } from './jobs/open.ts';
import { defineSchedule, startJobs, startWorkers, stopJobs } from './jobs/start.ts';
import { createLogger } from './kernel/telemetry/logger.ts';
import { createMetrics, registerCheckpointLagMetrics, registerDbPoolMetrics } from './kernel/telemetry/metrics.ts';
import { createTracing, type TracingOptions } from './kernel/telemetry/tracing.ts';
import { traceDatabase } from './kernel/telemetry/traced-db.ts';
import { checkpointLag } from './kernel/audit/checkpoint-lag.ts';
import { createEgress } from './kernel/egress/index.ts';
import { bindTransactions, type Platform } from './kernel/platform.ts';
import { ActionRegistry } from './kernel/actions/registry.ts';
import { PermissionCatalog } from './kernel/access/catalog.ts';
import { webhookEventCatalogue } from './kernel/webhooks/event-types.ts';
import { moduleHooksOf, modules as allModules } from './modules/index.ts';
import { clusterChannel, localClusterBus, redisClusterBus, type ClusterBus } from './kernel/cluster/bus.ts';
import type { ModuleManifest } from './modules/manifest.ts';

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
  /** Run job workers in this process (default false: `serve` passes config.inProcessWorkers, `ocsuite worker` true). */
  workers?: boolean;
  /** Test knobs for how fast a dead worker's job is taken back. */
  jobsTuning?: OpenJobsOptions['tuning'];
  /** How often key material is reloaded from the database (default SIGNING_KEY_RELOAD_MS; tests shorten it). */
  keyReloadMs?: number;
  /** The modules to compose (default: every module of src/modules/index.ts). */
  modules?: readonly ModuleManifest[];
  /** Test knobs of the span export (an in-memory exporter, a short batch delay). */
  tracing?: TracingOptions;
}

export async function bootPlatform(config: Config, opts: BootOptions = {}): Promise<Platform> {
  const log = createLogger(config.logLevel, opts.logDestination);
  // Before the database opens: a refused collector URL stops the start-up with nothing to clean.
  const tracing = await createTracing(config, log, opts.tracing);
  const opened = opts.db ?? (await openDatabase(config));
  // Statement spans only when tracing is on: otherwise the database is the driver's, untouched.
  const db = tracing ? traceDatabase(opened, tracing) : opened;
  let readDb: Database | undefined;
  let bus: ClusterBus | undefined;
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
    // A hot standby for read-only work; it has the primary's roles and policies (it is a copy of it).
    readDb = config.readDatabaseUrl ? openReadDatabase(config) : undefined;
    const tx = bindTransactions(config, db, readDb);
    // First sightings (key ages), and keys retired by `ocsuite keys retire` are refused from here on.
    await tx.withMaintenance((t) => syncMasterKeys(t, keyring));
    bindKeyRotation(db, { keyring, keyRotationDays: config.keyRotationDays, statementTimeoutMs: config.statementTimeoutMs });
    const keys = await tx.withIdentity((t) => loadSigningKeys(t, keyring));
    const tokens = new AccessTokenIssuer({ keys, issuer: config.issuer, audience: config.audience, ttlSeconds: config.accessTokenTtlSeconds });
    // Key material every node reloads: a signing-key rotation reaches this node before the new key
    // signs, and a master key retired by `ocsuite keys retire` is refused here too, not only after a restart.
    const reloadKeys = async () => {
      await tx.withMaintenance((t) => syncMasterKeys(t, keyring));
      return tx.withIdentity((t) => loadSigningKeys(t, keyring));
    };
    tokens.reloadEvery(opts.keyReloadMs ?? SIGNING_KEY_RELOAD_MS, reloadKeys, (err) => log.warn({ err: { message: (err as Error).message } }, 'key reload failed'));
    // With Redis, a rotation elsewhere is announced and reloaded at once; the poll above stays as the fallback.
    bus = config.redisUrl ? redisClusterBus(config.redisUrl, clusterChannel(config.jobsPrefix), log) : localClusterBus();
    bus.on('keys.changed', () => void reloadKeys().then((k) => tokens.setKeys(k), (err) => log.warn({ err: { message: (err as Error).message } }, 'key reload failed')));
    const mailer = createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, outboxDir: path.join(config.dataDir, 'outbox') });
    // Jobs: BullMQ when REDIS_URL is set, pg-boss otherwise; workers in this process unless `ocsuite worker` runs them.
    const metrics = createMetrics();
    registerKeyAgeMetrics(metrics.registry, () => tx.withMaintenance((t) => keyAges(t, keyring.primary.id)));
    registerDbPoolMetrics(metrics.registry, db);
    registerCheckpointLagMetrics(metrics.registry, () => tx.withMaintenance((t) => checkpointLag(t)));
    const modules = opts.modules ?? allModules;
    const schedules = modules.flatMap((m) => m.schedules ?? []);
    const egress = createEgress({ allowCidrs: config.egressAllowCidrs, allowHttpHosts: config.egressAllowHttpHosts });
    const jobs = await startJobs({ config, db, log, metrics, tracing, audit: tx, egress, connectionString: opts.db ? opts.jobsConnectionString : config.databaseUrl, migrate: shouldMigrate, tuning: opts.jobsTuning });
    await registerMailJobs(jobs, keyring, mailer);
    const permissions = new PermissionCatalog(modules);
    const platform: Platform = {
      config, db, readDb, bus, keyring, tokens, mailer, jobs, log, metrics, tracing, ...tx,
      egress,
      permissions,
      actions: new ActionRegistry<Platform>(modules.flatMap((m) => m.actions ?? []), (p) => permissions.has(p)),
      moduleHooks: moduleHooksOf(modules),
      webhookEvents: webhookEventCatalogue(modules, permissions),
    };
    for (const m of modules) await m.jobs?.(platform);
    for (const s of schedules) await defineSchedule(jobs, s, platform);
    if (opts.workers) await startWorkers(jobs, schedules);
    // Every process that sends relays the outbox (claims never overlap), so its jobs leave promptly.
    else jobs.startRelay();
    return platform;
  } catch (err) {
    await bus?.close().catch(() => {});
    await readDb?.close().catch(() => {});
    if (!opts.db) await db.close().catch(() => {});
    await tracing?.shutdown().catch(() => {});
    throw err;
  }
}

export async function shutdownPlatform(platform: Platform): Promise<void> {
  platform.tokens.close();
  await platform.bus?.close();
  await stopJobs(platform.jobs);
  platform.mailer.close();
  await platform.readDb?.close();
  await platform.db.close();
  // Flushes the spans still batched (the last requests' and the shutdown's own statements).
  await platform.tracing?.shutdown().catch(() => {});
}
