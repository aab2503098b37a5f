import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../src/db/client.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { storedVerifierKey, verifyStoredLog } from '../../src/kernel/audit/verify-db.ts';
import { modules } from '../../src/modules/index.ts';
import { addMember, bearer, enableMfa, json, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * The module catalog against the database catalog (issue #11 §2): every table
 * with tenant_id is owned by exactly one module, every owned table exists, and
 * tenant deletion leaves no row of the tenant in any table its module does not
 * retain on purpose — while the audit log of the tenant still verifies and
 * another tenant's rows are untouched.
 */
let t: TestApp;

const owners = new Map<string, string[]>();
for (const m of modules) for (const table of m.tables) owners.set(table.name, [...(owners.get(table.name) ?? []), m.name]);
const declared = new Map(modules.flatMap((m) => m.tables.map((table) => [table.name, table] as const)));

async function tenantTables(tx: Session): Promise<string[]> {
  const rows = await tx.query<{ name: string }>(sql`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
    ORDER BY 1`);
  return rows.map((r) => r.name);
}

/** Rows of one tenant in each tenant table (as the owner: RLS does not hide any). */
async function rowsByTable(tenantId: string): Promise<Record<string, number>> {
  return withOwner(t.platform.db, async (tx) => {
    const out: Record<string, number> = {};
    for (const table of await tenantTables(tx)) {
      const [row] = await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${sql.identifier(table)} WHERE tenant_id = ${tenantId}`);
      out[table] = row!.n;
    }
    return out;
  });
}

beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => t?.close());

describe('table ownership', () => {
  it('every table with tenant_id has exactly one owning module, and every declared table exists', async () => {
    const tables = await withOwner(t.platform.db, tenantTables);
    expect(tables.length).toBeGreaterThan(15);
    const unowned = tables.filter((name) => !owners.has(name));
    const twice = [...owners].filter(([, by]) => by.length > 1).map(([name, by]) => `${name}: ${by.join(', ')}`);
    expect(unowned, 'tables owned by no module').toEqual([]);
    expect(twice, 'tables owned by two modules').toEqual([]);
    const existing = new Set(await withOwner(t.platform.db, async (tx) => (await tx.query<{ name: string }>(sql`
      SELECT relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND relkind IN ('r', 'p')`)).map((r) => r.name)));
    expect([...owners.keys()].filter((name) => !existing.has(name)), 'declared tables that do not exist').toEqual([]);
  });

  it('a module that erases tables has an eraseTenant hook, and one that keeps a table says why', () => {
    for (const m of modules) {
      const erased = m.tables.filter((table) => table.onTenantErasure === 'erase');
      if (erased.length > 0) expect(m.eraseTenant, `${m.name} erases ${erased.map((e) => e.name).join(', ')}`).toBeTypeOf('function');
      for (const table of m.tables) {
        if (table.onTenantErasure !== 'erase') expect(table.onTenantErasure.retain.length, `${m.name}.${table.name}`).toBeGreaterThan(10);
      }
      for (const c of m.sealedColumns ?? []) expect(m.tables.map((x) => x.name), `${m.name} seals ${c.table}.${c.column}`).toContain(c.table);
    }
  });
});

describe('tenant deletion', () => {
  let doomed: Account;
  let survivor: Account;
  let before: Record<string, number>;
  let survivorBefore: Record<string, number>;

  /** Puts at least one row of `who`'s tenant into every table a module erases. */
  async function populate(who: Account) {
    const call = (method: 'POST' | 'PUT' | 'PATCH', url: string, payload: object) => t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(who), payload });
    expect((await call('POST', '/knowledge', { title: 'kept nowhere', body: 'b' })).statusCode).toBe(201);
    // A create with an Idempotency-Key keeps its first response (sealed) for 24 hours.
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: { ...bearer(who), 'idempotency-key': randomUUID() }, payload: { title: 'kept for replay', body: 'b' } })).statusCode).toBe(201);

    expect((await call('PUT', '/knowledge/settings', { ingestPolicy: 'redact' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/knowledge/exports', headers: bearer(who) })).statusCode).toBe(202);
    expect((await call('POST', '/connectors', { name: 'crm', provider: 'hubspot', kind: 'api_key', secret: randomBytes(12).toString('hex') })).statusCode).toBe(201);
    expect((await call('POST', '/invitations', { email: `invitee-${randomUUID().slice(0, 6)}@example.com`, role: 'viewer' })).statusCode).toBe(201);
    expect((await call('POST', '/api-keys', { name: 'machine', scopes: ['knowledge:read'] })).statusCode).toBe(201);
    // Outreach: settings, the tenant's outreach key (made by the first contact), a contact, a suppression.
    expect((await t.app.inject({ method: 'PATCH', url: '/api/v1/outreach/settings', headers: bearer(who), payload: { postalAddress: '1 Main St, Springfield' } })).statusCode).toBe(200);
    expect((await call('POST', '/outreach/contacts', { email: `c-${randomUUID().slice(0, 6)}@example.com`, source: 'test', lawfulBasis: 'legitimate_interest' })).statusCode).toBe(201);
    expect((await call('POST', '/outreach/suppressions', { email: `s-${randomUUID().slice(0, 6)}@example.com`, reason: 'manual' })).statusCode).toBe(201);
    const campaign = json(await call('POST', '/outreach/campaigns', { name: 'c', subject: 's', bodyText: 'b' }));
    expect((await call('POST', `/outreach/campaigns/${campaign.id}/send`, {})).statusCode).toBe(202);
    const role = json(await call('POST', '/roles', { name: `r-${randomUUID().slice(0, 6)}`, permissions: ['knowledge:read'] }));
    const member = await addMember(t.app, who, 'member');
    expect((await call('PUT', `/members/${member.userId}/roles`, { roles: ['member', role.id] })).statusCode).toBe(200);
    // content: settings, a provider, a stored draft and its usage row.
    expect((await call('PATCH', '/content/settings', { storeOutputs: true })).statusCode).toBe(200);
    expect((await call('POST', '/content/providers', { name: 'local', kind: 'offline', model: 'offline' })).statusCode).toBe(201);
    const draft = await call('POST', '/content/drafts', { kind: 'model', title: 'kept nowhere', instructions: 'draft' });
    expect(draft.statusCode).toBe(201);
    // approvals: an insight and a pending approval.
    expect((await call('POST', '/insights', { question: 'what next?' })).statusCode).toBe(201);
    expect((await call('POST', '/approvals', { actionType: 'content.draft.publish', payload: { draftId: json(draft).id } })).statusCode).toBe(201);
    // Webhooks: an endpoint (a public address literal: the check needs no DNS, and nothing is published to it) and a receiver.
    const endpoint = json(await call('POST', '/webhooks/endpoints', { url: 'https://1.1.1.1/hook', eventTypes: ['webhooks.test'] }));
    expect(endpoint.id, JSON.stringify(endpoint)).toBeTypeOf('string');
    const receiver = json(await call('POST', '/webhooks/inbound', { name: 'n8n', eventTypes: ['*'] }));
    expect(receiver.id, JSON.stringify(receiver)).toBeTypeOf('string');
    const course = json(await call('POST', '/academy/courses', { title: 'Onboarding', status: 'published' }));
    const lesson = json(await call('POST', `/academy/courses/${course.id}/lessons`, { title: 'One', quiz: [{ question: 'q', options: ['a', 'b'], answer: 0 }] }));
    expect((await call('POST', `/academy/courses/${course.id}/enrolments`, {})).statusCode).toBe(201);
    expect((await call('PUT', `/academy/lessons/${lesson.id}/completion`, {})).statusCode).toBe(200);
    expect((await call('POST', `/academy/lessons/${lesson.id}/quiz-attempts`, { answers: [0] })).statusCode).toBe(201);
    const partner = json(await call('POST', '/alliances/partners', { name: 'Partner' }));
    const contact = json(await call('POST', `/alliances/partners/${partner.id}/contacts`, { name: 'Pat Partner', email: 'pat@partner.example' }));
    const pipeline = json(await call('POST', '/alliances/pipelines', { name: 'Resellers', stages: ['lead', 'won'] }));
    expect((await call('POST', `/alliances/pipelines/${pipeline.id}/deals`, { partnerId: partner.id, title: 'Deal' })).statusCode).toBe(201);
    expect((await call('POST', `/alliances/partners/${partner.id}/notes`, { body: 'Note', contactId: contact.id })).statusCode).toBe(201);
    expect((await call('POST', '/tasks', { title: 'erased with the tenant', assigneeId: member.userId })).statusCode).toBe(201);
    expect((await call('POST', '/marketplace/installs', { module: 'knowledge-sync' })).statusCode).toBe(201);
    // Discourse: the integration, and a nonce seen by the SSO entry page.
    expect((await call('PUT', '/integrations/discourse', { origin: 'https://forum.example.com', secret: 'd'.repeat(40) })).statusCode).toBe(200);
    const discourseSso = Buffer.from('nonce=n1&return_sso_url=https%3A%2F%2Fforum.example.com%2Fsession%2Fsso_login').toString('base64');
    const discourseSig = createHmac('sha256', 'd'.repeat(40)).update(discourseSso).digest('hex');
    expect((await t.app.inject({ method: 'GET', url: `/sso/discourse/${who.tenantId}?sso=${encodeURIComponent(discourseSso)}&sig=${discourseSig}` })).statusCode).toBe(200);
    // Chat: a private room with the member, a message, its report, a mute, a socket ticket.
    const room = json(await call('POST', '/chat/rooms', { kind: 'private', name: 'erased', members: [member.userId] }));
    const message = json(await call('POST', `/chat/rooms/${room.id}/messages`, { text: 'gone with the tenant' }));
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/chat/messages/${message.id}/reports`, headers: bearer(member), payload: { reason: 'test' } })).statusCode).toBe(201);
    expect((await call('POST', `/chat/rooms/${room.id}/mutes`, { userId: member.userId, durationSeconds: 600, reason: 'test' })).statusCode).toBe(201);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/chat/tickets', headers: bearer(who) })).statusCode).toBe(201);
    // A second login through the MFA ticket step leaves a used ticket row.
    await login(t.app, who);
    await withOwner(t.platform.db, async (tx) => {
      await tx.query(sql`INSERT INTO external_tenants (issuer, external_id, tenant_id) VALUES (${'https://idp.example'}, ${`org_${randomUUID()}`}, ${who.tenantId})`);
      await tx.query(sql`INSERT INTO job_dead_letters (tenant_id, queue, job_id, payload, error, attempts) VALUES (${who.tenantId}, 'test.queue', ${randomUUID()}, '{"x":1}', 'boom', 3)`);
      await tx.query(sql`INSERT INTO job_completions (tenant_id, job_id, queue) VALUES (${who.tenantId}, ${randomUUID()}, 'test.queue')`);
      const [message] = await tx.query<{ id: string }>(sql`INSERT INTO webhook_messages (tenant_id, event_type, body) VALUES (${who.tenantId}, 'webhooks.test', '{}') RETURNING id`);
      const [delivery] = await tx.query<{ id: string }>(sql`
        INSERT INTO webhook_deliveries (tenant_id, message_id, endpoint_id, status, attempts) VALUES (${who.tenantId}, ${message!.id}, ${endpoint.id}, 'dead', 1) RETURNING id`);
      await tx.query(sql`INSERT INTO webhook_attempts (tenant_id, delivery_id, attempt, latency_ms, response_status) VALUES (${who.tenantId}, ${delivery!.id}, 1, 5, 500)`);
      await tx.query(sql`INSERT INTO webhook_inbound_events (tenant_id, receiver_id, webhook_id, event_type, payload) VALUES (${who.tenantId}, ${receiver.id}, 'msg_1', 'n8n.ping', '{}')`);
    });
  }

  beforeAll(async () => {
    doomed = await enableMfa(t.app, await signup(t.app, 'Doomed Ltd'));
    survivor = await enableMfa(t.app, await signup(t.app, 'Survivor Ltd'));
    await populate(doomed);
    await populate(survivor);
    // A signed checkpoint of the doomed tenant's log (this also creates the verifier key).
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(doomed) })).statusCode).toBe(200);
    // Access-log lines are buffered and flushed on a timer: write them all before counting rows.
    await new Promise((r) => setTimeout(r, 50));
    await t.app.accessLog?.flush();
    before = await rowsByTable(doomed.tenantId);
    survivorBefore = await rowsByTable(survivor.tenantId);
  });

  it('the test reaches every erased table (a new module table must be populated here too)', () => {
    const erased = [...declared.values()].filter((table) => table.onTenantErasure === 'erase').map((table) => table.name);
    expect(erased.filter((name) => !(before[name]! > 0)), 'erased tables this test put no row into').toEqual([]);
  });

  it('leaves no row of the tenant in any table its module does not retain, and nothing of another tenant goes', async () => {
    const res = await t.app.inject({ method: 'DELETE', url: '/api/v1/tenant', headers: bearer(doomed), payload: { confirmName: 'Doomed Ltd' } });
    expect(res.statusCode, res.body).toBe(200);
    const after = await rowsByTable(doomed.tenantId);
    const left = Object.entries(after).filter(([table, n]) => n > 0 && declared.get(table)?.onTenantErasure === 'erase');
    expect(left, 'rows left behind in erased tables').toEqual([]);
    // Retained tables are the kernel's evidence, which stays on purpose.
    for (const [table, n] of Object.entries(after)) {
      if (n > 0) expect(declared.get(table)?.onTenantErasure, table).not.toBe('erase');
    }
    expect(after.audit_events).toBeGreaterThan(0);
    // The survivor's access log keeps growing by itself (lines of its earlier requests are written in
    // batches): every other table of it must be exactly as it was.
    const { access_logs: _later, ...survivorAfter } = await rowsByTable(survivor.tenantId);
    const { access_logs: _earlier, ...survivorWas } = survivorBefore;
    expect(survivorAfter).toEqual(survivorWas);
    expect(json(res).erasedRows).toMatchObject({ knowledge_entries: before.knowledge_entries, memberships: before.memberships });
  });

  it("the deleted tenant's audit log still verifies, and a re-run finishes nothing twice", async () => {
    const key = await storedVerifierKey(t.platform.db, 5_000);
    const verified = await verifyStoredLog(t.platform.db, 5_000, doomed.tenantId, key);
    expect(verified.findings).toEqual([]);
    expect(verified.size).toBeGreaterThan(0);
    const { deleteTenant } = await import('../../src/modules/tenants/deletion.ts');
    const again = await deleteTenant(t.platform, doomed.tenantId, { type: 'operator', id: 'test' } as never);
    expect(again.alreadyDeleted).toBe(true);
    expect(Object.values(again.erasedRows).every((n) => n === 0)).toBe(true);
  });

  it('the erasure policy admits only a deleted tenant: the maintenance role cannot erase a live one', async () => {
    const deleted = await t.platform.withMaintenance(
      (tx) => tx.query(sql`DELETE FROM knowledge_entries WHERE tenant_id = ${survivor.tenantId} RETURNING id`),
      { tenantId: survivor.tenantId },
    );
    expect(deleted).toEqual([]);
    expect((await rowsByTable(survivor.tenantId)).knowledge_entries).toBe(survivorBefore.knowledge_entries);
  });
});
