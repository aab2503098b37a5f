import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCryptoError } from '../../src/kernel/crypto/index.ts';
import { openForTenant } from '../../src/kernel/crypto/tenant-keys.ts';
import { useConnectorSecret } from '../../src/modules/connectors/secret-use.ts';
import { addMember, bearer, enableMfa, json, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { asOwner, newSecret } from './support.ts';

/**
 * Deleting a tenant crypto-shreds it: its data keys are destroyed, so every
 * value sealed for it — in the database, in a backup, in an export — stays
 * unreadable even to someone holding the master keys; the deletion is in
 * the platform audit log and the tenant's sessions end.
 */
const operatorToken = randomBytes(36).toString('base64url');
let t: TestApp;
let owner: Account;
let admin: Account;
let other: Account;
const secrets: string[] = [];
const bodies: string[] = [];
const backup: Array<{ id: string; sealed: string }> = [];

async function call(o: InjectOptions) {
  const res = await t.app.inject(o);
  bodies.push(res.body);
  return res;
}

async function addConnector(who: Account) {
  const secret = newSecret();
  secrets.push(secret);
  const res = await call({ method: 'POST', url: '/api/v1/connectors', headers: bearer(who), payload: { name: 'n8n', provider: 'n8n', kind: 'api_key', secret } });
  expect(res.statusCode).toBe(201);
  return { id: json(res).id as string, secret };
}

const deleteTenant = (who: Account, confirmName: string) => call({ method: 'DELETE', url: '/api/v1/tenant', headers: bearer(who), payload: { confirmName } });

beforeAll(async () => {
  t = await startApp({ OCSUITE_OPERATOR_TOKEN: operatorToken });
  owner = await signup(t.app, 'Shredded Ltd');
  admin = await addMember(t.app, owner, 'admin');
  other = await signup(t.app, 'Survivor Ltd');
  for (let i = 0; i < 3; i++) await addConnector(admin);
  await addConnector(other);
  backup.push(...(await asOwner(t.platform, (tx) => tx.query<{ id: string; sealed: string }>(sql`
    SELECT id, secret_sealed AS sealed FROM connectors WHERE tenant_id = ${owner.tenantId}`))));
});
afterAll(() => t?.close());

describe('tenant deletion', () => {
  it('is refused to admins, to owners without a fresh second factor, and with the wrong name, changing nothing', async () => {
    const asAdmin = await deleteTenant(admin, 'Shredded Ltd');
    expect(asAdmin.statusCode).toBe(403);
    expect(json(asAdmin).type).toBe('urn:ocsuite:problem:forbidden');
    const noStepUp = await deleteTenant(owner, 'Shredded Ltd');
    expect(noStepUp.statusCode).toBe(403);
    expect(json(noStepUp).type).toBe('urn:ocsuite:problem:step-up-required');
    await enableMfa(t.app, owner);
    const wrongName = await deleteTenant(owner, 'Survivor Ltd');
    expect(wrongName.statusCode).toBe(400);
    const keys = await asOwner(t.platform, (tx) => tx.query(sql`SELECT 1 FROM tenant_data_keys WHERE tenant_id = ${owner.tenantId}`));
    expect(keys).toHaveLength(1);
    const [first] = backup;
    expect((await useConnectorSecret(t.platform, owner.tenantId, first!.id, 'test.verify')).secret).toBe(secrets[0]);
  });

  it('destroys the data key, erases the connectors, ends every session and records tenant.deleted in the platform log', async () => {
    const res = await deleteTenant(owner, 'Shredded Ltd');
    expect(res.statusCode, res.body).toBe(200);
    expect(json(res)).toMatchObject({ tenantId: owner.tenantId, shreddedKeyVersions: 1, erasedConnectors: 3 });
    expect(json(res).revokedSessions).toBeGreaterThanOrEqual(2);
    expect(Object.keys(json(res)).sort()).toEqual(['deletedAt', 'erasedConnectors', 'erasedRows', 'revokedSessions', 'shreddedKeyVersions', 'tenantId']);
    expect(json(res).erasedRows).toMatchObject({ connectors: 3, memberships: 2 });

    const state = await asOwner(t.platform, async (tx) => ({
      keys: await tx.query(sql`SELECT 1 FROM tenant_data_keys WHERE tenant_id = ${owner.tenantId}`),
      connectors: await tx.query(sql`SELECT 1 FROM connectors WHERE tenant_id = ${owner.tenantId}`),
      tenant: (await tx.query<{ status: string; name: string; deleted_at: Date | null }>(sql`SELECT status, name, deleted_at FROM tenants WHERE id = ${owner.tenantId}`))[0],
      events: await tx.query<{ actor_type: string; actor_id: string; target_type: string; outcome: string; metadata: Record<string, unknown> }>(sql`
        SELECT actor_type, actor_id, target_type, outcome, metadata FROM platform_audit_events WHERE action IN ('tenant.deleted', 'tenant.erased') AND target_id = ${owner.tenantId} ORDER BY occurred_at, action`),
    }));
    expect(state.keys).toEqual([]);
    expect(state.connectors).toEqual([]);
    expect(state.tenant).toMatchObject({ status: 'suspended', name: 'deleted tenant' });
    expect(state.tenant!.deleted_at).not.toBeNull();
    expect(state.events).toEqual([
      { actor_type: 'user', actor_id: owner.userId, target_type: 'tenant', outcome: 'success', metadata: { shreddedKeyVersions: 1 } },
      { actor_type: 'user', actor_id: owner.userId, target_type: 'tenant', outcome: 'success', metadata: { rows: expect.objectContaining({ connectors: 3, memberships: 2 }) } },
    ]);

    // Tokens of the deleted tenant stop at once; nobody logs in to it again.
    for (const who of [owner, admin]) expect((await call({ method: 'GET', url: '/api/v1/connectors', headers: bearer(who) })).statusCode).toBe(401);
    // The memberships are erased: the password still belongs to an account, which is no member of it any more.
    await expect(login(t.app, admin)).rejects.toThrow(/login failed: 401/);
  });

  it('leaves every value sealed for the tenant unreadable, even restored from a backup by someone holding the master keys', async () => {
    for (const { id, sealed } of backup) {
      await asOwner(t.platform, (tx) => tx.query(sql`
        INSERT INTO connectors (tenant_id, id, name, provider, kind, secret_sealed, secret_fingerprint, secret_last_four)
        VALUES (${owner.tenantId}, ${id}, 'restored', 'n8n', 'api_key', ${sealed}, 'sha256:0000000000000000', '')`));
      await expect(useConnectorSecret(t.platform, owner.tenantId, id, 'test.verify')).rejects.toMatchObject({ code: 'ERR_CONNECTOR_SECRET_UNREADABLE' });
      const direct = await asOwner(t.platform, (tx) => openForTenant(tx, t.platform.keyring, { tenantId: owner.tenantId, table: 'connectors', column: 'secret_sealed', rowId: id }, sealed))
        .then(() => 'opened', (err: unknown) => (isCryptoError(err) ? err.code : 'other'));
      expect(direct).toBe('ERR_DATAKEY_MISSING');
    }
    const failures = await asOwner(t.platform, (tx) => tx.query<{ outcome: string }>(sql`
      SELECT outcome FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'connector.secret_used' AND outcome = 'failure'`));
    expect(failures).toHaveLength(backup.length);
  });

  it("leaves other tenants' secrets readable, and a second deletion changes nothing", async () => {
    const [mine] = await asOwner(t.platform, (tx) => tx.query<{ id: string }>(sql`SELECT id FROM connectors WHERE tenant_id = ${other.tenantId}`));
    expect((await useConnectorSecret(t.platform, other.tenantId, mine!.id, 'test.verify')).secret).toBe(secrets[3]);
    const [before] = await asOwner(t.platform, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM platform_audit_events WHERE action = 'tenant.deleted' AND target_id = ${owner.tenantId}`));
    const { deleteTenant: shred } = await import('../../src/modules/tenants/deletion.ts');
    const again = await shred(t.platform, owner.tenantId, { type: 'operator', id: 'test' });
    expect(again.alreadyDeleted).toBe(true);
    const [after] = await asOwner(t.platform, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM platform_audit_events WHERE action = 'tenant.deleted' AND target_id = ${owner.tenantId}`));
    expect(after!.n).toBe(before!.n);
  });
});

describe('key ages on /metrics', () => {
  it('publishes the primary master key age and the oldest tenant data key age', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } });
    expect(res.statusCode).toBe(200);
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(res.body)?.[1]);
    expect(value('ocsuite_master_key_primary_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(value('ocsuite_tenant_data_key_oldest_age_seconds')).toBeGreaterThan(0);
    expect(value('ocsuite_tenant_key_rotations_in_progress')).toBe(0);
    expect(res.body).not.toContain(other.tenantId);
  });
});

describe('nothing secret leaves', () => {
  it('no secret appears in any log line or response of this suite', () => {
    const logs = t.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const s of secrets) {
      expect(logs).not.toContain(s.slice(0, -4));
      for (const body of bodies) expect(body).not.toContain(s.slice(0, -4));
    }
  });
});
