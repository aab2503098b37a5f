import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, generateDataKey, isCryptoError, wrapDataKey } from '../../src/kernel/crypto/index.ts';
import { unwrapDataKeyCached } from '../../src/kernel/crypto/data-key-cache.ts';
import { openForTenant, openWithWrappedKey, sealForTenant, wrappedKeyFor } from '../../src/kernel/crypto/tenant-keys.ts';
import { signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { asOwner, newSecret } from './support.ts';

/**
 * Unwrapped data keys are cached (issue #21 §3), but the database still decides every open: the
 * wrapped key is read in the opening transaction, so shredding a tenant or destroying a version
 * makes its values unreadable at once, however warm the cache; a retired master key is refused
 * on a hit, and a wrapped key moved to another tenant's row never hits.
 */
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return isCryptoError(err) ? err.code : String(err);
  }
  return 'opened';
};
const asyncCodeOf = async (p: Promise<unknown>) => p.then(() => 'opened', (err: unknown) => (isCryptoError(err) ? err.code : String(err)));

let t: TestApp;
let a: Account;
let b: Account;

beforeAll(async () => {
  t = await startApp();
  a = await signup(t.app, 'Cached A');
  b = await signup(t.app, 'Cached B');
});
afterAll(() => t?.close());

/** Seals one value for a cell of the tenant and opens it twice (the second open is a cache hit). */
async function warmValue(tenantId: string) {
  const secret = newSecret();
  const cell = { tenantId, table: 'connectors', column: 'secret_sealed', rowId: randomUUID() };
  const token = await t.platform.withTenant({ tenantId }, (tx) => sealForTenant(tx, t.platform.keyring, cell, secret));
  for (let i = 0; i < 2; i++) {
    const opened = await t.platform.withTenant({ tenantId }, (tx) => openForTenant(tx, t.platform.keyring, cell, token));
    expect(opened.toString()).toBe(secret);
  }
  return { cell, token, secret };
}

const wrappedBeside = (tenantId: string, token: string) =>
  t.platform.withTenant({ tenantId }, async (tx) => (await tx.query<{ wrapped: string | null }>(sql`
    SELECT ${wrappedKeyFor(sql`${tenantId}::uuid`, sql`${token}::text`)} AS wrapped`))[0]!.wrapped);

describe('the data-key cache', () => {
  it('serves a warm key, yet a shredded tenant (its data keys deleted) is unreadable at once', async () => {
    const { cell, token } = await warmValue(a.tenantId);
    const wrapped = await wrappedBeside(a.tenantId, token);
    expect(openWithWrappedKey(t.platform.keyring, cell, token, wrapped).length).toBeGreaterThan(0);

    // What tenant deletion does to the keys (modules/tenants/deletion.ts): the rows go.
    await asOwner(t.platform, (tx) => tx.query(sql`DELETE FROM tenant_data_keys WHERE tenant_id = ${a.tenantId}`));

    expect(await asyncCodeOf(t.platform.withTenant({ tenantId: a.tenantId }, (tx) => openForTenant(tx, t.platform.keyring, cell, token)))).toBe('ERR_DATAKEY_MISSING');
    // A read that selects the wrapped key beside the value gets NULL now, and refuses too.
    const gone = await wrappedBeside(a.tenantId, token);
    expect(gone).toBeNull();
    expect(codeOf(() => openWithWrappedKey(t.platform.keyring, cell, token, gone))).toBe('ERR_DATAKEY_MISSING');
  });

  it('refuses a destroyed version at once (rotation sets wrapped_key NULL)', async () => {
    const { cell, token } = await warmValue(b.tenantId);
    await asOwner(t.platform, (tx) => tx.query(sql`
      UPDATE tenant_data_keys SET state = 'destroyed', wrapped_key = NULL, destroyed_at = now() WHERE tenant_id = ${b.tenantId}`));
    expect(await asyncCodeOf(t.platform.withTenant({ tenantId: b.tenantId }, (tx) => openForTenant(tx, t.platform.keyring, cell, token)))).toBe('ERR_DATAKEY_MISSING');
  });

  it('never hits for a wrapped key moved to another tenant or version, and refuses a retired master key on a hit', () => {
    const keyring = new Keyring([{ id: 'old', key: randomBytes(32) }, { id: 'new', key: randomBytes(32) }], 'old');
    const tenantId = randomUUID();
    const key = generateDataKey();
    const wrapped = wrapDataKey(keyring, { tenantId, version: 1 }, key);
    expect(unwrapDataKeyCached(keyring, tenantId, 1, wrapped).export().equals(key)).toBe(true);
    expect(unwrapDataKeyCached(keyring, tenantId, 1, wrapped).export().equals(key)).toBe(true); // the hit
    // The same wrapped text presented for another tenant, or as another version, fails its own unwrap.
    expect(codeOf(() => unwrapDataKeyCached(keyring, randomUUID(), 1, wrapped))).toBe('ERR_DATAKEY_UNWRAP_FAILED');
    expect(codeOf(() => unwrapDataKeyCached(keyring, tenantId, 2, wrapped))).toBe('ERR_DATAKEY_UNWRAP_FAILED');
    // A master key retired while its unwrap is cached: refused as an unwrap would be.
    const rotated = new Keyring([{ id: 'old', key: keyring.entries()[0]!.key }, { id: 'new', key: keyring.entries()[1]!.key }], 'new');
    const rewrapped = wrapDataKey(rotated, { tenantId, version: 1 }, key);
    expect(unwrapDataKeyCached(rotated, tenantId, 1, wrapped).export().equals(key)).toBe(true);
    rotated.retire('old');
    expect(codeOf(() => unwrapDataKeyCached(rotated, tenantId, 1, wrapped))).toBe('ERR_KEY_RETIRED');
    expect(unwrapDataKeyCached(rotated, tenantId, 1, rewrapped).export().equals(key)).toBe(true);
    // Another keyring holding other key material never sees this one's entries.
    const stranger = new Keyring([{ id: 'old', key: randomBytes(32) }], 'old');
    expect(codeOf(() => unwrapDataKeyCached(stranger, tenantId, 1, wrapped))).toBe('ERR_DATAKEY_UNWRAP_FAILED');
  });
});
