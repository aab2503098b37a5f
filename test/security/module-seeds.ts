import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { withOwner } from '../../src/db/transaction.ts';
import { bearer, json, type Account, type TestApp } from '../support/app.ts';

/**
 * Rows of the product modules for the generated route matrix: A's ids prove a route
 * with an id works (the 404s for B's are isolation, not broken routes); B's ids and
 * secrets must never reach A. One seeder per module; add yours to `moduleSeeds`.
 */
export interface Seeded { aIds: string[]; bIds: string[]; bSecrets: string[] }
type Tenants = { A: { owner: Account }; B: { owner: Account } };
type Seeder = (t: TestApp, tenants: Tenants) => Promise<Seeded>;

const post = async (t: TestApp, who: Account, url: string, payload: object) => {
  const res = await t.app.inject({ method: 'POST', url: `/api/v1${url}`, headers: bearer(who), payload });
  if (res.statusCode >= 300) throw new Error(`seed ${url}: ${res.statusCode} ${res.body}`);
  return json(res);
};

/** Two ledger accounts and a transfer between them. */
const ledger: Seeder = async (t, { A, B }) => {
  const ids = async (who: Account) => {
    const account = async (code: string) => (await post(t, who, '/ledger/accounts', { code, name: code, asset: 'EUR' })).id as string;
    const [debit, credit] = [await account('fixture-debit'), await account('fixture-credit')];
    const transfer = await post(t, who, '/ledger/transfers', { id: randomUUID(), debitAccountId: debit, creditAccountId: credit, amount: '100' });
    return [debit, transfer.id as string];
  };
  return { aIds: await ids(A.owner), bIds: await ids(B.owner), bSecrets: [] };
};

/**
 * A webhook endpoint (disabled: nothing is ever sent to its public address), a message with a delivery
 * to it, and an inbound receiver.
 */
const webhooks: Seeder = async (t, { A, B }) => {
  const seed = async (owner: Account) => {
    const endpoint = await post(t, owner, '/webhooks/endpoints', { url: 'https://1.1.1.1/hook', eventTypes: ['webhooks.test'] });
    await t.app.inject({ method: 'PATCH', url: `/api/v1/webhooks/endpoints/${endpoint.id}`, headers: bearer(owner), payload: { enabled: false } });
    const receiver = await post(t, owner, '/webhooks/inbound', { name: 'n8n', eventTypes: ['*'] });
    const [message, delivery] = await withOwner(t.platform.db, async (tx) => {
      const [m] = await tx.query<{ id: string }>(sql`INSERT INTO webhook_messages (tenant_id, event_type, body) VALUES (${owner.tenantId}, 'webhooks.test', '{"data":{}}') RETURNING id`);
      const [d] = await tx.query<{ id: string }>(sql`INSERT INTO webhook_deliveries (tenant_id, message_id, endpoint_id, status) VALUES (${owner.tenantId}, ${m!.id}, ${endpoint.id}, 'dead') RETURNING id`);
      return [m!.id, d!.id];
    });
    return { ids: [endpoint.id as string, receiver.id as string, message, delivery], secrets: [endpoint.secret as string, receiver.secret as string] };
  };
  const a = await seed(A.owner);
  const b = await seed(B.owner);
  return { aIds: a.ids, bIds: b.ids, bSecrets: b.secrets };
};

const academy: Seeder = async (t, { A, B }) => {
  const ids = async (who: Account, title: string) => {
    const course = await post(t, who, '/academy/courses', { title, status: 'published' });
    const lesson = await post(t, who, `/academy/courses/${course.id}/lessons`, { title: `${title} lesson`, quiz: [{ question: 'q', options: ['a', 'b'], answer: 1 }] });
    return [course.id as string, lesson.id as string];
  };
  const secret = `B-course-${randomUUID()}`;
  return { aIds: await ids(A.owner, 'A course'), bIds: await ids(B.owner, secret), bSecrets: [secret] };
};

const alliances: Seeder = async (t, { A, B }) => {
  const ids = async (who: Account, label: string) => {
    const partner = await post(t, who, '/alliances/partners', { name: `${label} partner` });
    const contact = await post(t, who, `/alliances/partners/${partner.id}/contacts`, { name: `${label} contact`, email: `${label.toLowerCase()}-${randomUUID().slice(0, 6)}@partner.example` });
    const pipeline = await post(t, who, '/alliances/pipelines', { name: `${label} pipeline`, stages: ['lead', 'won'] });
    const deal = await post(t, who, `/alliances/pipelines/${pipeline.id}/deals`, { partnerId: partner.id, title: `${label} deal` });
    const note = await post(t, who, `/alliances/partners/${partner.id}/notes`, { body: `${label} note` });
    return { ids: [partner.id, contact.id, pipeline.id, deal.id, note.id] as string[], email: contact.email as string };
  };
  const secret = `B-partner-${randomUUID()}`;
  const a = await ids(A.owner, 'A');
  const b = await ids(B.owner, secret);
  return { aIds: a.ids, bIds: b.ids, bSecrets: [secret, b.email] };
};

/** A public chat room with a message (its text is B's secret). */
const chat: Seeder = async (t, { A, B }) => {
  const ids = async (who: Account, text: string) => {
    const room = await post(t, who, '/chat/rooms', { kind: 'public', name: 'seeded room' });
    const message = await post(t, who, `/chat/rooms/${room.id}/messages`, { text });
    return [room.id as string, message.id as string];
  };
  const secret = `B-chat-${randomUUID()}`;
  return { aIds: await ids(A.owner, 'A chat'), bIds: await ids(B.owner, secret), bSecrets: [secret] };
};

/** A content draft (stored) and a pending approval to publish it. */
const content: Seeder = async (t, { A, B }) => {
  const ids = async (who: Account, title: string) => {
    await t.app.inject({ method: 'PATCH', url: '/api/v1/content/settings', headers: bearer(who), payload: { storeOutputs: true } });
    const draft = await post(t, who, '/content/drafts', { kind: 'template', title, template: 'x' });
    const approval = await post(t, who, '/approvals', { actionType: 'content.draft.publish', payload: { draftId: draft.id } });
    return [draft.id as string, approval.id as string];
  };
  const secret = `B-draft-${randomUUID()}`;
  return { aIds: await ids(A.owner, 'A draft'), bIds: await ids(B.owner, secret), bSecrets: [secret] };
};

/** A DiscourseConnect configuration in each tenant: B's shared secret and admin API key must never reach A. */
const discourse: Seeder = async (t, { A, B }) => {
  const secrets: string[] = [];
  for (const who of [A.owner, B.owner]) {
    const apiKey = `dk_${randomUUID().replaceAll('-', '')}`;
    const res = await t.app.inject({
      method: 'PUT', url: '/api/v1/integrations/discourse', headers: bearer(who),
      payload: { origin: 'https://1.1.1.1', groupMapping: [{ group: 'staff', role: 'admin' }], logoutSync: { apiKey, apiUsername: 'system' } },
    });
    if (res.statusCode !== 200) throw new Error(`seed discourse: ${res.statusCode} ${res.body}`);
    if (who === B.owner) secrets.push(json(res).secret, apiKey);
  }
  return { aIds: [], bIds: [], bSecrets: secrets };
};

/** A finished knowledge export per tenant (its document names a secret of B's that must never reach A). */
const knowledgeExports: Seeder = async (t, { A, B }) => {
  const seed = async (who: Account, marker: string) => withOwner(t.platform.db, async (tx) => {
    const [row] = await tx.query<{ id: string }>(sql`
      INSERT INTO knowledge_exports (tenant_id, status, requested_by, entries, document, finished_at)
      VALUES (${who.tenantId}, 'done', ${who.userId}, 0, ${JSON.stringify({ format: 'ocsuite.knowledge.export.v1', marker })}, now()) RETURNING id`);
    return row!.id;
  });
  const secret = `B-export-${randomUUID()}`;
  return { aIds: [await seed(A.owner, 'A export')], bIds: [await seed(B.owner, secret)], bSecrets: [secret] };
};

export const moduleSeeds: readonly Seeder[] = [discourse, ledger, webhooks, academy, alliances, chat, content, knowledgeExports];

export async function seedModules(t: TestApp, tenants: Tenants): Promise<Seeded> {
  const out: Seeded = { aIds: [], bIds: [], bSecrets: [] };
  for (const seed of moduleSeeds) {
    const s = await seed(t, tenants);
    out.aIds.push(...s.aIds);
    out.bIds.push(...s.bIds);
    out.bSecrets.push(...s.bSecrets);
  }
  return out;
}
