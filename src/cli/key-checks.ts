import type { Config } from '../config/config.ts';
import type { Database } from '../db/client.ts';
import { withMaintenance } from '../db/transaction.ts';
import type { Keyring } from '../kernel/crypto/index.ts';
import { keyAges } from '../kernel/crypto/key-ages.ts';
import { masterKeyDependencies, masterKeyRecords } from '../kernel/crypto/master-key-store.ts';
import { cliKeyring, days } from './keys.ts';

export interface KeyCheck {
  ok: boolean;
  warn?: boolean;
  name: string;
  detail: string;
}

/**
 * `ocsuite doctor`: key ages and what depends on which master key. Old keys
 * and unfinished rotations are warnings; a value that needs a master key the
 * configuration lacks is a failure (it cannot be opened).
 */
export async function keyChecks(db: Database, config: Config): Promise<KeyCheck[]> {
  let keyring: Keyring;
  try {
    keyring = cliKeyring(config);
  } catch {
    return []; // the master-keys check already says what is wrong
  }
  const { ages, deps, records } = await withMaintenance(db, { statementTimeoutMs: config.statementTimeoutMs }, async (t) => ({
    ages: await keyAges(t, keyring.primary.id),
    deps: await masterKeyDependencies(t),
    records: await masterKeyRecords(t),
  }));
  const due = config.keyRotationDays * 86_400;
  const checks: KeyCheck[] = [];
  const masterAge = ages.primaryMasterKeyAgeSeconds;
  checks.push({
    ok: true,
    warn: masterAge !== null && masterAge > due,
    name: 'master key age',
    detail: `primary ${keyring.primary.id} first seen ${days(masterAge)} ago${masterAge !== null && masterAge > due ? `: older than ${config.keyRotationDays} d, rotate it (docs/security/encryption-key-rotation.md)` : ''}`,
  });
  const dataAge = ages.oldestTenantDataKeyAgeSeconds;
  checks.push({
    ok: true,
    warn: (dataAge !== null && dataAge > due) || ages.tenantRotationsInProgress > 0,
    name: 'data key age',
    detail: `${ages.tenantsWithKeys} tenant key(s), oldest ${days(dataAge)}${dataAge !== null && dataAge > due ? ` (older than ${config.keyRotationDays} d: is the keys.rotate schedule running?)` : ''}`
      + `${ages.tenantRotationsInProgress > 0 ? `; ${ages.tenantRotationsInProgress} rotation(s) unfinished: ocsuite keys rotate-tenant --all` : ''}`,
  });
  const missing = deps.filter((d) => !keyring.has(d.masterKeyId));
  const stale = deps.filter((d) => keyring.has(d.masterKeyId) && d.masterKeyId !== keyring.primary.id);
  const retiredConfigured = records.filter((r) => r.retiredAt && keyring.has(r.id)).map((r) => r.id);
  const problems = [
    ...missing.map((d) => `${d.rows} row(s) of ${d.table}.${d.column} need master key ${d.masterKeyId}, which is not configured`),
  ];
  const notes = [
    ...(stale.length ? [`${stale.reduce((n, d) => n + d.rows, 0)} value(s) still under ${[...new Set(stale.map((d) => d.masterKeyId))].join(', ')}: ocsuite keys rotate-master`] : []),
    ...(retiredConfigured.length ? [`retired key(s) ${retiredConfigured.join(', ')} can be removed from the configuration`] : []),
  ];
  checks.push({
    ok: problems.length === 0,
    warn: notes.length > 0,
    name: 'master key use',
    detail: [...problems, ...notes].join('; ') || `everything sealed is under the primary ${keyring.primary.id}`,
  });
  return checks;
}
