import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyChecks } from '../../src/cli/key-checks.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { JobInfo } from '../../src/kernel/jobs/port.ts';
import { SCHEDULES } from '../../src/jobs/schedules.ts';
import { isCryptoError, openWithMasterKey, unwrapDataKey } from '../../src/kernel/crypto/index.ts';
import { masterKeyDependencies, retireMasterKey } from '../../src/kernel/crypto/master-key-store.ts';
import { rotateMasterKey, rotateTenantKey, rotateTenantKeys, verifyAllSealed, type RotationOptions } from '../../src/kernel/crypto/rotation.ts';
import { sealForTenant } from '../../src/kernel/crypto/tenant-keys.ts';
import { createConnectorsService } from '../../src/modules/connectors/service.ts';
import { useConnectorSecret } from '../../src/modules/connectors/secret-use.ts';
import type { Platform } from '../../src/kernel/platform.ts';
import { enableMfa, login, signup, type Account } from '../support/app.ts';
import { adminPrincipal, asOwner, bootOn, createTenants, isolatedDatabase, newMasterKey, newSecret, type Booted, type IsolatedDatabase } from './support.ts';

/**
 * Rotation in-process, on a database of its own (master-key rotation reseals
 * the platform's signing keys). The kill-and-resume test of the CLI is in
 * rotation-cli.test.ts.
 */
const t1 = newMasterKey('t1');
const k2 = newMasterKey('k2');
let iso: IsolatedDatabase;
let booted: Booted;
let x: string; // five connectors
let y: string; // two connectors
let z: string; // never sealed anything
let person: Account; // has a TOTP seed, a platform secret under the master key
const plain = new Map<string, { tenantId: string; secret: string }>();
/** Every log line of every platform this suite boots. */
const logs: string[] = [];

const operator = { type: 'operator' as const, id: 'test' };
const options = (p: Platform, extra: Partial<RotationOptions> = {}): RotationOptions => ({
  db: p.db, keyring: p.keyring, statementTimeoutMs: 5000, actor: operator, batchSize: 2, ...extra,
});

async function addConnectors(p: Platform, tenantId: string, n: number) {
  const service = createConnectorsService(p);
  for (let i = 0; i < n; i++) {
    const secret = newSecret();
    const c = await service.create(adminPrincipal(tenantId), { name: `c${i}`, provider: 'hubspot', kind: 'api_key', secret });
    plain.set(c.id, { tenantId, secret });
  }
}

const sealedOf = (p: Platform, tenantId: string) => asOwner(p, (tx) => tx.query<{ id: string; secret_sealed: string }>(sql`
  SELECT id, secret_sealed FROM connectors WHERE tenant_id = ${tenantId} ORDER BY id`));
const keysOf = (p: Platform, tenantId: string) => asOwner(p, (tx) => tx.query<{ version: number; state: string; wrapped_key: string | null }>(sql`
  SELECT version, state, wrapped_key FROM tenant_data_keys WHERE tenant_id = ${tenantId} ORDER BY version`));
const platformEvents = (p: Platform, action: string) => asOwner(p, (tx) => tx.query<{ target_id: string; outcome: string; actor_type: string; metadata: Record<string, unknown> }>(sql`
  SELECT target_id, outcome, actor_type, metadata FROM platform_audit_events WHERE action = ${action} ORDER BY leaf_index`));

async function expectAllOpen(p: Platform, tenantIds: string[]) {
  for (const [id, v] of plain) {
    if (!tenantIds.includes(v.tenantId)) continue;
    expect((await useConnectorSecret(p, v.tenantId, id, 'test.verify')).secret).toBe(v.secret);
  }
}

beforeAll(async () => {
  iso = await isolatedDatabase('rotation');
  booted = await bootOn(iso, t1, logs);
  [x, y, z] = (await createTenants(booted.platform, 3, 'rotation')) as [string, string, string];
  await addConnectors(booted.platform, x, 5);
  await addConnectors(booted.platform, y, 2);
  person = await enableMfa(booted.app, await signup(booted.app, 'Rotation people'));
});
afterAll(async () => {
  await booted?.close();
  await iso?.drop();
});

describe('data-key rotation of one tenant', () => {
  it('re-encrypts every value under a new version, verifies it, destroys the old one and leaves other tenants alone', async () => {
    const p = booted.platform;
    const yBefore = await sealedOf(p, y);
    const r = await rotateTenantKey(options(p), x);
    expect(r).toMatchObject({ status: 'rotated', resumed: false, fromVersions: [1], toVersion: 2, reencrypted: 5, verified: 5, destroyedVersions: [1], problems: [] });
    expect((await sealedOf(p, x)).every((row) => row.secret_sealed.startsWith('osv1.2.'))).toBe(true);
    expect(await keysOf(p, x)).toEqual([
      { version: 1, state: 'destroyed', wrapped_key: null },
      { version: 2, state: 'active', wrapped_key: expect.stringMatching(/^okw1\.t1\./) },
    ]);
    expect(await sealedOf(p, y)).toEqual(yBefore);
    await expectAllOpen(p, [x, y]);
    const [event] = (await platformEvents(p, 'keys.tenant_rotated')).filter((e) => e.target_id === x);
    expect(event).toMatchObject({ outcome: 'success', actor_type: 'operator', metadata: { fromVersions: [1], toVersion: 2, reencrypted: 5, verified: 5, destroyedVersions: [1] } });
  });

  it('a ciphertext from before the rotation (a backup) no longer opens once its version is destroyed', async () => {
    const p = booted.platform;
    const [before] = await sealedOf(p, y);
    expect(before!.secret_sealed.startsWith('osv1.1.')).toBe(true);
    expect((await rotateTenantKey(options(p), y)).status).toBe('rotated');
    const [after] = await sealedOf(p, y);
    await asOwner(p, (tx) => tx.query(sql`UPDATE connectors SET secret_sealed = ${before!.secret_sealed} WHERE id = ${before!.id}`));
    await expect(useConnectorSecret(p, y, before!.id, 'test.verify')).rejects.toMatchObject({ code: 'ERR_CONNECTOR_SECRET_UNREADABLE' });
    await asOwner(p, (tx) => tx.query(sql`UPDATE connectors SET secret_sealed = ${after!.secret_sealed} WHERE id = ${after!.id}`));
    await expectAllOpen(p, [y]);
  });

  it('a tenant that never sealed anything has nothing to rotate', async () => {
    expect(await rotateTenantKey(options(booted.platform), z)).toMatchObject({ status: 'no-key', toVersion: null });
    expect(await keysOf(booted.platform, z)).toEqual([]);
  });

  it('never clobbers a value written concurrently: the compare-and-swap loses to the writer', async () => {
    const p = booted.platform;
    const target = [...plain.entries()].find(([, v]) => v.tenantId === x)![0];
    const fresh = newSecret('concurrent_');
    let wrote = false;
    const r = await rotateTenantKey(options(p, {
      batchSize: 10,
      // Between the batch's read and its swap, a writer stores a new secret in one of its rows.
      beforeSwap: async (tx, batch) => {
        if (wrote || !batch.rowIds.includes(target)) return;
        wrote = true;
        const sealed = await sealForTenant(tx, p.keyring, { tenantId: x, table: 'connectors', column: 'secret_sealed', rowId: target }, fresh);
        await tx.query(sql`UPDATE connectors SET secret_sealed = ${sealed} WHERE id = ${target}`);
      },
    }), x);
    expect(wrote).toBe(true);
    expect(r.status).toBe('rotated');
    expect(r.reencrypted).toBe(4); // the fifth row was the writer's, already under the new key
    plain.set(target, { tenantId: x, secret: fresh });
    await expectAllOpen(p, [x]);
  });

  it('a value that does not open stops the rotation short of destroying the old key; fixing it and running again resumes', async () => {
    const p = booted.platform;
    const rows = await sealedOf(p, y);
    const victim = rows[0]!;
    const [prefix, label, blob] = victim.secret_sealed.split('.') as [string, string, string];
    const tampered = `${prefix}.${label}.${blob.slice(0, -2)}${blob.endsWith('AA') ? 'BB' : 'AA'}`;
    await asOwner(p, (tx) => tx.query(sql`UPDATE connectors SET secret_sealed = ${tampered} WHERE id = ${victim.id}`));
    const failed = await rotateTenantKey(options(p), y);
    expect(failed.status).toBe('failed');
    expect(failed.problems).toEqual([expect.objectContaining({ table: 'connectors', rowId: victim.id, code: 'ERR_SEALED_OPEN_FAILED' })]);
    expect(failed.destroyedVersions).toEqual([]);
    expect((await keysOf(p, y)).map((k) => k.state)).toEqual(['destroyed', 'previous', 'active']);
    expect((await platformEvents(p, 'keys.tenant_rotated')).at(-1)).toMatchObject({ target_id: y, outcome: 'failure' });
    // The healthy row moved to v3 and still opens.
    const healthy = rows[1]!;
    expect((await useConnectorSecret(p, y, healthy.id, 'test.verify')).secret).toBe(plain.get(healthy.id)!.secret);

    // The operator removes the broken credential; the same command resumes the unfinished rotation.
    await asOwner(p, (tx) => tx.query(sql`DELETE FROM connectors WHERE id = ${victim.id}`));
    plain.delete(victim.id);
    const resumed = await rotateTenantKey(options(p), y);
    expect(resumed).toMatchObject({ status: 'rotated', resumed: true, fromVersions: [2], toVersion: 3, destroyedVersions: [2], problems: [] });
    expect((await keysOf(p, y)).map((k) => k.state)).toEqual(['destroyed', 'destroyed', 'active']);
    await expectAllOpen(p, [y]);
  });

  it('rotates every tenant with a key older than the cutoff, and a resumed run keeps its cutoff', async () => {
    const p = booted.platform;
    const before = (await keysOf(p, x)).find((k) => k.state === 'active')!.version;
    const r = await rotateTenantKeys(options(p), { target: 'test-all' });
    expect(r.ok).toBe(true);
    expect(r.tenants.map((tr) => tr.tenantId).sort()).toEqual([x, y].sort());
    expect((await keysOf(p, x)).find((k) => k.state === 'active')!.version).toBe(before + 1);
    // The run finished: the same target starts a new run whose cutoff is now; all keys are newer than that only if made after it.
    const again = await rotateTenantKeys(options(p), { target: 'test-all', cutoff: new Date(Date.now() - 86_400_000) });
    expect(again.resumed).toBe(false);
    expect(again.tenants).toEqual([]);
    await expectAllOpen(p, [x, y]);
  });
});

describe('master-key rotation, retirement and refusal of a retired key', () => {
  let oldWrapped: { tenantId: string; version: number; wrapped: string };
  let oldSigning: { kid: string; sealed: string };

  it('refuses to retire a key that anything depends on, naming the counts per table and column', async () => {
    const p = booted.platform;
    const deps = (await asOwner(p, (tx) => masterKeyDependencies(tx))).filter((d) => d.masterKeyId === 't1');
    expect(deps).toEqual(expect.arrayContaining([
      { table: 'tenant_data_keys', column: 'wrapped_key', masterKeyId: 't1', rows: 2 },
      { table: 'signing_keys', column: 'private_key_sealed', masterKeyId: 't1', rows: 1 },
    ]));
    // t1 is the primary here, and refused as such; a keyring where it is not is tested after rotation.
    expect(await p.withMaintenance((tx) => retireMasterKey(tx, p.keyring, 't1'))).toMatchObject({ retired: false, reason: 'primary' });
    const [w] = await asOwner(p, (tx) => tx.query<{ tenant_id: string; version: number; wrapped_key: string }>(sql`
      SELECT tenant_id, version, wrapped_key FROM tenant_data_keys WHERE wrapped_key IS NOT NULL ORDER BY tenant_id LIMIT 1`));
    oldWrapped = { tenantId: w!.tenant_id, version: w!.version, wrapped: w!.wrapped_key };
    const [s] = await asOwner(p, (tx) => tx.query<{ kid: string; private_key_sealed: string }>(sql`SELECT kid, private_key_sealed FROM signing_keys LIMIT 1`));
    oldSigning = { kid: s!.kid, sealed: s!.private_key_sealed };
    await booted.close();
  });

  it('rewraps every data key and reseals every platform secret under the new primary, then verifies', async () => {
    booted = await bootOn(iso, `${t1},${k2}`, logs);
    const p = booted.platform;
    expect(p.keyring.primary.id).toBe('k2');
    const deps = await p.withMaintenance((tx) => retireMasterKey(tx, p.keyring, 't1'));
    expect(deps).toMatchObject({ retired: false, reason: 'in-use' });
    expect(deps.retired === false && deps.dependencies.map((d) => `${d.table}.${d.column}`)).toEqual(expect.arrayContaining(['tenant_data_keys.wrapped_key', 'signing_keys.private_key_sealed']));

    const r = await rotateMasterKey(options(p));
    expect(r).toMatchObject({ ok: true, target: 'k2', problems: [] });
    expect(r.rewrappedDataKeys).toBe(2);
    expect(r.resealedPlatformSecrets).toBeGreaterThanOrEqual(1);
    expect(r.verifiedDataKeys).toBe(2);
    const wrapped = await asOwner(p, (tx) => tx.query<{ wrapped_key: string }>(sql`SELECT wrapped_key FROM tenant_data_keys WHERE wrapped_key IS NOT NULL`));
    expect(wrapped.every((w) => w.wrapped_key.startsWith('okw1.k2.'))).toBe(true);
    const signing = await asOwner(p, (tx) => tx.query<{ private_key_sealed: string }>(sql`SELECT private_key_sealed FROM signing_keys`));
    expect(signing.every((s) => s.private_key_sealed.startsWith('omk1.k2.'))).toBe(true);
    const seeds = await asOwner(p, (tx) => tx.query<{ totp_secret_sealed: string }>(sql`SELECT totp_secret_sealed FROM user_mfa`));
    expect(seeds.length).toBe(1);
    expect(seeds.every((s) => s.totp_secret_sealed.startsWith('omk1.k2.'))).toBe(true);
    // Values sealed with data keys were not touched by a master rotation, and all still open.
    await expectAllOpen(p, [x, y]);
    expect((await platformEvents(p, 'keys.master_rotated')).at(-1)).toMatchObject({ target_id: 'k2', outcome: 'success', metadata: { rewrappedDataKeys: 2 } });

    // Running it again finds nothing to do: nothing is wrapped or sealed twice.
    const again = await rotateMasterKey(options(p));
    expect(again).toMatchObject({ ok: true, rewrappedDataKeys: 0, resealedPlatformSecrets: 0, verifiedDataKeys: 2 });
  });

  it('retires the old key once nothing depends on it, and refuses it from then on', async () => {
    const p = booted.platform;
    expect(await p.withMaintenance((tx) => retireMasterKey(tx, p.keyring, 't1'))).toEqual({ retired: true, alreadyRetired: false });
    expect(p.keyring.retired.has('t1')).toBe(true);
    const refused = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return isCryptoError(err, 'ERR_KEY_RETIRED');
      }
      return false;
    };
    expect(refused(() => unwrapDataKey(p.keyring, oldWrapped, oldWrapped.wrapped))).toBe(true);
    expect(refused(() => openWithMasterKey(p.keyring, `signing_keys|private_key_sealed|${oldSigning.kid}`, oldSigning.sealed))).toBe(true);
    await booted.close();

    // Another process that still lists t1 refuses it too; t1 as primary does not even start.
    booted = await bootOn(iso, `${t1},${k2}`, logs);
    expect(booted.platform.keyring.retired.has('t1')).toBe(true);
    expect(refused(() => booted.platform.keyring.get('t1'))).toBe(true);
    await booted.close();
    await expect(bootOn(iso, `${k2},*${t1}`)).rejects.toMatchObject({ code: 'ERR_KEY_RETIRED' });

    // Without t1 at all, everything works: tenant secrets, tokens, and a login with the resealed TOTP seed.
    booted = await bootOn(iso, k2, logs);
    await expectAllOpen(booted.platform, [x, y]);
    const again = await login(booted.app, person);
    expect(again.tenantId).toBe(person.tenantId);
    const verified = await verifyAllSealed(options(booted.platform));
    expect(verified.problems).toEqual([]);
    expect(verified.tenantValues).toBe([...plain.values()].filter((v) => v.tenantId === x || v.tenantId === y).length);
  });
});

/**
 * The scheduled rotation: the `keys.rotate` entry of the job schedule rotates
 * every tenant data key older than OCSUITE_KEY_ROTATION_DAYS (default 90) and
 * leaves the others alone; a tenant it cannot finish makes the job fail
 * (retried, then dead-lettered and alerted by the job system) instead of
 * passing silently. `ocsuite doctor` reports the ages and what is unfinished.
 */
describe('scheduled key rotation and the doctor checks', () => {
  const entry = SCHEDULES.find((s) => s.name === 'keys.rotate')!;
  const job = (): JobInfo => ({ id: 'test', queue: 'keys.rotate', tenantId: null, attempt: 1, maxAttempts: 1, data: {}, signal: new AbortController().signal });
  const activeVersion = async (tenantId: string) => (await asOwner(booted.platform, (tx) => tx.query<{ version: number }>(sql`
    SELECT version FROM tenant_data_keys WHERE tenant_id = ${tenantId} AND state = 'active'`)))[0]?.version;
  const checks = (keys: string) => keyChecks(booted.platform.db, loadConfig({ OCSUITE_MASTER_KEYS: keys, ...iso.env }));
  let old: string;
  let fresh: string;

  it('is registered in the job schedule with a handler, and the interval is configurable', () => {
    expect(entry.handler).toBeTypeOf('function');
    expect(loadConfig({}).keyRotationDays).toBe(90);
    expect(loadConfig({ OCSUITE_KEY_ROTATION_DAYS: '30' }).keyRotationDays).toBe(30);
    expect(() => loadConfig({ OCSUITE_KEY_ROTATION_DAYS: '0' })).toThrow(/OCSUITE_KEY_ROTATION_DAYS/);
  });

  it('rotates the keys older than the interval only, as the system actor, and secrets still open', async () => {
    const p = booted.platform;
    [old, fresh] = (await createTenants(p, 2, 'schedule')) as [string, string];
    await addConnectors(p, old, 1);
    await addConnectors(p, fresh, 1);
    await asOwner(p, (tx) => tx.query(sql`UPDATE tenant_data_keys SET created_at = now() - interval '91 days' WHERE tenant_id = ${old}`));
    const before = { x: await activeVersion(x), fresh: await activeVersion(fresh) };
    await entry.handler!({ db: p.db })(job());
    expect(await activeVersion(old)).toBe(2);
    expect({ x: await activeVersion(x), fresh: await activeVersion(fresh) }).toEqual(before);
    await expectAllOpen(p, [old, fresh]);
    expect((await platformEvents(p, 'keys.tenant_rotated')).at(-1)).toMatchObject({ target_id: old, actor_type: 'system' });
    // The same day again: nothing is due.
    await entry.handler!({ db: p.db })(job());
    expect(await activeVersion(old)).toBe(2);
  });

  it('doctor: key ages are fine, and a value that needs an unconfigured master key is a failure', async () => {
    const healthy = await checks(k2);
    expect(healthy.map((c) => [c.name, c.ok, c.warn ?? false])).toEqual([['master key age', true, false], ['data key age', true, false], ['master key use', true, false]]);
    expect(healthy[0]!.detail).toMatch(/^primary k2 first seen \d/);
    const lost = await checks(newMasterKey('k3'));
    expect(lost.find((c) => c.name === 'master key use')).toMatchObject({ ok: false, detail: expect.stringMatching(/need master key k2, which is not configured/) });
  });

  it('fails the job when a tenant cannot be rotated, keeping its old key, and doctor warns about it', async () => {
    const p = booted.platform;
    const [victim] = [...plain.entries()].filter(([, v]) => v.tenantId === fresh);
    await asOwner(p, async (tx) => {
      await tx.query(sql`UPDATE connectors SET secret_sealed = secret_sealed || 'AAAA' WHERE id = ${victim![0]}`);
      await tx.query(sql`UPDATE tenant_data_keys SET created_at = now() - interval '100 days' WHERE tenant_id = ${fresh}`);
    });
    await expect(entry.handler!({ db: p.db })(job())).rejects.toMatchObject({ code: 'ERR_KEY_ROTATION_JOB' });
    expect((await keysOf(p, fresh)).map((k) => k.state)).toEqual(['previous', 'active']);
    const warned = (await checks(k2)).find((c) => c.name === 'data key age')!;
    expect(warned).toMatchObject({ ok: true, warn: true, detail: expect.stringContaining('1 rotation(s) unfinished') });
  });
});

describe('nothing secret leaves', () => {
  it('no secret appears in any log line of the platforms this suite ran', () => {
    const text = logs.join('\n');
    expect(text.length).toBeGreaterThan(0);
    expect(plain.size).toBeGreaterThan(5);
    for (const { secret } of plain.values()) expect(text).not.toContain(secret.slice(0, -4));
  });
});
