import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../config/config.ts';
import { ConfigError } from '../config/errors.ts';
import { roleProblems } from '../db/guard.ts';
import { lintSchema } from '../db/lint.ts';
import { migrationStatus } from '../db/migrate.ts';
import { openDatabase } from '../db/open.ts';
import type { Database } from '../db/client.ts';
import { withOwner } from '../db/transaction.ts';
import { loadMasterKeys } from '../kernel/crypto/index.ts';
import { keyChecks } from './key-checks.ts';
import { jobChecks } from './doctor-jobs.ts';

export type Check = { ok: boolean; name: string; detail: string; warn?: boolean };

/** Reports what is misconfigured without changing anything; exit 1 when something is wrong. */
export async function doctor(env: Record<string, string | undefined>): Promise<number> {
  const checks = await doctorChecks(env);
  for (const c of checks) console.log(`${c.ok ? (c.warn ? 'warn' : 'ok  ') : 'FAIL'}  ${c.name.padEnd(15)} ${c.detail}`);
  return checks.every((c) => c.ok) ? 0 : 1;
}

/**
 * The doctor's checks as data (also the live status of `ocsuite security report`);
 * `extra` runs on the open database after the doctor's own database checks.
 */
export async function doctorChecks(env: Record<string, string | undefined>, extra?: (db: Database, config: Config) => Promise<Check[]>): Promise<Check[]> {
  const checks: Check[] = [];
  let config: Config;
  try {
    config = loadConfig(env);
    checks.push({ ok: true, name: 'configuration', detail: 'valid' });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) checks.push({ ok: false, name: 'configuration', detail: p });
    config = loadConfig({ ...env, NODE_ENV: 'development' });
  }
  checks.push({ ok: true, name: 'profile', detail: `${config.profile}${config.production ? ' (NODE_ENV=production)' : ''}` });
  checks.push(masterKeyCheck(config));
  checks.push({
    ok: config.corsOrigins.length === 0 || !config.corsOrigins.includes('*'),
    name: 'cors',
    detail: config.corsOrigins.length ? config.corsOrigins.join(', ') : 'no cross-origin access',
  });
  // A missing operator token only switches /metrics off (503); nothing is exposed, so it is a warning.
  checks.push({ ok: true, warn: !config.operatorToken, name: 'metrics', detail: config.operatorToken ? '/metrics enabled (operator token set)' : '/metrics disabled: set OCSUITE_OPERATOR_TOKEN to enable it' });

  if (config.profile === 'production' || fs.existsSync(path.join(config.dataDir, 'pgdata'))) {
    try {
      const db = await openDatabase(config);
      try {
        const { pending } = await migrationStatus(db);
        checks.push({ ok: pending.length === 0, name: 'migrations', detail: pending.length ? `pending: ${pending.join(', ')}` : 'up to date' });
        if (pending.length === 0) {
          // Judged as production whenever NODE_ENV says so, even if other settings made the config fall back.
          for (const p of await withOwner(db, (tx) => roleProblems(tx, config.production || env.NODE_ENV === 'production'))) checks.push({ ok: false, name: 'database roles', detail: p });
          const lint = await withOwner(db, (tx) => lintSchema(tx));
          checks.push({ ok: lint.length === 0, name: 'schema lint', detail: lint.length ? lint.map((f) => `${f.rule} ${f.object}: ${f.detail}`).join('; ') : 'clean' });
          checks.push(...(await keyChecks(db, config)));
          checks.push(...(await jobChecks(db, config)));
          if (extra) checks.push(...(await extra(db, config)));
        }
      } finally {
        await db.close();
      }
    } catch (err) {
      checks.push({ ok: false, name: 'database', detail: (err as Error).message });
    }
  } else {
    checks.push({ ok: true, name: 'database', detail: `embedded data folder not created yet (${config.dataDir}); \`npm start\` creates it` });
  }

  return checks;
}

function masterKeyCheck(config: Config): Check {
  try {
    if (config.masterKeys || config.masterKeysFile) {
      const ring = loadMasterKeys({ env: config.masterKeys, file: config.masterKeysFile });
      return { ok: true, name: 'master keys', detail: `${ring.ids().length} key(s), primary ${ring.primary.id}` };
    }
    const file = path.join(config.dataDir, 'master.keys');
    if (config.production) return { ok: false, name: 'master keys', detail: 'none configured' };
    return { ok: true, name: 'master keys', detail: fs.existsSync(file) ? `local key file ${file} (embedded only)` : 'a local key file will be created on first start' };
  } catch (err) {
    return { ok: false, name: 'master keys', detail: (err as Error).message };
  }
}
