import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { JobInfo } from '../../src/kernel/jobs/port.ts';
import { eventually } from '../jobs/support.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/transaction.ts';
import { sealForTenant } from '../../src/kernel/crypto/tenant-keys.ts';
import { deleteTenant } from '../../src/modules/tenants/deletion.ts';
import { bearer, enableMfa, json, signup, startApp, type TestApp } from '../support/app.ts';
import { asOwner, newSecret } from './support.ts';

/**
 * A tenant deleted while its users still have requests in flight: nothing a
 * request does after the shred may give the tenant a working data key again
 * (its secrets would open) or leave a connector behind the deletion receipt.
 */
let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

const operator = { type: 'operator' as const, id: 'test' };
const keysOf = (tenantId: string) => asOwner(t.platform, (tx) => tx.query<{ version: number }>(sql`SELECT version FROM tenant_data_keys WHERE tenant_id = ${tenantId}`));
const connectorsOf = (tenantId: string) => asOwner(t.platform, (tx) => tx.query<{ id: string }>(sql`SELECT id FROM connectors WHERE tenant_id = ${tenantId}`));
const createConnector = (token: { accessToken: string }) => t.app.inject({
  method: 'POST', url: '/api/v1/connectors', headers: bearer(token),
  payload: { name: 'late', provider: 'hubspot', kind: 'api_key', secret: newSecret() },
});

describe('tenant deletion racing requests', () => {
  it('a request whose session check is still cached cannot seal for the deleted tenant: 401, no key, no connector', async () => {
    const owner = await signup(t.app, 'Raced Ltd');
    expect((await createConnector(owner)).statusCode).toBe(201);
    // The session is now in the authenticator's short cache; delete behind its back (as another node would).
    await deleteTenant(t.platform, owner.tenantId, operator);
    expect(await keysOf(owner.tenantId)).toEqual([]);

    const late = await createConnector(owner);
    expect(late.statusCode).toBe(401);
    expect(late.headers['content-type']).toContain('application/problem+json');
    expect(json(late).type).toBe('urn:ocsuite:problem:unauthenticated');
    expect(await keysOf(owner.tenantId)).toEqual([]);
    expect(await connectorsOf(owner.tenantId)).toEqual([]);
  });

  it('the database refuses a new data key for a deleted tenant even to code that skips the check', async () => {
    const owner = await signup(t.app, 'Walled Ltd');
    await deleteTenant(t.platform, owner.tenantId, operator);
    const insert = withTenant(t.platform.db, { tenantId: owner.tenantId }, { statementTimeoutMs: 5_000 }, (tx) =>
      tx.query(sql`INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key) VALUES (${owner.tenantId}, 1, 'okw1.t1.AAAA')`));
    await expect(insert).rejects.toMatchObject({ code: '42501' });
    await expect(withTenant(t.platform.db, { tenantId: owner.tenantId }, { statementTimeoutMs: 5_000 }, (tx) =>
      sealForTenant(tx, t.platform.keyring, { tenantId: owner.tenantId, table: 'connectors', column: 'secret_sealed', rowId: owner.userId }, 'x'.repeat(12))))
      .rejects.toMatchObject({ code: 'ERR_TENANT_DELETED' });
    expect(await keysOf(owner.tenantId)).toEqual([]);
  });

  it("erases the tenant's dead letters, and a job arriving for it afterwards is dropped as gone: no payload kept, not retryable", async () => {
    const owner = await signup(t.app, 'Jobs After Ltd');
    const queue = `test.after-deletion.${randomUUID().slice(0, 8)}`;
    const ran: string[] = [];
    await t.platform.jobs.define({ name: queue, scope: 'tenant', retryLimit: 0, retryDelaySeconds: 1, expireInSeconds: 10, concurrency: 1 }, async (job: JobInfo<{ note: string }>) => {
      ran.push(job.data.note);
    });
    await asOwner(t.platform, (tx) => tx.query(sql`
      INSERT INTO job_dead_letters (tenant_id, queue, job_id, payload, error, attempts) VALUES (${owner.tenantId}, ${queue}, ${randomUUID()}, '{"note":"customer data"}', 'failed', 1)`));
    await deleteTenant(t.platform, owner.tenantId, operator);
    expect(await asOwner(t.platform, (tx) => tx.query(sql`SELECT 1 FROM job_dead_letters WHERE tenant_id = ${owner.tenantId}`))).toEqual([]);

    await t.platform.jobs.send(queue, { note: 'sent after the deletion' }, { tenantId: owner.tenantId });
    const parked = await eventually('the refused job parked', async () => {
      const rows = await asOwner(t.platform, (tx) => tx.query<{ payload: unknown; retryable: boolean; error: string }>(sql`
        SELECT payload, retryable, error FROM job_platform_dead_letters WHERE queue = ${queue} AND claimed_tenant_id = ${owner.tenantId}`));
      return rows.length ? rows : undefined;
    });
    expect(parked).toEqual([{ payload: null, retryable: false, error: expect.stringContaining('does not exist') }]);
    expect(ran).toEqual([]);
  });

  it('deletion and concurrent connector creations: whatever order they run in, the deleted tenant ends with no key and no connector', async () => {
    const owner = await signup(t.app, 'Busy Ltd');
    await enableMfa(t.app, owner);
    expect((await createConnector(owner)).statusCode).toBe(201);
    const deletion = t.app.inject({ method: 'DELETE', url: '/api/v1/tenant', headers: bearer(owner), payload: { confirmName: 'Busy Ltd' } });
    const creations = Array.from({ length: 8 }, () => createConnector(owner));
    const [deleted, ...created] = await Promise.all([deletion, ...creations]);
    expect(deleted.statusCode, deleted.body).toBe(200);
    for (const c of created) expect([201, 401]).toContain(c.statusCode);
    expect(await keysOf(owner.tenantId)).toEqual([]);
    expect(await connectorsOf(owner.tenantId)).toEqual([]);
    // Every connector that was answered 201 was erased by the deletion and counted in its receipt.
    expect(json(deleted).erasedConnectors).toBe(1 + created.filter((c) => c.statusCode === 201).length);
  });
});
