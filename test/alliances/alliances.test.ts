import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner, withTenant, type TenantContext } from '../../src/db/transaction.ts';
import { alliancesModule } from '../../src/modules/alliances/manifest.ts';
import { addMember, bearer, enableMfa, json, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * Alliances CRM (issue #16 §2): only holders of alliances:read see pipelines;
 * a note is visible to its author and to alliances:manage holders only — through
 * the API and through the RLS policy with the application filter bypassed;
 * partner contacts are personal data in data-subject requests.
 */
let t: TestApp;
let owner: Account;
let admin: Account;
let bd1: Account;
let bd2: Account;
let member: Account;
let writer: Account;
let other: Account;
let partner: { id: string };
let contact: { id: string; email: string };
let contact2: { id: string };
let pipeline: { id: string };
let deal: { id: string };
let note1: { id: string };
let note2: { id: string };
let noteAboutContact: { id: string };
let otherPartner: { id: string };
const contactEmail = `ada-${randomUUID().slice(0, 6)}@partner.example`;

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
const api = (who: { accessToken: string }, method: Method, url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/alliances${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });
const ok = async (res: Awaited<ReturnType<typeof api>>, status = 200) => {
  expect(res.statusCode, res.body).toBe(status);
  return json(res);
};
const opts = { statementTimeoutMs: 5000 };
const asRuntime = <T>(ctx: TenantContext, fn: Parameters<typeof withTenant<T>>[3]) => withTenant(t.platform.db, ctx, opts, fn);

async function withRole(permissions: string[]): Promise<Account> {
  const role = json(await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(owner), payload: { name: `crm-${randomUUID().slice(0, 6)}`, permissions } }));
  const m = await addMember(t.app, owner, 'viewer');
  const res = await t.app.inject({ method: 'PUT', url: `/api/v1/members/${m.userId}/roles`, headers: bearer(owner), payload: { roles: [role.id] } });
  expect(res.statusCode, res.body).toBe(200);
  return login(t.app, m);
}

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Alliances');
  admin = await addMember(t.app, owner, 'admin');
  member = await addMember(t.app, owner, 'member');
  bd1 = await withRole(['alliances:read', 'alliances:write']);
  bd2 = await withRole(['alliances:read', 'alliances:write']);
  writer = await withRole(['alliances:write']);
  partner = await ok(await api(bd1, 'POST', '/partners', { name: 'Acme Resellers', website: 'https://acme.example', tier: 'gold' }), 201);
  contact = await ok(await api(bd1, 'POST', `/partners/${partner.id}/contacts`, { name: 'Ada Lovelace', email: contactEmail, phone: '+44 20 7946 0000', jobTitle: 'Head of Partnerships' }), 201);
  contact2 = await ok(await api(bd1, 'POST', `/partners/${partner.id}/contacts`, { name: 'Grace Hopper', email: 'grace@partner.example' }), 201);
  pipeline = await ok(await api(bd1, 'POST', '/pipelines', { name: 'Resellers', stages: ['lead', 'negotiation', 'won', 'lost'] }), 201);
  deal = await ok(await api(bd1, 'POST', `/pipelines/${pipeline.id}/deals`, { partnerId: partner.id, title: 'EMEA reseller', valueCents: 1_500_000, currency: 'EUR' }), 201);
  note1 = await ok(await api(bd1, 'POST', `/partners/${partner.id}/notes`, { body: 'bd1: they want 30% margin', dealId: deal.id }), 201);
  note2 = await ok(await api(bd2, 'POST', `/partners/${partner.id}/notes`, { body: 'bd2: competitor is cheaper' }), 201);
  noteAboutContact = await ok(await api(bd1, 'POST', `/partners/${partner.id}/notes`, { body: 'Ada prefers calls on Friday', contactId: contact.id }), 201);
  other = await signup(t.app, 'Other CRM');
  otherPartner = await ok(await api(other, 'POST', '/partners', { name: 'Other tenant partner' }), 201);
});
afterAll(() => t?.close());

describe('who sees the CRM', () => {
  it('only holders of alliances:read see pipelines, partners and deals', async () => {
    for (const who of [member, writer]) {
      for (const url of ['/pipelines', `/pipelines/${pipeline.id}`, '/partners', `/partners/${partner.id}`, `/deals/${deal.id}`, `/contacts/${contact.id}`]) {
        const res = await api(who, 'GET', url);
        expect(res.statusCode, url).toBe(403);
        expect(res.body).not.toContain('Acme');
      }
    }
    const p = await ok(await api(bd2, 'GET', `/pipelines/${pipeline.id}`));
    expect(p.deals.map((d: { id: string; stage: string; valueCents: number }) => [d.id, d.stage, d.valueCents])).toEqual([[deal.id, 'lead', 1_500_000]]);
    expect((await ok(await api(bd2, 'GET', `/partners/${partner.id}`))).contacts.map((c: { name: string }) => c.name)).toEqual(['Ada Lovelace', 'Grace Hopper']);
  });

  it('moves deals only to stages of their pipeline; bad input changes nothing', async () => {
    expect((await api(bd2, 'PATCH', `/deals/${deal.id}`, { stage: 'teleported' })).statusCode).toBe(400);
    expect((await api(bd2, 'POST', `/pipelines/${pipeline.id}/deals`, { partnerId: otherPartner.id, title: 'Smuggled' })).statusCode).toBe(404);
    expect((await api(bd2, 'POST', `/pipelines/${pipeline.id}/deals`, { partnerId: partner.id, title: 'Bad', stage: 'nope' })).statusCode).toBe(400);
    expect((await api(bd2, 'POST', '/partners', { name: 'x', website: 'javascript:alert(1)' })).statusCode).toBe(400);
    expect((await ok(await api(bd2, 'GET', `/pipelines/${pipeline.id}`))).deals).toHaveLength(1);
    const moved = await ok(await api(bd2, 'PATCH', `/deals/${deal.id}`, { stage: 'negotiation' }));
    expect(moved.stage).toBe('negotiation');
  });

  it("answers 404 for another tenant's partner, exactly like a missing one, and leaves it untouched", async () => {
    const missing = await api(admin, 'GET', `/partners/${randomUUID()}`);
    for (const [method, url, body] of [['GET', `/partners/${otherPartner.id}`], ['PATCH', `/partners/${otherPartner.id}`, { name: 'pwned' }],
      ['DELETE', `/partners/${otherPartner.id}`], ['GET', `/partners/${otherPartner.id}/notes`], ['POST', `/partners/${otherPartner.id}/notes`, { body: 'x' }],
      ['POST', `/partners/${otherPartner.id}/contacts`, { name: 'x' }]] as Array<[Method, string, object?]>) {
      const res = await api(admin, method, url, body);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(json(res).detail).toBe(json(missing).detail);
    }
    expect((await ok(await api(other, 'GET', `/partners/${otherPartner.id}`))).name).toBe('Other tenant partner');
    expect((await api(other, 'GET', `/contacts/${contact.id}`)).statusCode).toBe(404);
  });
});

describe('note privacy (API)', () => {
  const notesOf = async (who: Account) => (await ok(await api(who, 'GET', `/partners/${partner.id}/notes`))).items.map((n: { id: string }) => n.id).sort();

  it('a note is visible to its author and to alliances:manage holders only', async () => {
    expect(await notesOf(bd1)).toEqual([note1.id, noteAboutContact.id].sort());
    expect(await notesOf(bd2)).toEqual([note2.id]);
    expect(await notesOf(admin)).toEqual([note1.id, note2.id, noteAboutContact.id].sort());
    const body = (await api(bd2, 'GET', `/partners/${partner.id}/notes`)).body;
    expect(body).not.toContain('30% margin');
  });

  it("nobody but the author or a manager deletes a note; someone else's reads like a missing one", async () => {
    const res = await api(bd2, 'DELETE', `/notes/${note1.id}`);
    expect(res.statusCode).toBe(404);
    expect(json(res).detail).toBe(json(await api(bd2, 'DELETE', `/notes/${randomUUID()}`)).detail);
    expect(await notesOf(bd1)).toContain(note1.id);
    const spare = await ok(await api(bd2, 'POST', `/partners/${partner.id}/notes`, { body: 'temporary' }), 201);
    expect((await api(bd2, 'DELETE', `/notes/${spare.id}`)).statusCode).toBe(204);
    const byManager = await ok(await api(bd2, 'POST', `/partners/${partner.id}/notes`, { body: 'to be removed by a manager' }), 201);
    expect((await api(admin, 'DELETE', `/notes/${byManager.id}`)).statusCode).toBe(204);
    expect(await notesOf(bd2)).toEqual([note2.id]);
  });

  it("an API key sees no member's notes, even when its creator holds alliances:manage", async () => {
    await enableMfa(t.app, owner);
    const key = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(owner), payload: { name: 'crm-sync', scopes: ['alliances:read'] } });
    expect(key.statusCode, key.body).toBe(201);
    const machine = { accessToken: json(key).key as string };
    expect((await ok(await api(machine, 'GET', `/partners/${partner.id}`))).name).toBe('Acme Resellers');
    expect((await ok(await api(machine, 'GET', `/partners/${partner.id}/notes`))).items).toEqual([]);
  });

  it('writes notes only as their author, about a deal or contact of the same partner', async () => {
    const second = await ok(await api(bd1, 'POST', '/partners', { name: 'Second partner' }), 201);
    expect((await api(bd1, 'POST', `/partners/${second.id}/notes`, { body: 'x', dealId: deal.id })).statusCode).toBe(404);
    expect((await api(bd1, 'POST', `/partners/${second.id}/notes`, { body: 'x', contactId: contact.id })).statusCode).toBe(404);
    expect((await api(bd1, 'POST', `/partners/${partner.id}/notes`, { body: 'x', authorId: bd2.userId })).statusCode).toBe(400);
    expect((await ok(await api(admin, 'GET', `/partners/${second.id}/notes`))).items).toEqual([]);
  });
});

describe('the record-level rules hold with the application filter bypassed (RLS)', () => {
  const crm = ['alliances:read', 'alliances:write'];
  const notes = (ctx: TenantContext) => asRuntime(ctx, (tx) => tx.query<{ id: string; author_id: string }>(sql`SELECT id, author_id FROM alliance_notes`));

  it("another member's notes stay invisible to a plain SELECT", async () => {
    const seen = await notes({ tenantId: owner.tenantId, userId: bd2.userId, permissions: crm });
    expect(seen.map((n) => n.id)).toEqual([note2.id]);
    const asBd1 = await notes({ tenantId: owner.tenantId, userId: bd1.userId, permissions: crm });
    expect(asBd1.every((n) => n.author_id === bd1.userId)).toBe(true);
    const managed = await notes({ tenantId: owner.tenantId, userId: admin.userId, permissions: ['alliances:manage'] });
    expect(managed.map((n) => n.id)).toEqual(expect.arrayContaining([note1.id, note2.id, noteAboutContact.id]));
    // The manager's permission does not reach another tenant.
    expect(await notes({ tenantId: other.tenantId, userId: other.userId, permissions: ['alliances:manage'] })).toEqual([]);
  });

  it("cannot write a note in another's name, nor delete another's note", async () => {
    const ctx = { tenantId: owner.tenantId, userId: bd2.userId, permissions: crm };
    await expect(asRuntime(ctx, (tx) => tx.query(sql`
      INSERT INTO alliance_notes (tenant_id, partner_id, author_id, body) VALUES (${owner.tenantId}, ${partner.id}, ${bd1.userId}, 'forged')`))).rejects.toThrow(/row-level security/);
    expect(await asRuntime(ctx, (tx) => tx.query(sql`DELETE FROM alliance_notes WHERE id = ${note1.id} RETURNING id`))).toEqual([]);
    // Holding only read, not even one's own note can be written.
    await expect(asRuntime({ ...ctx, permissions: ['alliances:read'] }, (tx) => tx.query(sql`
      INSERT INTO alliance_notes (tenant_id, partner_id, author_id, body) VALUES (${owner.tenantId}, ${partner.id}, ${bd2.userId}, 'x')`))).rejects.toThrow(/row-level security/);
    const [still] = await withOwner(t.platform.db, (tx) => tx.query<{ body: string }>(sql`SELECT body FROM alliance_notes WHERE id = ${note1.id}`));
    expect(still?.body).toContain('30% margin');
  });

  it('without an alliances permission, a transaction sees no CRM row at all', async () => {
    for (const table of ['alliance_partners', 'alliance_contacts', 'alliance_pipelines', 'alliance_deals', 'alliance_notes']) {
      const rows = await asRuntime({ tenantId: owner.tenantId, userId: bd1.userId }, (tx) => tx.query(sql`SELECT * FROM ${sql.identifier(table)}`));
      expect(rows, table).toEqual([]);
    }
    // Holding only read, a row cannot be changed.
    await expect(asRuntime({ tenantId: owner.tenantId, userId: member.userId, permissions: ['alliances:read'] }, (tx) =>
      tx.query(sql`UPDATE alliance_partners SET name = 'pwned' WHERE id = ${partner.id} RETURNING id`))).rejects.toThrow(/row-level security/);
    expect((await ok(await api(admin, 'GET', `/partners/${partner.id}`))).name).toBe('Acme Resellers');
  });
});

describe('audit and data-subject requests', () => {
  const dsar = () => ({ tenantId: owner.tenantId, userId: admin.userId, permissions: ['alliances:read', 'alliances:manage'] });

  it('records CRM changes without a contact\'s personal data in the audit trail', async () => {
    const events = await withOwner(t.platform.db, (tx) => tx.query<{ action: string; metadata: unknown; target_id: string }>(sql`
      SELECT action, metadata, target_id FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action LIKE 'alliances.%' ORDER BY leaf_index`));
    expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(['alliances.partner.created', 'alliances.contact.created', 'alliances.pipeline.created',
      'alliances.deal.created', 'alliances.deal.updated', 'alliances.note.created', 'alliances.note.deleted']));
    const text = JSON.stringify(events);
    for (const pii of [contactEmail, 'Ada Lovelace', '+44 20 7946 0000', '30% margin']) expect(text).not.toContain(pii);
  });

  it("exports one contact person's records and nothing of another's", async () => {
    const data = await asRuntime(dsar(), (tx) => alliancesModule.exportSubject!(tx, { tenantId: owner.tenantId, userId: randomUUID(), email: contactEmail.toUpperCase() }));
    expect((data.contacts as Array<{ id: string }>).map((c) => c.id)).toEqual([contact.id]);
    expect((data.notes as Array<{ id: string }>).map((n) => n.id)).toEqual([noteAboutContact.id]);
    expect(JSON.stringify(data)).not.toContain('Grace');
    const author = await asRuntime(dsar(), (tx) => alliancesModule.exportSubject!(tx, { tenantId: owner.tenantId, userId: bd2.userId, email: bd2.email }));
    expect((author.notes as Array<{ id: string }>).map((n) => n.id)).toEqual([note2.id]);
  });

  it('erases a contact person: no column of the CRM tables names them afterwards, others stay', async () => {
    const counts = await asRuntime(dsar(), (tx) => alliancesModule.eraseSubject!(tx, { tenantId: owner.tenantId, userId: randomUUID(), email: contactEmail }));
    expect(counts).toMatchObject({ alliance_contacts: 1 });
    const rows = await withOwner(t.platform.db, (tx) => tx.query<{ row: string }>(sql`
      SELECT row_to_json(x)::text AS row FROM (
        SELECT to_jsonb(c) AS r FROM alliance_contacts c UNION ALL SELECT to_jsonb(n) FROM alliance_notes n
        UNION ALL SELECT to_jsonb(d) FROM alliance_deals d UNION ALL SELECT to_jsonb(p) FROM alliance_partners p) x`));
    const text = rows.map((r) => r.row).join('\n');
    for (const pii of [contactEmail, 'Ada Lovelace', '+44 20 7946 0000', 'Ada prefers']) expect(text).not.toContain(pii);
    expect(text).toContain('Grace Hopper');
    expect((await ok(await api(admin, 'GET', `/partners/${partner.id}`))).contacts.map((c: { id: string }) => c.id)).toEqual([contact2.id]);
  });

  it('erases a member: their notes go, deals they own lose their name', async () => {
    await asRuntime(dsar(), (tx) => alliancesModule.eraseSubject!(tx, { tenantId: owner.tenantId, userId: bd1.userId, email: bd1.email }));
    expect((await ok(await api(admin, 'GET', `/deals/${deal.id}`))).ownerId).toBeNull();
    const ids = (await ok(await api(admin, 'GET', `/partners/${partner.id}/notes`))).items.map((n: { id: string }) => n.id);
    expect(ids).toEqual([note2.id]);
  });
});
