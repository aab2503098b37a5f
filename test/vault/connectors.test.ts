import { sql } from 'drizzle-orm';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/transaction.ts';
import { fingerprintSecret } from '../../src/kernel/crypto/index.ts';
import { activeDataKey } from '../../src/kernel/crypto/tenant-keys.ts';
import { registerSealedColumn, sealedColumns } from '../../src/kernel/crypto/sealed-columns.ts';
import { useConnectorSecret } from '../../src/modules/connectors/secret-use.ts';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { asOwner, newSecret } from './support.ts';

/**
 * The connectors module end to end: a secret goes in through the API and
 * never comes back out of it; only the worker path opens it, and every
 * change and use is audited. The database-level tests move ciphertext and
 * wrapped keys around behind the application's back.
 */
let t: TestApp;
let a: Account;
let aMember: Account;
let aViewer: Account;
let b: Account;
const secrets: string[] = [];
const bodies: string[] = [];
const opts = { statementTimeoutMs: 5000 };

async function call(o: InjectOptions) {
  const res = await t.app.inject(o);
  bodies.push(res.body);
  return res;
}

async function create(owner: Account, extra: Record<string, unknown> = {}) {
  const secret = newSecret();
  secrets.push(secret);
  const res = await call({ method: 'POST', url: '/api/v1/connectors', headers: bearer(owner), payload: { name: 'CRM', provider: 'hubspot', kind: 'oauth_refresh_token', scopes: ['crm.read'], metadata: { portal: 42 }, secret, ...extra } });
  expect(res.statusCode, res.body).toBe(201);
  return { id: json(res).id as string, secret, body: json(res) };
}

const auditOf = (tenantId: string, targetId: string) => asOwner(t.platform, (tx) => tx.query<{ action: string; outcome: string; actor_type: string; actor_id: string | null; metadata: Record<string, unknown>; reason: string | null }>(sql`
  SELECT action, outcome, actor_type, actor_id, metadata, reason FROM audit_events WHERE tenant_id = ${tenantId} AND target_id = ${targetId} ORDER BY leaf_index`));

/** The fingerprint the API must show: keyed by the tenant's active data key. */
const fingerprintFor = (tenantId: string, secret: string) => withTenant(t.platform.db, { tenantId }, opts, async (tx) => {
  const { key } = await activeDataKey(tx, t.platform.keyring, tenantId);
  try {
    return fingerprintSecret(key, secret);
  } finally {
    key.fill(0);
  }
});

const sealedOf = async (id: string) => (await asOwner(t.platform, (tx) => tx.query<{ secret_sealed: string }>(sql`SELECT secret_sealed FROM connectors WHERE id = ${id}`)))[0]!.secret_sealed;
const setSealed = (id: string, value: string) => asOwner(t.platform, (tx) => tx.query(sql`UPDATE connectors SET secret_sealed = ${value} WHERE id = ${id}`));

beforeAll(async () => {
  t = await startApp();
  const owner = await signup(t.app, 'Connectors A');
  a = await addMember(t.app, owner, 'admin');
  aMember = await addMember(t.app, owner, 'member');
  aViewer = await addMember(t.app, owner, 'viewer');
  b = await signup(t.app, 'Connectors B');
});
afterAll(() => t?.close());

describe('connectors API: the secret is write-only', () => {
  it('stores a credential and answers with its fingerprint and last four characters only', async () => {
    const { id, secret, body } = await create(a);
    expect(Object.keys(body).sort()).toEqual(['createdAt', 'id', 'kind', 'lastUsedAt', 'metadata', 'name', 'provider', 'scopes', 'secretFingerprint', 'secretLastFour', 'secretUpdatedAt', 'updatedAt']);
    expect(body.secretFingerprint).toBe(await fingerprintFor(a.tenantId, secret));
    expect(body.secretFingerprint).toMatch(/^hmac:[0-9a-f]{16}$/);
    expect(body.secretLastFour).toBe(secret.slice(-4));
    expect(JSON.stringify(body)).not.toContain(secret.slice(0, -4));
    const sealed = await sealedOf(id);
    expect(sealed).toMatch(/^osv1\.1\.[A-Za-z0-9_-]+$/);
    const row = await asOwner(t.platform, (tx) => tx.query(sql`SELECT * FROM connectors WHERE id = ${id}`));
    expect(JSON.stringify(row)).not.toContain(secret);
    const events = await auditOf(a.tenantId, id);
    expect(events.map((e) => e.action)).toEqual(['connector.created']);
    expect(events[0]).toMatchObject({ outcome: 'success', actor_type: 'user', actor_id: a.userId, metadata: { provider: 'hubspot', fingerprint: await fingerprintFor(a.tenantId, secret) } });
  });

  it('lists connectors for admins without any secret material; members and viewers are refused', async () => {
    const { secret } = await create(a, { kind: 'api_key', provider: 'openai' });
    const list = await call({ method: 'GET', url: '/api/v1/connectors', headers: bearer(a) });
    expect(list.statusCode).toBe(200);
    expect(json(list).items.length).toBeGreaterThanOrEqual(2);
    expect(list.body).not.toContain(secret.slice(0, -4));
    expect(list.body).not.toContain('osv1.');
    for (const who of [aMember, aViewer]) {
      expect((await call({ method: 'GET', url: '/api/v1/connectors', headers: bearer(who) })).statusCode).toBe(403);
      expect((await call({ method: 'POST', url: '/api/v1/connectors', headers: bearer(who), payload: { name: 'x', provider: 'x', kind: 'api_key', secret: newSecret() } })).statusCode).toBe(403);
    }
  });

  it('rotates the secret through PATCH and audits it with the old and new fingerprints', async () => {
    const { id, secret } = await create(a);
    const before = await sealedOf(id);
    const next = newSecret('rt_');
    secrets.push(next);
    const res = await call({ method: 'PATCH', url: `/api/v1/connectors/${id}`, headers: bearer(a), payload: { secret: next, scopes: ['crm.read', 'crm.write'] } });
    expect(res.statusCode, res.body).toBe(200);
    expect(json(res).secretFingerprint).toBe(await fingerprintFor(a.tenantId, next));
    expect(json(res).scopes).toEqual(['crm.read', 'crm.write']);
    expect(await sealedOf(id)).not.toBe(before);
    const used = await useConnectorSecret(t.platform, a.tenantId, id, 'sync.contacts');
    expect(used.secret).toBe(next);
    const events = await auditOf(a.tenantId, id);
    expect(events.map((e) => e.action)).toEqual(['connector.created', 'connector.updated', 'connector.secret_rotated', 'connector.secret_used']);
    expect(events[2]!.metadata).toEqual({ previousFingerprint: await fingerprintFor(a.tenantId, secret), fingerprint: await fingerprintFor(a.tenantId, next) });
  });

  it('refuses secret-looking metadata keys, unknown properties (a smuggled ciphertext) and short secrets, storing nothing', async () => {
    const count = async () => (await asOwner(t.platform, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM connectors WHERE tenant_id = ${a.tenantId}`)))[0]!.n;
    const before = await count();
    const base = { name: 'x', provider: 'slack', kind: 'api_key', secret: newSecret() };
    for (const payload of [
      { ...base, metadata: { clientSecret: 'abc' } },
      { ...base, metadata: { refresh_token: 'abc' } },
      ...['auth', 'Authorization', 'x-auth', 'auth_header', 'authHeader', 'basicAuth', 'bearer', 'api.key'].map((k) => ({ ...base, metadata: { [k]: 'abc' } })),
      { ...base, secretSealed: 'osv1.1.AAAA' },
      { ...base, tenantId: b.tenantId },
      { ...base, secret: 'short' },
      { ...base, kind: 'password' },
    ]) {
      const res = await call({ method: 'POST', url: '/api/v1/connectors', headers: bearer(a), payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(await count()).toBe(before);
    // Words that merely contain "auth" are ordinary context.
    const plainKeys = await create(a, { metadata: { author: 'ops team', oauth_app: 'crm-prod', authority: 'eu' } });
    expect(plainKeys.body.metadata).toEqual({ author: 'ops team', oauth_app: 'crm-prod', authority: 'eu' });
  });

  it('an upper-case id in the path names the same connector: the rotated secret still opens for the worker', async () => {
    const { id } = await create(a);
    const secret = newSecret();
    secrets.push(secret);
    const res = await call({ method: 'PATCH', url: `/api/v1/connectors/${id.toUpperCase()}`, headers: bearer(a), payload: { secret } });
    expect(res.statusCode, res.body).toBe(200);
    expect(json(res).id).toBe(id);
    expect((await useConnectorSecret(t.platform, a.tenantId, id.toUpperCase(), 'test.verify')).secret).toBe(secret);
    expect((await auditOf(a.tenantId, id)).map((e) => e.action)).toEqual(['connector.created', 'connector.secret_rotated', 'connector.secret_used']);
    const gone = await call({ method: 'DELETE', url: `/api/v1/connectors/${id.toUpperCase()}`, headers: bearer(a) });
    expect(gone.statusCode).toBe(204);
    expect((await auditOf(a.tenantId, id)).at(-1)?.action).toBe('connector.deleted');
  });

  it('lists in pages that never skip or repeat a connector, and refuses a forged cursor or an unknown parameter', async () => {
    const tenant = await signup(t.app, 'Connectors paging');
    const created = [];
    for (let i = 0; i < 5; i++) created.push((await create(tenant)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call({ method: 'GET', url: `/api/v1/connectors?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: bearer(tenant) });
      expect(res.statusCode, res.body).toBe(200);
      expect(json(res).items.length).toBeLessThanOrEqual(2);
      seen.push(...json(res).items.map((c: { id: string }) => c.id));
      cursor = json(res).nextCursor;
    } while (cursor);
    expect(seen).toEqual(created);
    for (const query of ['cursor=abc', `cursor=${Buffer.from('["yesterday","x"]').toString('base64url')}`, 'limit=0', 'limit=101', 'offset=5']) {
      const res = await call({ method: 'GET', url: `/api/v1/connectors?${query}`, headers: bearer(tenant) });
      expect(res.statusCode, query).toBe(400);
      expect(json(res).type).toBe('urn:ocsuite:problem:validation-failed');
    }
  });

  it('keeps the JSON types of metadata values and refuses values of the wrong type, storing nothing', async () => {
    const { body } = await create(a, { metadata: { portal: 42, ratio: 1.5, eu: true, region: 'eu-1', note: null } });
    expect(body.metadata).toEqual({ portal: 42, ratio: 1.5, eu: true, region: 'eu-1', note: null });
    const listed = () => call({ method: 'GET', url: '/api/v1/connectors', headers: bearer(a) }).then((r) => json(r).items.length as number);
    const count = await listed();
    const wrong: Array<Record<string, unknown>> = [
      { name: 12345 }, { name: true }, { scopes: 'crm.read' }, { secret: 1234567890123 }, { secret: [newSecret()] },
      { name: 'a\u0000b' }, { metadata: { region: 'eu\u0000' } },
    ];
    for (const extra of wrong) {
      const res = await call({ method: 'POST', url: '/api/v1/connectors', headers: bearer(a), payload: { name: 'CRM', provider: 'hubspot', kind: 'api_key', secret: newSecret(), ...extra } });
      expect(res.statusCode, JSON.stringify(extra)).toBe(400);
      expect(json(res).type).toBe('urn:ocsuite:problem:validation-failed');
    }
    expect(await listed()).toBe(count);
  });

  it('the worker path opens the secret, audits the use with its purpose and records lastUsedAt', async () => {
    const { id, secret } = await create(a);
    const used = await useConnectorSecret(t.platform, a.tenantId, id, 'sync.deals');
    expect(used).toMatchObject({ connectorId: id, provider: 'hubspot', kind: 'oauth_refresh_token', scopes: ['crm.read'], secret });
    const events = await auditOf(a.tenantId, id);
    expect(events.at(-1)).toMatchObject({ action: 'connector.secret_used', outcome: 'success', actor_type: 'system', actor_id: 'worker:sync.deals', metadata: { purpose: 'sync.deals', provider: 'hubspot' } });
    const listed = json(await call({ method: 'GET', url: '/api/v1/connectors', headers: bearer(a) })).items.find((c: { id: string }) => c.id === id);
    expect(listed.lastUsedAt).not.toBeNull();
    await expect(useConnectorSecret(t.platform, a.tenantId, id, 'Not A Purpose!')).rejects.toMatchObject({ code: 'ERR_CONNECTOR_PURPOSE' });
  });

  it("answers 404 to another tenant's admin on every route and never opens across tenants", async () => {
    const { id } = await create(a);
    const before = await sealedOf(id);
    expect((await call({ method: 'PATCH', url: `/api/v1/connectors/${id}`, headers: bearer(b), payload: { secret: newSecret() } })).statusCode).toBe(404);
    expect((await call({ method: 'PATCH', url: `/api/v1/connectors/${id}`, headers: bearer(b), payload: { name: 'mine now' } })).statusCode).toBe(404);
    expect((await call({ method: 'DELETE', url: `/api/v1/connectors/${id}`, headers: bearer(b) })).statusCode).toBe(404);
    const list = await call({ method: 'GET', url: '/api/v1/connectors', headers: bearer(b) });
    expect(json(list).items.map((c: { id: string }) => c.id)).not.toContain(id);
    await expect(useConnectorSecret(t.platform, b.tenantId, id, 'sync.contacts')).rejects.toMatchObject({ code: 'ERR_CONNECTOR_NOT_FOUND' });
    expect(await sealedOf(id)).toBe(before);
    // B's failed attempts left nothing in A's trail but A's own creation.
    expect((await auditOf(a.tenantId, id)).map((e) => e.action)).toEqual(['connector.created']);
  });

  it('deletes, audits the deletion, and the worker path then finds nothing', async () => {
    const { id } = await create(a);
    expect((await call({ method: 'DELETE', url: `/api/v1/connectors/${id}`, headers: bearer(a) })).statusCode).toBe(204);
    expect((await call({ method: 'DELETE', url: `/api/v1/connectors/${id}`, headers: bearer(a) })).statusCode).toBe(404);
    await expect(useConnectorSecret(t.platform, a.tenantId, id, 'sync.contacts')).rejects.toMatchObject({ code: 'ERR_CONNECTOR_NOT_FOUND' });
    expect((await auditOf(a.tenantId, id)).map((e) => e.action)).toEqual(['connector.created', 'connector.deleted']);
  });
});

describe('sealed values moved or damaged in the database do not open', () => {
  it("A's ciphertext copied into B's row does not open for B, and the refusal is audited", async () => {
    const fromA = await create(a);
    const ofB = await create(b);
    await setSealed(ofB.id, await sealedOf(fromA.id));
    await expect(useConnectorSecret(t.platform, b.tenantId, ofB.id, 'sync.contacts')).rejects.toMatchObject({ code: 'ERR_CONNECTOR_SECRET_UNREADABLE' });
    expect((await auditOf(b.tenantId, ofB.id)).at(-1)).toMatchObject({ action: 'connector.secret_used', outcome: 'failure' });
    // A's own value still opens where it belongs.
    expect((await useConnectorSecret(t.platform, a.tenantId, fromA.id, 'sync.contacts')).secret).toBe(fromA.secret);
  });

  it("a ciphertext copied to another row of the same tenant does not open there", async () => {
    const one = await create(a);
    const two = await create(a);
    await setSealed(two.id, await sealedOf(one.id));
    await expect(useConnectorSecret(t.platform, a.tenantId, two.id, 'sync.contacts')).rejects.toMatchObject({ code: 'ERR_CONNECTOR_SECRET_UNREADABLE' });
  });

  it('truncated, bit-flipped, relabelled and re-prefixed ciphertexts do not open', async () => {
    const { id, secret } = await create(a);
    const good = await sealedOf(id);
    const [prefix, label, blob] = good.split('.') as [string, string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const damaged = [
      good.slice(0, -4),
      `${prefix}.${label}.${blob.slice(0, 20)}`,
      `${prefix}.${label}.${flip(blob, 5)}`, // nonce
      `${prefix}.${label}.${flip(blob, Math.floor(blob.length / 2))}`, // ciphertext
      `${prefix}.${label}.${flip(blob, blob.length - 3)}`, // tag
      `${prefix}.2.${blob}`, // a version this tenant does not have
      `${prefix}.${label}.${blob}.${blob}`,
      `omk1.t1.${blob}`,
    ];
    let opened = 0;
    for (const value of damaged) {
      // The column's CHECK refuses some shapes outright; those never reach the opener.
      const stored = await setSealed(id, value).then(() => true, () => false);
      if (!stored) continue;
      opened++;
      await expect(useConnectorSecret(t.platform, a.tenantId, id, 'sync.contacts'), value).rejects.toMatchObject({ code: 'ERR_CONNECTOR_SECRET_UNREADABLE' });
    }
    expect(opened).toBeGreaterThanOrEqual(6);
    await setSealed(id, good);
    expect((await useConnectorSecret(t.platform, a.tenantId, id, 'sync.contacts')).secret).toBe(secret);
  });

  it("B's wrapped data key copied over A's does not unwrap for A", async () => {
    const { id } = await create(a);
    await create(b);
    const keys = await asOwner(t.platform, (tx) => tx.query<{ tenant_id: string; wrapped_key: string }>(sql`
      SELECT tenant_id, wrapped_key FROM tenant_data_keys WHERE tenant_id IN (${a.tenantId}, ${b.tenantId}) AND version = 1`));
    const ofA = keys.find((k) => k.tenant_id === a.tenantId)!.wrapped_key;
    const ofB = keys.find((k) => k.tenant_id === b.tenantId)!.wrapped_key;
    await asOwner(t.platform, (tx) => tx.query(sql`UPDATE tenant_data_keys SET wrapped_key = ${ofB} WHERE tenant_id = ${a.tenantId} AND version = 1`));
    try {
      await expect(useConnectorSecret(t.platform, a.tenantId, id, 'sync.contacts')).rejects.toMatchObject({ code: 'ERR_CONNECTOR_SECRET_UNREADABLE' });
    } finally {
      await asOwner(t.platform, (tx) => tx.query(sql`UPDATE tenant_data_keys SET wrapped_key = ${ofA} WHERE tenant_id = ${a.tenantId} AND version = 1`));
    }
    expect((await useConnectorSecret(t.platform, a.tenantId, id, 'sync.contacts')).provider).toBe('hubspot');
  });
});

describe('tenant data keys behind RLS', () => {
  const asA = <T>(fn: Parameters<typeof withTenant<T>>[3]) => withTenant(t.platform.db, { tenantId: a.tenantId }, opts, fn);

  it("the runtime role sees its own tenant's wrapped key only, and can neither change nor remove one", async () => {
    const rows = await asA((tx) => tx.query<{ tenant_id: string }>(sql`SELECT tenant_id FROM tenant_data_keys`));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.tenant_id === a.tenantId)).toBe(true);
    await expect(asA((tx) => tx.query(sql`UPDATE tenant_data_keys SET wrapped_key = wrapped_key`))).rejects.toThrow(/permission denied/);
    await expect(asA((tx) => tx.query(sql`DELETE FROM tenant_data_keys`))).rejects.toThrow(/permission denied/);
    await expect(asA((tx) => tx.query(sql`INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key) VALUES (${b.tenantId}, 99, 'okw1.t1.AAAA')`))).rejects.toThrow(/row-level security/);
    await expect(asA((tx) => tx.query(sql`INSERT INTO tenant_data_keys (tenant_id, version, state, wrapped_key) VALUES (${a.tenantId}, 99, 'previous', 'okw1.t1.AAAA')`))).rejects.toThrow(/permission denied/);
  });

  it("the runtime role cannot read another tenant's connector rows even without a filter", async () => {
    await create(b);
    const rows = await asA((tx) => tx.query<{ tenant_id: string }>(sql`SELECT tenant_id FROM connectors`));
    expect(rows.every((r) => r.tenant_id === a.tenantId)).toBe(true);
    const other = await asA((tx) => tx.query(sql`UPDATE connectors SET name = 'x' WHERE tenant_id = ${b.tenantId} RETURNING id`));
    expect(other).toEqual([]);
  });
});

describe('nothing secret leaves', () => {
  it('no secret appears in any log line or API response of this suite', () => {
    expect(secrets.length).toBeGreaterThan(10);
    const logs = t.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const s of secrets) {
      expect(logs, 'log').not.toContain(s);
      expect(logs, 'log').not.toContain(s.slice(0, -4));
      for (const body of bodies) expect(body).not.toContain(s.slice(0, -4));
    }
  });

  it("no secret appears in the audit trail's stored metadata", async () => {
    const rows = await asOwner(t.platform, (tx) => tx.query<{ metadata: unknown; reason: string | null }>(sql`
      SELECT metadata, reason FROM audit_events WHERE tenant_id IN (${a.tenantId}, ${b.tenantId})`));
    const text = JSON.stringify(rows);
    expect(rows.length).toBeGreaterThan(10);
    for (const s of secrets) expect(text).not.toContain(s.slice(0, -4));
  });
});

/**
 * The registry of sealed columns is what rotation walks. A secret column the
 * registry does not know, or one the maintenance role cannot rotate, would
 * silently stay under an old key and block retiring it forever: these tests
 * read the catalog so a new module's column is checked the day it lands.
 */
describe('sealed column registry', () => {
  it('lists every *_sealed column of the schema', async () => {
    const columns = await asOwner(t.platform, (tx) => tx.query<{ table: string; column: string }>(sql`
      SELECT c.relname AS table, a.attname AS column FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND a.attname LIKE '%\\_sealed'`));
    expect(columns.length).toBeGreaterThanOrEqual(4);
    const registered = new Set(sealedColumns().map((c) => `${c.table}.${c.column}`));
    for (const c of columns) expect(registered.has(`${c.table}.${c.column}`), `${c.table}.${c.column} is not in src/kernel/crypto/sealed-columns.ts`).toBe(true);
  });

  it('lets the maintenance role read and swap every registered column, and nothing of tenant scope lacks tenant_id', async () => {
    for (const c of sealedColumns()) {
      const label = `${c.table}.${c.column}`;
      const [row] = await asOwner(t.platform, (tx) => tx.query<{ read_id: boolean; read_value: boolean; swap: boolean; tenant: boolean; policy: boolean; id_type: string }>(sql`
        SELECT has_column_privilege('ocsuite_maintenance', ${c.table}, ${c.idColumn}, 'SELECT') AS read_id,
               has_column_privilege('ocsuite_maintenance', ${c.table}, ${c.column}, 'SELECT') AS read_value,
               has_column_privilege('ocsuite_maintenance', ${c.table}, ${c.column}, 'UPDATE') AS swap,
               EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ${c.table}::regclass AND attname = 'tenant_id' AND NOT attisdropped) AS tenant,
               EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = ${c.table} AND 'ocsuite_maintenance' = ANY (roles) AND cmd IN ('ALL', 'UPDATE')) AS policy,
               format_type((SELECT atttypid FROM pg_attribute WHERE attrelid = ${c.table}::regclass AND attname = ${c.idColumn}), NULL) AS id_type`));
      expect(row, label).toMatchObject({ read_id: true, read_value: true, swap: true, policy: true, id_type: c.idType });
      if (c.scope === 'tenant') expect(row!.tenant, label).toBe(true);
    }
  });

  it('never lets the runtime role touch a platform secret', async () => {
    for (const c of sealedColumns('platform')) {
      const [row] = await asOwner(t.platform, (tx) => tx.query<{ read: boolean; write: boolean }>(sql`
        SELECT has_column_privilege('ocsuite_runtime', ${c.table}, ${c.column}, 'SELECT') AS read,
               has_column_privilege('ocsuite_runtime', ${c.table}, ${c.column}, 'UPDATE') AS write`));
      // user_mfa is the runtime's own row (RLS on app.user_id): a user manages their own factor.
      if (c.table === 'user_mfa') continue;
      expect(row, `${c.table}.${c.column}`).toEqual({ read: false, write: false });
    }
  });

  it('refuses identifiers it would have to quote, unknown scopes and duplicates', () => {
    const ok = { table: 'x_table', column: 'x_sealed', idColumn: 'id', idType: 'uuid', scope: 'tenant', owner: 'test' } as const;
    expect(() => registerSealedColumn({ ...ok, table: 'x"; DROP TABLE tenants; --' })).toThrow(/identifier/);
    expect(() => registerSealedColumn({ ...ok, column: 'Secret' })).toThrow(/identifier/);
    expect(() => registerSealedColumn({ ...ok, scope: 'global' as never })).toThrow(/scope/);
    expect(() => registerSealedColumn({ ...ok, idType: 'int' as never })).toThrow(/idType/);
    expect(() => registerSealedColumn({ ...ok, table: 'connectors', column: 'secret_sealed' })).toThrow(/twice/);
    expect(sealedColumns().some((c) => c.table === 'x_table')).toBe(false);
  });
});
