import fs from 'node:fs';
import { createProgress } from './progress.ts';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import type { Database } from '../db/client.ts';
import { migrationStatus } from '../db/migrate.ts';
import { openDatabase } from '../db/open.ts';
import { withIdentity, withMaintenance } from '../db/transaction.ts';
import { clusterChannel, publishOnce } from '../kernel/cluster/bus.ts';
import { rotateSigningKey, SIGNING_KEY_PROPAGATION_SECONDS, SIGNING_KEY_RELOAD_MS } from '../kernel/auth/signing-keys.ts';
import type { AuditEventInput } from '../kernel/audit/events.ts';
import { recordAuditEvent } from '../kernel/audit/events.ts';
import { loadMasterKeys, type Keyring } from '../kernel/crypto/index.ts';
import { keyAges } from '../kernel/crypto/key-ages.ts';
import { masterKeyDependencies, masterKeyRecords, retireMasterKey, syncMasterKeys, type KeyDependency } from '../kernel/crypto/master-key-store.ts';
import { mailKeyDependencies } from '../kernel/mail/delivery.ts';
import { createLogger } from '../kernel/telemetry/logger.ts';
import { openJobSystem } from '../jobs/open.ts';
import {
  RotationAborted,
  rotateMasterKey,
  rotateTenantKey,
  rotateTenantKeys,
  verifyAllSealed,
  type RotationOptions,
  type RotationProblem,
} from '../kernel/crypto/rotation.ts';
import { sql } from 'drizzle-orm';
import { isUuid } from '../kernel/ids.ts';

const USAGE = `usage: ocsuite keys <command> [options]

  status                          master keys (state, age, what depends on each), tenant key ages, rotation runs
  rotate-master                   rewrap every tenant data key and reseal every platform secret under the primary
                                  master key (add the new key to OCSUITE_MASTER_KEYS as primary first)
  rotate-tenant --tenant ID       new data key for one tenant; re-encrypt its secrets; destroy the old key
  rotate-tenant --all             the same for every tenant (resumes an interrupted --all run)
  retire ID                       retire a master key; refused while anything depends on it
  verify                          open every sealed value in the database (read-only)
  rotate-signing                  add an access-token signing key (published now, signing after 60 s) and retire
                                  keys whose successor has signed longer than an access token lives

  rotation options: --batch-size N (rows per transaction, default 500), --throttle-ms N (pause between batches)
  An interrupted rotation (Ctrl-C, a crash, a kill) resumes by running the same command again.`;

export class KeysCommandError extends Error {
  readonly code = 'ERR_KEYS_COMMAND';
}

/**
 * The keyring of the CLI: the configured keys, never a new key file (a key
 * created here could not open anything the server sealed).
 */
export function cliKeyring(config: Config): Keyring {
  if (config.masterKeys || config.masterKeysFile) return loadMasterKeys({ env: config.masterKeys, file: config.masterKeysFile });
  const file = path.join(config.dataDir, 'master.keys');
  if (!fs.existsSync(file)) throw new KeysCommandError(`no master keys: set OCSUITE_MASTER_KEYS, or start the embedded server once to create ${file}`);
  return loadMasterKeys({ file });
}

export function operatorActor(): AuditEventInput['actor'] {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    /* no passwd entry (containers) */
  }
  return { type: 'operator', id: `cli:${user}` };
}

/** The database and keyring of a key command, after the checks every command needs. */
export async function openVault(config: Config): Promise<{ db: Database; keyring: Keyring }> {
  const keyring = cliKeyring(config);
  const db = await openDatabase(config);
  try {
    const { pending } = await migrationStatus(db);
    if (pending.length > 0) throw new KeysCommandError(`pending migrations ${pending.join(', ')}: run \`ocsuite migrate\` first`);
    await withMaintenance(db, { statementTimeoutMs: config.statementTimeoutMs }, (t) => syncMasterKeys(t, keyring));
    return { db, keyring };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}

/** A usage error (exit 2 in main.ts), like the ones parseArgs throws. */
const badOption = (message: string) => Object.assign(new TypeError(message), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });

/** Plain decimal digits only: `1e2`, `0x10`, ` 5 ` are refused, not read as numbers. */
function positiveInt(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < min) throw badOption(`--${name} must be a whole number >= ${min}, got "${raw}"`);
  return n;
}

function printProblems(problems: RotationProblem[]): void {
  for (const p of problems.slice(0, 50)) {
    console.log(`  problem: ${p.table}.${p.column} row ${p.rowId}${p.tenantId && !p.rowId.startsWith(p.tenantId) ? ` (tenant ${p.tenantId})` : ''}: ${p.code}`);
  }
  if (problems.length > 50) console.log(`  … and ${problems.length - 50} more`);
}

export const days = (seconds: number | null) => (seconds === null ? 'unknown' : `${(seconds / 86_400).toFixed(1)} d`);

export async function keysCommand(config: Config, argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      tenant: { type: 'string' },
      all: { type: 'boolean' },
      'batch-size': { type: 'string' },
      'throttle-ms': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const sub = positionals[0];
  if (!sub || values.help) {
    console.log(USAGE);
    return sub || values.help ? 0 : 2;
  }
  if (!['status', 'rotate-master', 'rotate-tenant', 'retire', 'verify', 'rotate-signing'].includes(sub)) {
    console.error(`ocsuite keys: unknown command "${sub}"\n\n${USAGE}`);
    return 2;
  }
  if (sub === 'rotate-tenant' && (values.tenant !== undefined) === Boolean(values.all)) {
    console.error('ocsuite keys rotate-tenant: give exactly one of --tenant ID or --all');
    return 2;
  }
  if (sub === 'rotate-tenant' && values.tenant !== undefined && !isUuid(values.tenant)) {
    console.error('ocsuite keys rotate-tenant: --tenant must be a tenant id (UUID)');
    return 2;
  }
  if (sub === 'retire' && !positionals[1]) {
    console.error('ocsuite keys retire: name the master key id to retire');
    return 2;
  }

  const batchSize = positiveInt('batch-size', values['batch-size'], 500, 1);
  const throttleMs = positiveInt('throttle-ms', values['throttle-ms'], 0, 0);
  const { db, keyring } = await openVault(config);
  const abort = new AbortController();
  // A bar with rate and ETA on a terminal, periodic lines otherwise.
  const progress = createProgress({ stream: process.stdout });
  const onSignal = () => {
    console.log('stopping after the current batch; run the same command again to resume');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const options: RotationOptions = {
    db,
    keyring,
    statementTimeoutMs: config.statementTimeoutMs,
    actor: operatorActor(),
    batchSize,
    throttleMs,
    signal: abort.signal,
    onProgress: (p) => progress.update(p.phase, p.done, p.total),
  };
  const maintenance = <T>(fn: Parameters<typeof withMaintenance<T>>[2]) => withMaintenance(db, { statementTimeoutMs: config.statementTimeoutMs }, fn);
  try {
    switch (sub) {
      case 'rotate-signing': {
        const r = await withIdentity(db, { statementTimeoutMs: config.statementTimeoutMs }, async (tx) => {
          const rotated = await rotateSigningKey(tx, keyring, { accessTokenTtlSeconds: config.accessTokenTtlSeconds });
          await recordAuditEvent(tx, {
            tenantId: null, actor: operatorActor(), action: 'keys.signing_rotated', target: { type: 'signing_key', id: rotated.added },
            outcome: 'success', metadata: { retired: rotated.retired },
          });
          return rotated;
        });
        await announceKeys(config);
        console.log(`added signing key ${r.added}: published in JWKS now, signs after ${SIGNING_KEY_PROPAGATION_SECONDS} s`);
        console.log(r.retired.length ? `retired: ${r.retired.join(', ')}` : 'retired: none (older keys may still verify unexpired tokens)');
        return 0;
      }
      case 'status':
        return await status(maintenance, keyring, config);
      case 'rotate-master': {
        console.log(`rotating to master key ${keyring.primary.id}`);
        const r = await rotateMasterKey(options);
        if (r.resumed) console.log(`(resumed run ${r.runId})`);
        console.log(`rewrapped ${r.rewrappedDataKeys} tenant data key(s), resealed ${r.resealedPlatformSecrets} platform secret(s)`);
        console.log(`verified: ${r.verifiedDataKeys} data key(s) and ${r.verifiedPlatformSecrets} platform secret(s) open under ${r.target}`);
        printProblems(r.problems);
        console.log(r.ok
          ? `master key rotation complete (run ${r.runId}); older keys can now be retired: ocsuite keys retire <id>`
          : `master key rotation FAILED: ${r.problems.length} value(s) could not be moved or verified (run ${r.runId})`);
        return r.ok ? 0 : 1;
      }
      case 'rotate-tenant': {
        if (values.tenant !== undefined) {
          const [tenant] = await maintenance((t) => t.query<{ deleted: boolean }>(sql`SELECT deleted_at IS NOT NULL AS deleted FROM tenants WHERE id = ${values.tenant!.toLowerCase()}`));
          if (!tenant || tenant.deleted) {
            console.log(tenant ? `tenant ${values.tenant} was deleted: its data keys were destroyed, nothing to rotate` : `no tenant ${values.tenant}`);
            return 1;
          }
          const r = await rotateTenantKey(options, values.tenant);
          if (r.status === 'no-key') {
            console.log(`tenant ${r.tenantId} has no data key yet (nothing sealed): nothing to rotate`);
            return 0;
          }
          console.log(`tenant ${r.tenantId}: data key v${r.fromVersions.join(',v')} → v${r.toVersion}${r.resumed ? ' (resumed)' : ''}; `
            + `re-encrypted ${r.reencrypted}, verified ${r.verified}, destroyed v${r.destroyedVersions.join(',v') || '-'}`);
          printProblems(r.problems);
          return r.status === 'rotated' ? 0 : 1;
        }
        const r = await rotateTenantKeys(options, { target: 'all' });
        const failed = r.tenants.filter((x) => x.status === 'failed');
        console.log(`${r.resumed ? 'resumed run' : 'run'} ${r.runId}: rotated ${r.tenants.filter((x) => x.status === 'rotated').length} tenant(s) `
          + `with data keys created before ${r.cutoff.toISOString()}; re-encrypted ${r.tenants.reduce((n, x) => n + x.reencrypted, 0)}, `
          + `verified ${r.tenants.reduce((n, x) => n + x.verified, 0)} value(s)`);
        for (const f of failed) {
          console.log(`tenant ${f.tenantId}: FAILED`);
          printProblems(f.problems);
        }
        return r.ok ? 0 : 1;
      }
      case 'retire': {
        const code = await retire(maintenance, keyring, positionals[1]!, options.actor, () => queuedMailKeys(config, db));
        if (code === 0) await announceKeys(config);
        return code;
      }
      case 'verify': {
        const r = await verifyAllSealed(options);
        console.log(`opened ${r.dataKeys} tenant data key(s), ${r.platformSecrets} platform secret(s), ${r.tenantValues} tenant value(s)`);
        printProblems(r.problems);
        console.log(r.problems.length === 0 ? 'every sealed value opens' : `FAILED: ${r.problems.length} value(s) do not open`);
        return r.problems.length === 0 ? 0 : 1;
      }
    }
    return 2;
  } catch (err) {
    if (err instanceof RotationAborted) {
      console.log(err.message);
      return 130;
    }
    throw err;
  } finally {
    progress.finish();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await db.close();
  }
}

type Maintenance = <T>(fn: Parameters<typeof withMaintenance<T>>[2]) => Promise<T>;

/** Queued mail per master key, read from the profile's job queue (pg-boss or BullMQ). */
async function queuedMailKeys(config: Config, db: Database): Promise<KeyDependency[]> {
  const jobs = await openJobSystem({ config, db, connectionString: config.databaseUrl, migrate: false, log: createLogger('warn') });
  try {
    return await mailKeyDependencies(jobs);
  } finally {
    await jobs.stop();
  }
}

async function retire(maintenance: Maintenance, keyring: Keyring, id: string, actor: AuditEventInput['actor'], inTransit: () => Promise<KeyDependency[]>): Promise<number> {
  let queued: KeyDependency[];
  try {
    queued = await inTransit();
  } catch (err) {
    // Unknown is not "nothing": a queued mail sealed under the key would become unopenable.
    console.log(`refused: cannot read the job queue to check for mail sealed under ${id} (${(err as Error).message}); try again when it is reachable`);
    return 1;
  }
  const result = await maintenance(async (t) => {
    const r = await retireMasterKey(t, keyring, id, queued);
    if (r.retired && r.alreadyRetired) return r;
    // Refusals are audited too: someone tried to take a key out of service.
    await recordAuditEvent(t, {
      tenantId: null,
      actor,
      action: 'keys.retired',
      target: { type: 'master_key', id },
      outcome: r.retired ? 'success' : 'failure',
      ...(r.retired ? {} : { reason: r.reason === 'in-use' ? 'still in use' : r.reason === 'primary' ? 'it is the primary key' : 'unknown key' }),
      ...(r.retired ? {} : { metadata: { dependencies: r.dependencies.map((d) => ({ table: d.table, column: d.column, rows: d.rows })) } }),
    });
    return r;
  });
  if (result.retired) {
    console.log(result.alreadyRetired
      ? `master key ${id} was already retired`
      : `master key ${id} retired: running servers refuse it within ${SIGNING_KEY_RELOAD_MS / 1000} s, new ones at start; remove it from OCSUITE_MASTER_KEYS on every node`);
    return 0;
  }
  if (result.reason === 'primary') console.log(`refused: ${id} is the primary master key; configure a new primary and run ocsuite keys rotate-master first`);
  else if (result.reason === 'unknown') console.log(`refused: no master key ${id} is configured or recorded`);
  else {
    console.log(`refused: master key ${id} is still needed by:`);
    for (const d of result.dependencies) console.log(`  ${d.table}.${d.column}: ${d.rows} row(s)`);
    const inJobs = (d: KeyDependency) => d.table.startsWith('job');
    if (result.dependencies.some((d) => !inJobs(d))) console.log('run `ocsuite keys rotate-master` (with the new key configured as primary), then retire again');
    if (result.dependencies.some(inJobs)) console.log('mail sealed under it is queued or parked: let the mail queue drain and retry or discard parked mail (`ocsuite jobs dead list`), then retire again');
  }
  return 1;
}

async function status(maintenance: Maintenance, keyring: Keyring, config: Config): Promise<number> {
  const { records, deps, ages, runs } = await maintenance(async (t) => ({
    records: await masterKeyRecords(t),
    deps: await masterKeyDependencies(t),
    ages: await keyAges(t, keyring.primary.id),
    runs: await t.query<{ kind: string; target: string; outcome: string; started_at: Date; finished_at: Date | null; progress: Record<string, unknown> }>(sql`
      SELECT kind, target, outcome, started_at, finished_at, progress FROM key_rotation_runs ORDER BY started_at DESC LIMIT 5`),
  }));
  let healthy = true;
  console.log('master keys');
  const ids = [...new Set([...keyring.ids(), ...records.map((r) => r.id), ...deps.map((d) => d.masterKeyId)])];
  for (const id of ids) {
    const rec = records.find((r) => r.id === id);
    const configured = keyring.has(id);
    const state = rec?.retiredAt ? 'retired' : id === keyring.primary.id ? 'primary' : configured ? 'configured' : 'not configured';
    const uses = deps.filter((d) => d.masterKeyId === id);
    const usage = uses.length ? uses.map((d) => `${d.table}.${d.column} ${d.rows}`).join(', ') : 'nothing';
    const age = rec ? days((Date.now() - rec.firstSeenAt.getTime()) / 1000) : 'unknown';
    console.log(`  ${id.padEnd(12)} ${state.padEnd(15)} first seen ${rec ? rec.firstSeenAt.toISOString() : '-'} (${age})  needed by: ${usage}`);
    if (!configured && uses.length > 0) {
      healthy = false;
      console.log(`    PROBLEM: values depend on ${id} but it is not configured: they cannot be opened`);
    }
  }
  const rotationDue = config.keyRotationDays * 86_400;
  console.log(`tenant data keys: ${ages.tenantsWithKeys} tenant(s); oldest active key ${days(ages.oldestTenantDataKeyAgeSeconds)}`
    + `${(ages.oldestTenantDataKeyAgeSeconds ?? 0) > rotationDue ? ` (older than OCSUITE_KEY_ROTATION_DAYS=${config.keyRotationDays})` : ''}; `
    + `rotations in progress: ${ages.tenantRotationsInProgress}`);
  if (runs.length > 0) {
    console.log('recent rotation runs');
    for (const r of runs) {
      console.log(`  ${new Date(r.started_at).toISOString()}  ${r.kind.padEnd(7)} ${r.target.padEnd(36)} ${r.outcome}${r.finished_at ? '' : ' (unfinished: run it again to resume)'}`);
    }
  }
  return healthy ? 0 : 1;
}

/** Every API node reloads its keys at once (Redis); without it, or if Redis is down, within their reload poll. */
async function announceKeys(config: { redisUrl?: string | undefined; jobsPrefix: string }): Promise<void> {
  if (!config.redisUrl) return;
  await publishOnce(config.redisUrl, clusterChannel(config.jobsPrefix), 'keys.changed').catch((err: Error) => {
    console.log(`note: could not announce the change over Redis (${err.message}); nodes pick it up at their next key reload`);
  });
}
