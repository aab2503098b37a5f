import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { storedVerifierKey, verifyStoredLog } from '../../src/kernel/audit/verify-db.ts';
import { addMember, bearer, enableMfa, json, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * Data-subject requests (issue #16 §6): one person's data in several modules, exported as one archive
 * that holds all of it and nothing of anyone else's, then erased so that no text or JSON column of any
 * table still holds their address, name or a marker seeded in their records — while the tenant's audit
 * log still verifies.
 */
let t: TestApp;
let owner: Account;
let admin: Account;
let subject: Account;
let bystander: Account;
let outsider: Account;
let member: Account;
let course: { id: string };
let lesson: { id: string };
let room: { id: string };

interface Person { account: Account; name: string; marker: string; ids: Record<string, string> }
let S: Person;
let O: Person;

const call = async (who: Account, method: 'POST' | 'PUT' | 'PATCH' | 'GET', url: string, payload?: object) => {
  const res = await t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return json(res);
};
const dsar = (who: Account, kind: 'exports' | 'erasures', payload: object) => t.app.inject({ method: 'POST', url: `/api/v1/privacy/${kind}`, headers: bearer(who), payload });

/** Puts one person's data into chat, academy, alliances, tasks, outreach, identity (API key) and knowledge. */
async function seed(account: Account, label: string): Promise<Person> {
  const marker = `marker-${label}-${randomUUID()}`;
  const name = `${label} Person ${randomUUID().slice(0, 8)}`;
  await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE users SET display_name = ${name} WHERE id = ${account.userId}`));
  const ids: Record<string, string> = {};
  ids.message = (await call(account, 'POST', `/chat/rooms/${room.id}/messages`, { text: `hello from ${marker}` })).id;
  await call(account, 'POST', `/academy/courses/${course.id}/enrolments`, {});
  await call(account, 'PUT', `/academy/lessons/${lesson.id}/completion`, {});
  ids.quiz = (await call(account, 'POST', `/academy/lessons/${lesson.id}/quiz-attempts`, { answers: [1] })).id;
  const partner = await call(owner, 'POST', '/alliances/partners', { name: `Partner of ${label}` });
  ids.contact = (await call(owner, 'POST', `/alliances/partners/${partner.id}/contacts`, { name, email: account.email })).id;
  ids.note = (await call(owner, 'POST', `/alliances/partners/${partner.id}/notes`, { body: `call notes ${marker}`, contactId: ids.contact })).id;
  ids.task = (await call(owner, 'POST', '/tasks', { title: `Review for ${label}`, assigneeId: account.userId })).id;
  await call(account, 'POST', `/tasks/${ids.task}/complete`, { note: `done, ${marker}` });
  ids.outreach = (await call(owner, 'POST', '/outreach/contacts', { email: account.email, name, source: 'signup-form', lawfulBasis: 'legitimate_interest' })).id;
  ids.apiKey = (await call(account, 'POST', '/api-keys', { name: `${name} laptop`, scopes: ['knowledge:read'] })).id;
  ids.entry = (await call(account, 'POST', '/knowledge', { title: `Entry by ${label}`, body: 'plain tenant content' })).id;
  return { account, name, marker, ids };
}

/** Every (table, column) of every text, varchar, text[] and json/jsonb column in the database, searched as the owner. */
async function whereFound(needles: string[]): Promise<string[]> {
  return withOwner(t.platform.db, async (tx) => {
    const columns = await tx.query<{ table_schema: string; table_name: string; column_name: string }>(sql`
      SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c
      JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name AND tb.table_type = 'BASE TABLE'
      WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema')
        AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb') OR c.udt_name IN ('_text', '_varchar', '_jsonb'))
      ORDER BY 1, 2, 3`);
    expect(columns.length).toBeGreaterThan(50);
    const found: string[] = [];
    for (const c of columns) {
      const col = sql.identifier(c.column_name);
      const table = sql`${sql.identifier(c.table_schema)}.${sql.identifier(c.table_name)}`;
      for (const needle of needles) {
        const [row] = await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${table} WHERE ${col}::text ILIKE ${`%${needle}%`}`);
        if (row!.n > 0) found.push(`${c.table_schema}.${c.table_name}.${c.column_name} ∋ ${needle}`);
      }
    }
    return found;
  });
}

beforeAll(async () => {
  t = await startApp();
  owner = await enableMfa(t.app, await signup(t.app, 'Privacy A'));
  admin = await enableMfa(t.app, await addMember(t.app, owner, 'admin'));
  // Admins, so that they can name an API key of their own (a personal field of an audit event).
  subject = await enableMfa(t.app, await addMember(t.app, owner, 'admin'));
  bystander = await enableMfa(t.app, await addMember(t.app, owner, 'admin'));
  member = await addMember(t.app, owner, 'member');
  outsider = await enableMfa(t.app, await signup(t.app, 'Privacy B'));
  course = await call(owner, 'POST', '/academy/courses', { title: 'Security basics', status: 'published' });
  lesson = await call(owner, 'POST', `/academy/courses/${course.id}/lessons`, { title: 'Phishing', quiz: [{ question: 'q', options: ['a', 'b'], answer: 1 }] });
  room = await call(owner, 'POST', '/chat/rooms', { kind: 'private', name: 'team', members: [subject.userId, bystander.userId] });
  S = await seed(subject, 'Subject');
  O = await seed(bystander, 'Bystander');
});
afterAll(() => t?.close());

describe('data-subject requests', () => {
  it('are refused without step-up, to a non-admin, and for a member of another tenant', async () => {
    const fresh = await addMember(t.app, owner, 'admin');
    const noStepUp = await dsar(fresh, 'exports', { userId: subject.userId });
    expect(noStepUp.statusCode).toBe(403);
    expect(json(noStepUp).type).toBe('urn:ocsuite:problem:step-up-required');
    expect((await dsar(fresh, 'erasures', { userId: subject.userId })).statusCode).toBe(403);
    expect((await dsar(member, 'exports', { userId: subject.userId })).statusCode).toBe(403);
    expect((await dsar(member, 'erasures', { userId: subject.userId })).statusCode).toBe(403);
    // Tenant B's administrator: A's member is nobody there.
    expect((await dsar(outsider, 'exports', { userId: subject.userId })).statusCode).toBe(404);
    expect((await dsar(outsider, 'erasures', { userId: subject.userId })).statusCode).toBe(404);
    // By address B finds only what B holds about it (nothing), and A's records are untouched.
    const byEmail = await dsar(outsider, 'exports', { email: subject.email });
    expect(byEmail.statusCode).toBe(200);
    expect(byEmail.body).not.toContain(S.marker);
    expect(json(byEmail).subject).toEqual({ userId: null, email: subject.email, member: false });
    expect((await dsar(outsider, 'erasures', { email: subject.email })).statusCode).toBe(200);
    expect((await whereFound([S.marker])).length).toBeGreaterThan(0);
    expect((await dsar(owner, 'erasures', { userId: owner.userId })).statusCode).toBe(409);
    expect((await dsar(owner, 'exports', { userId: subject.userId, email: subject.email })).statusCode).toBe(400);
  });

  it('is refused, not answered partially, to a custom role holding privacy:manage but not what the record-level policies consult', async () => {
    const role = await call(owner, 'POST', '/roles', { name: `dpo-${randomUUID().slice(0, 6)}`, permissions: ['privacy:manage'] });
    const dpo = await addMember(t.app, owner, 'viewer');
    await call(owner, 'PUT', `/members/${dpo.userId}/roles`, { roles: ['viewer', role.id] });
    const session = await enableMfa(t.app, await login(t.app, dpo));
    const res = await dsar(session, 'exports', { userId: subject.userId });
    expect(res.statusCode, res.body).toBe(403);
    expect(json(res).detail).toMatch(/academy:manage/);
    expect(res.body).not.toContain(S.marker);
  });

  it('exports all of one person\'s data across modules and nothing of anyone else\'s, audited without personal data', async () => {
    const res = await dsar(admin, 'exports', { email: subject.email.toUpperCase() });
    expect(res.statusCode, res.body).toBe(200);
    const archive = json(res);
    expect(archive).toMatchObject({ format: 'ocsuite.dsar.v1', tenantId: owner.tenantId, subject: { userId: subject.userId, email: subject.email, member: true } });
    const m = archive.modules;
    expect(m.identity.account).toMatchObject({ email: subject.email, displayName: S.name });
    expect(m.identity.membership.role).toBe('admin');
    expect(m.identity.apiKeysCreated.map((k: { id: string }) => k.id)).toEqual([S.ids.apiKey]);
    expect(m.identity.invitationsReceived).toHaveLength(1);
    expect(m.chat.messages.map((x: { id: string; text: string }) => [x.id, x.text])).toEqual([[S.ids.message, `hello from ${S.marker}`]]);
    expect(m.academy.enrolments).toHaveLength(1);
    expect(m.academy.lessonsCompleted.map((l: { lessonId: string }) => l.lessonId)).toEqual([lesson.id]);
    expect(m.academy.quizResults.map((q: { id: string }) => q.id)).toEqual([S.ids.quiz]);
    expect(m.alliances.contacts.map((c: { id: string }) => c.id)).toEqual([S.ids.contact]);
    expect(m.alliances.notes.map((n: { id: string }) => n.id)).toEqual([S.ids.note]);
    expect(JSON.stringify(m.tasks)).toContain(S.ids.task);
    expect(JSON.stringify(m.outreach)).toContain(S.ids.outreach);
    expect(m.knowledge.entriesWritten.map((e: { id: string }) => e.id)).toEqual([S.ids.entry]);
    expect(m.audit.personalFields.map((p: { fields: unknown }) => p.fields)).toEqual(expect.arrayContaining([{ email: subject.email }, { name: `${S.name} laptop` }]));
    // Nothing of the bystander: not their address, name, marker or any of their ids.
    for (const value of [bystander.email, O.name, O.marker, ...Object.values(O.ids)]) expect(res.body, value).not.toContain(value);
    const [event] = await withOwner(t.platform.db, (tx) => tx.query<{ metadata: unknown; target_id: string }>(sql`
      SELECT metadata, target_id FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'privacy.subject.exported' AND actor_id = ${admin.userId}`));
    expect(event!.target_id).toBe(subject.userId);
    expect(JSON.stringify(event)).not.toContain(subject.email);
  });

  it('erases the person everywhere — no text or JSON column holds their address, name or marker — and the audit log still verifies', async () => {
    const needles = [subject.email, S.name, S.marker];
    // Before: the data is really there (in several tables), so the search below can find it.
    const before = await whereFound(needles);
    expect(new Set(before.map((f) => f.split('.').slice(0, 2).join('.'))).size).toBeGreaterThanOrEqual(5);

    const res = await dsar(admin, 'erasures', { userId: subject.userId });
    expect(res.statusCode, res.body).toBe(200);
    const receipt = json(res);
    expect(receipt).toMatchObject({ tenantId: owner.tenantId, subject: { userId: subject.userId, member: true }, accountPseudonymised: true });
    expect(receipt.modules.chat.chat_messages).toBe(1);
    expect(receipt.modules.alliances.alliance_contacts).toBe(1);
    expect(receipt.modules.identity.memberships).toBe(1);
    expect(receipt.modules.audit.audit_personal).toBeGreaterThanOrEqual(2);

    expect(await whereFound(needles)).toEqual([]);
    // The bystander's data is all still there.
    expect((await whereFound([bystander.email, O.name, O.marker])).length).toBeGreaterThanOrEqual(5);
    // The person can no longer sign in or act, and is nobody to a second request.
    // Revocation reaches a verified-token cache within its documented bound (5 s), not at once.
    await vi.waitFor(async () => expect((await t.app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: bearer(subject) })).statusCode).toBe(401), { timeout: 10_000, interval: 250 });
    expect((await dsar(admin, 'exports', { userId: subject.userId })).statusCode).toBe(404);

    // The erasure is audited without personal data, and the log — every leaf, every checkpoint — verifies.
    const [event] = await withOwner(t.platform.db, (tx) => tx.query<{ metadata: Record<string, unknown> }>(sql`
      SELECT metadata FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'privacy.subject.erased' AND target_id = ${subject.userId}`));
    expect(event!.metadata).toMatchObject({ member: true });
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(owner) })).statusCode).toBe(200);
    const key = await storedVerifierKey(t.platform.db, t.platform.config.statementTimeoutMs);
    const verified = await verifyStoredLog(t.platform.db, t.platform.config.statementTimeoutMs, owner.tenantId, key);
    expect(verified.findings).toEqual([]);
    expect(verified.ok).toBe(true);
    expect(verified.coveredSize).toBe(verified.size);
  });
});
