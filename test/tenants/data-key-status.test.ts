import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { rotateTenantKey } from '../../src/kernel/crypto/rotation.ts';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/** GET /api/v1/tenant/keys: the tenant's data-key versions and their state, never key material. */
let t: TestApp;
let a: Account;
let b: Account;

const keys = (who: Account) => t.app.inject({ method: 'GET', url: '/api/v1/tenant/keys', headers: bearer(who) });
/** A connector's secret is sealed with the tenant's data key: the first one creates version 1. */
const sealSomething = async (who: Account) => {
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/connectors', headers: bearer(who), payload: { name: 'n8n', provider: 'n8n', kind: 'api_key', secret: `s-${Math.random()}` } });
  expect(res.statusCode, res.body).toBe(201);
};
const wrappedKeys = (tenantId: string) => withOwner(t.platform.db, (tx) =>
  tx.query<{ wrapped_key: string | null }>(sql`SELECT wrapped_key FROM tenant_data_keys WHERE tenant_id = ${tenantId}`));

beforeAll(async () => {
  t = await startApp();
  a = await signup(t.app, 'Keys A');
  b = await signup(t.app, 'Keys B');
});
afterAll(() => t?.close());

describe('tenant data-key status', () => {
  it('is empty before the first secret is sealed', async () => {
    const res = await keys(a);
    expect(res.statusCode).toBe(200);
    expect(json(res)).toEqual({ keys: [], activeVersion: null, rotationInProgress: false });
  });

  it('shows the versions after a rotation, with states and dates, and nothing of the keys', async () => {
    await sealSomething(a);
    const first = json(await keys(a));
    expect(first).toMatchObject({ activeVersion: 1, rotationInProgress: false, keys: [{ version: 1, state: 'active', destroyedAt: null }] });
    expect(Date.parse(first.keys[0].createdAt)).not.toBeNaN();

    const rotated = await rotateTenantKey({ db: t.platform.db, keyring: t.platform.keyring, statementTimeoutMs: 5_000, actor: { type: 'operator', id: 'test' } }, a.tenantId);
    expect(rotated.status).toBe('rotated');
    const res = await keys(a);
    const body = json(res);
    expect(body.activeVersion).toBe(2);
    expect(body.keys.map((k: { version: number; state: string }) => [k.version, k.state])).toEqual([[1, 'destroyed'], [2, 'active']]);
    expect(body.keys[0].destroyedAt).not.toBeNull();
    // No key material in any form: neither the wrapped key nor its master-key id.
    for (const { wrapped_key } of await wrappedKeys(a.tenantId)) {
      if (wrapped_key) expect(res.body).not.toContain(wrapped_key.split('.')[2]!.slice(0, 16));
      if (wrapped_key) expect(res.body).not.toContain(wrapped_key.split('.')[1]!);
    }
    expect(res.body).not.toMatch(/okw1|wrapped|key"\s*:/i);
  });

  it('never shows another tenant\'s keys', async () => {
    await sealSomething(b);
    const bRotated = await rotateTenantKey({ db: t.platform.db, keyring: t.platform.keyring, statementTimeoutMs: 5_000, actor: { type: 'operator', id: 'test' } }, b.tenantId);
    expect(bRotated.status).toBe('rotated');
    await rotateTenantKey({ db: t.platform.db, keyring: t.platform.keyring, statementTimeoutMs: 5_000, actor: { type: 'operator', id: 'test' } }, b.tenantId);
    expect(json(await keys(b)).keys.map((k: { version: number }) => k.version)).toEqual([1, 2, 3]);
    expect(json(await keys(a)).keys.map((k: { version: number }) => k.version)).toEqual([1, 2]);
    // A tenant id in the query is refused, not honoured.
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/tenant/keys?tenantId=${b.tenantId}`, headers: bearer(a) })).statusCode).toBe(400);
  });

  it('is for admins and owners: members, viewers and a forged token are refused', async () => {
    const admin = await addMember(t.app, a, 'admin');
    expect((await keys(admin)).statusCode).toBe(200);
    for (const role of ['member', 'viewer']) {
      const res = await keys(await addMember(t.app, a, role));
      expect(res.statusCode, role).toBe(403);
      expect(json(res).code).toBe('OCS_FORBIDDEN');
    }
    const [h, p] = a.accessToken.split('.');
    const forged = `${h}.${p}.${Buffer.from('not the signature').toString('base64url')}`;
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/tenant/keys', headers: { authorization: `Bearer ${forged}` } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/tenant/keys' })).statusCode).toBe(401);
  });
});
