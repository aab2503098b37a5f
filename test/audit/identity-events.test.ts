import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { emailHandle } from '../../src/kernel/auth/email-handle.ts';
import { createMembersService } from '../../src/modules/identity/members-service.ts';

import type { Principal } from '../../src/kernel/auth/principal.ts';
import { addMember, bearer, enableMfa, json, PASSWORD, signup, startApp, uniqueEmail, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
let owner: Account;

interface Row { action: string; outcome: string; actor_type: string; actor_id: string | null; target_type: string | null; target_id: string | null;
  reason: string | null; metadata: Record<string, unknown>; ip: string | null; user_agent: string | null; request_id: string | null }

const eventsOf = (tenantId: string | null, action: string) =>
  withOwner(t.platform.db, (tx) => tx.query<Row>(tenantId === null
    ? sql`SELECT * FROM platform_audit_events WHERE action = ${action} ORDER BY leaf_index`
    : sql`SELECT * FROM audit_events WHERE tenant_id = ${tenantId} AND action = ${action} ORDER BY leaf_index`));

/** Events recorded off the response path appear shortly after; wait for them without depending on speed. */
async function eventually<T>(fn: () => Promise<T[]>, n = 1): Promise<T[]> {
  for (let i = 0; i < 200; i++) {
    const rows = await fn();
    if (rows.length >= n) return rows;
    await new Promise((r) => setTimeout(r, 25));
  }
  return fn();
}

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Events');
});
afterAll(() => t?.close());

describe('identity flows are audit events', () => {
  it('signup records auth.signup with the request id, IP and user agent of its request', async () => {
    const email = uniqueEmail('ua');
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', headers: { 'user-agent': 'audit-test/1.0' }, payload: { tenantName: 'UA', email, password: PASSWORD } });
    expect(res.statusCode).toBe(201);
    const [e] = await eventsOf(json(res).tenant.id, 'auth.signup');
    expect(e).toMatchObject({ outcome: 'success', actor_type: 'user', actor_id: json(res).user.id, target_type: 'tenant', user_agent: 'audit-test/1.0', request_id: res.headers['x-request-id'] });
    expect(e!.ip).toBeTruthy();
    expect(JSON.stringify(e)).not.toContain(PASSWORD);
  });

  it('a successful login is an event of the tenant; a wrong password a failure event of the same tenant, without the password', async () => {
    const before = (await eventsOf(owner.tenantId, 'auth.login')).length;
    const ok = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: PASSWORD } });
    expect(ok.statusCode).toBe(200);
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: 'wrong password, long enough' } });
    expect(bad.statusCode).toBe(401);
    const rows = await eventually(() => eventsOf(owner.tenantId, 'auth.login'), before + 2);
    const tail = rows.slice(before);
    expect(tail.map((r) => r.outcome).sort()).toEqual(['failure', 'success']);
    const failure = tail.find((r) => r.outcome === 'failure')!;
    expect(failure).toMatchObject({ actor_id: owner.userId, reason: 'wrong password', request_id: bad.headers['x-request-id'] });
    expect(JSON.stringify(failure)).not.toContain('wrong password, long enough');
  });

  it('a login with an unknown email is a platform event naming a hash of the email, never the email', async () => {
    const email = uniqueEmail('nobody');
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'whatever it is here' } });
    expect(res.statusCode).toBe(401);
    const rows = await eventually(async () => (await eventsOf(null, 'auth.login')).filter((r) => r.target_id === emailHandle(email)));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'failure', target_type: 'email', reason: 'unknown account', actor_type: 'system' });
    expect(JSON.stringify(rows[0])).not.toContain(email);
  });

  it('a permission denial is an event of the caller\'s tenant', async () => {
    const viewer = await addMember(t.app, owner, 'viewer');
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/audit-events', headers: bearer(viewer) });
    expect(res.statusCode).toBe(403);
    const rows = await eventually(async () => (await eventsOf(owner.tenantId, 'access.denied')).filter((r) => r.actor_id === viewer.userId));
    expect(rows[0]).toMatchObject({ outcome: 'failure', target_type: 'route', target_id: 'GET /api/v1/audit-events', request_id: res.headers['x-request-id'] });
    expect(rows[0]!.reason).toContain('audit:read');
  });

  it('a refusal by a rule inside a handler (role escalation) is an event too, exactly once', async () => {
    const admin = await addMember(t.app, owner, 'admin');
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(admin), payload: { email: 'would-be-owner@example.com', role: 'owner' } });
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body).type).toBe('urn:ocsuite:problem:role-escalation');
    const rows = await eventually(async () => (await eventsOf(owner.tenantId, 'access.denied')).filter((r) => r.actor_id === admin.userId));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'failure', target_id: 'POST /api/v1/invitations', request_id: res.headers['x-request-id'] });
    // Nothing else of the refused request was written.
    expect((await eventsOf(owner.tenantId, 'invitation.created')).filter((r) => r.actor_id === admin.userId)).toEqual([]);
  });

  it('role changes, removals, invitations and logout are events with who did what to whom', async () => {
    const member = await addMember(t.app, owner, 'member');
    // The route asks for a step-up second factor; the service is what records the event.
    const principal: Principal = { kind: 'user', userId: owner.userId, keyId: null, tenantId: owner.tenantId, roles: ['owner'], sessionId: null, permissions: t.platform.permissions.permissionsOf(['owner']), mfaAt: new Date() };
    await createMembersService(t.platform, () => {}).changeRole(principal, member.userId, 'viewer');
    const [changed] = await eventsOf(owner.tenantId, 'member.role_changed');
    expect(changed).toMatchObject({ actor_id: owner.userId, target_type: 'user', target_id: member.userId, metadata: expect.objectContaining({ from: 'member', to: 'viewer' }) });
    // Removing a member is a step-up operation too.
    if (!owner.mfa) await enableMfa(t.app, owner);
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/members/${member.userId}`, headers: bearer(owner) })).statusCode).toBe(204);
    expect(await eventsOf(owner.tenantId, 'member.removed')).toHaveLength(1);
    const invitations = await eventsOf(owner.tenantId, 'invitation.created');
    expect(invitations.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(invitations)).not.toMatch(/ocs_inv_/);
    expect((await eventsOf(owner.tenantId, 'invitation.accepted')).map((r) => r.actor_id)).toContain(member.userId);
    const me = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(owner) });
    expect(me.statusCode).toBeLessThan(300);
    expect((await eventsOf(owner.tenantId, 'auth.logout')).map((r) => r.actor_id)).toContain(owner.userId);
  });

  it('MFA enrolment, API keys and the tenant MFA policy are events, and the key itself is never recorded', async () => {
    const admin = await enableMfa(t.app, await signup(t.app, 'Keys'));
    expect((await eventsOf(admin.tenantId, 'mfa.enabled')).map((r) => r.actor_id)).toEqual([admin.userId]);
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(admin), payload: { name: 'ci', scopes: ['knowledge:read'] } });
    expect(created.statusCode).toBe(201);
    const { id, key } = json(created);
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${id}`, headers: bearer(admin) })).statusCode).toBe(204);
    const [c] = await eventsOf(admin.tenantId, 'apikey.created');
    expect(c).toMatchObject({ target_id: id, metadata: expect.objectContaining({ scopes: ['knowledge:read'], personal: expect.stringMatching(/^[0-9a-f]{64}$/) }) });
    // The key's name is personal: the leaf commits to it, the cleartext sits beside the log (docs/privacy.md).
    expect(c!.metadata).not.toHaveProperty('name');
    const [beside] = await withOwner(t.platform.db, (tx) => tx.query<{ fields: unknown; subject_user_id: string }>(sql`
      SELECT fields, subject_user_id FROM audit_personal WHERE tenant_id = ${admin.tenantId} AND event_id = ${(c as unknown as { id: string }).id}`));
    expect(beside).toEqual({ fields: { name: 'ci' }, subject_user_id: admin.userId });
    expect((await eventsOf(admin.tenantId, 'apikey.revoked')).map((r) => r.target_id)).toEqual([id]);
    expect((await t.app.inject({ method: 'PUT', url: '/api/v1/tenant/mfa-policy', headers: bearer(admin), payload: { requiredForAdmins: true } })).statusCode).toBe(204);
    expect((await eventsOf(admin.tenantId, 'tenant.mfa_policy_changed'))[0]?.metadata).toEqual({ requiredForAdmins: true });
    const all = await withOwner(t.platform.db, (tx) => tx.query(sql`SELECT * FROM audit_events WHERE tenant_id = ${admin.tenantId}`));
    expect(JSON.stringify(all)).not.toContain(key);
    expect(JSON.stringify(all)).not.toContain(admin.mfa!.secret);
  });
});
