import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { queueDeliveries } from '../../src/modules/webhooks/publish.ts';
import { addMember, bearer, enableMfa, json, signup, startApp, uniqueEmail, type Account, type TestApp } from '../support/app.ts';
import { eventually, startReceiver, type Received } from './receiver.ts';

/**
 * Every event type a module manifest declares is published by that module's
 * service where the event happens (issue #13 §1): a real local receiver gets
 * it signed (verified with the `standardwebhooks` package), tenant B's endpoint
 * — subscribed to the very same types — never does, and the payload carries
 * only the tenant's own data for the type. Then the entitlement rule: a type
 * no longer offered, or an endpoint whose creator lost the type's permission
 * or left the tenant, is not delivered.
 */
let t: TestApp;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let A: Account;
let B: Account;
let member: Account;
let endpointA: { id: string; secret: string };
let endpointB: { id: string; secret: string };

/** Covered elsewhere: tasks (test/tasks, webhook events), webhooks.test and webhooks.endpoint.disabled (outbound.test.ts). */
const ELSEWHERE = ['tasks.task.completed', 'tasks.task.verified', 'webhooks.test', 'webhooks.endpoint.disabled'];
const HERE = [
  'ledger.transfer.created', 'approvals.approval.decided', 'academy.enrolment.created',
  'alliances.deal.created', 'alliances.deal.updated', 'alliances.deal.deleted',
  'marketplace.module.installed', 'marketplace.module.uninstalled',
  'outreach.campaign.sent', 'outreach.address.bounced', 'chat.message.created',
];

const call = async (who: Account, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object, status?: number) => {
  const res = await t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });
  if (status !== undefined) expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(status);
  else expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
  return res.body ? json(res) : undefined;
};

const parsed = (r: Received) => JSON.parse(r.body) as { type: string; timestamp: string; data: Record<string, any> };

/** The message of `type` whose data matches, delivered to A's endpoint and verified with A's secret. */
async function deliveredToA(type: string, match: (data: Record<string, any>) => boolean) {
  const got = await eventually(async () => rx.at('/A').find((r) => parsed(r).type === type && match(parsed(r).data)), 30_000);
  const verified = new Webhook(endpointA.secret).verify(got.body, got.headers as Record<string, string>) as { type: string; data: Record<string, any> };
  expect(verified.type).toBe(type);
  expect(() => new Webhook(endpointB.secret).verify(got.body, got.headers as Record<string, string>)).toThrow();
  return verified.data;
}

beforeAll(async () => {
  rx = await startReceiver();
  t = await startApp({ OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32', OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1', OCSUITE_WEBHOOK_RETRY_SCHEDULE: '0,1' });
  A = await enableMfa(t.app, await signup(t.app, 'Events A'));
  B = await enableMfa(t.app, await signup(t.app, 'Events B'));
  member = await addMember(t.app, A, 'member');
  endpointA = await call(A, 'POST', '/webhooks/endpoints', { url: rx.url('/A'), eventTypes: HERE }, 201);
  endpointB = await call(B, 'POST', '/webhooks/endpoints', { url: rx.url('/B'), eventTypes: HERE }, 201);
});

afterAll(async () => {
  await t?.close();
  await rx?.close();
});

describe('every catalogued event type has a publisher', () => {
  it('the catalogue is exactly the types tested here and elsewhere', () => {
    expect(t.platform.webhookEvents.map((e) => e.type).sort()).toEqual([...HERE, ...ELSEWHERE].sort());
  });
});

describe('module events reach the tenant’s own endpoint, signed, and never another tenant’s', () => {
  it('ledger: a recorded transfer', async () => {
    const account = async (code: string) => (await call(A, 'POST', '/ledger/accounts', { code, name: code, asset: 'EUR' }, 201)).id as string;
    const [debit, credit] = [await account('events-debit'), await account('events-credit')];
    const id = randomUUID();
    await call(A, 'POST', '/ledger/transfers', { id, debitAccountId: debit, creditAccountId: credit, amount: '250' });
    const data = await deliveredToA('ledger.transfer.created', (d) => d.id === id);
    expect(data).toMatchObject({ id, debitAccountId: debit, creditAccountId: credit, amount: '250', kind: 'posted' });
  });

  it('approvals: a decision', async () => {
    await call(A, 'PATCH', '/content/settings', { storeOutputs: true });
    const draft = await call(A, 'POST', '/content/drafts', { kind: 'template', title: 'events draft', template: 'x' });
    const approval = await call(A, 'POST', '/approvals', { actionType: 'content.draft.publish', payload: { draftId: draft.id } }, 201);
    await call(A, 'POST', `/approvals/${approval.id}/reject`, { note: 'not now' });
    const data = await deliveredToA('approvals.approval.decided', (d) => d.id === approval.id);
    expect(data).toMatchObject({ id: approval.id, status: 'rejected', actionType: 'content.draft.publish', decidedBy: A.userId, decisionNote: 'not now' });
    expect(data).not.toHaveProperty('payload');
  });

  it('academy: an enrolment (and none for enrolling again)', async () => {
    const course = await call(A, 'POST', '/academy/courses', { title: 'Events course', status: 'published' }, 201);
    await call(member, 'POST', `/academy/courses/${course.id}/enrolments`);
    await call(member, 'POST', `/academy/courses/${course.id}/enrolments`);
    const data = await deliveredToA('academy.enrolment.created', (d) => d.courseId === course.id);
    expect(data).toMatchObject({ courseId: course.id, courseTitle: 'Events course', learnerId: member.userId });
    const [n] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM webhook_messages WHERE tenant_id = ${A.tenantId} AND event_type = 'academy.enrolment.created' AND body LIKE ${`%${course.id}%`}`));
    expect(n!.n).toBe(1);
  });

  it('alliances: a deal created, moved and deleted', async () => {
    const partner = await call(A, 'POST', '/alliances/partners', { name: 'Events partner' }, 201);
    const pipeline = await call(A, 'POST', '/alliances/pipelines', { name: 'Events pipeline', stages: ['lead', 'won'] }, 201);
    const deal = await call(A, 'POST', `/alliances/pipelines/${pipeline.id}/deals`, { partnerId: partner.id, title: 'Events deal' }, 201);
    expect(await deliveredToA('alliances.deal.created', (d) => d.id === deal.id)).toMatchObject({ id: deal.id, stage: 'lead', title: 'Events deal' });
    await call(A, 'PATCH', `/alliances/deals/${deal.id}`, { stage: 'won' });
    expect(await deliveredToA('alliances.deal.updated', (d) => d.id === deal.id)).toMatchObject({ id: deal.id, stage: 'won', previousStage: 'lead' });
    await call(A, 'DELETE', `/alliances/deals/${deal.id}`, undefined, 204);
    expect(await deliveredToA('alliances.deal.deleted', (d) => d.id === deal.id)).toEqual({ id: deal.id, pipelineId: pipeline.id, partnerId: partner.id });
  });

  it('marketplace: an install and an uninstall, never with the module’s credential', async () => {
    const install = await call(A, 'POST', '/marketplace/installs', { module: 'task-reminders' }, 201);
    const data = await deliveredToA('marketplace.module.installed', (d) => d.id === install.id);
    expect(data).toMatchObject({ id: install.id, module: 'task-reminders', scopes: ['tasks:read'] });
    expect(JSON.stringify(data)).not.toContain(install.credential);
    await call(A, 'DELETE', `/marketplace/installs/${install.id}`, undefined, 204);
    expect(await deliveredToA('marketplace.module.uninstalled', (d) => d.id === install.id)).toMatchObject({ id: install.id, module: 'task-reminders' });
  });

  it('outreach: a campaign send (counts, never recipients) and a reported bounce', async () => {
    await call(A, 'PATCH', '/outreach/settings', { postalAddress: '1 Events Street\nLondon', fromAddress: 'news@events.example' });
    const email = uniqueEmail('events-rcpt');
    const contact = await call(A, 'POST', '/outreach/contacts', { email, source: 'test', lawfulBasis: 'consent', consentText: 'Yes please.' }, 201);
    const campaign = await call(A, 'POST', '/outreach/campaigns', { name: 'Events news', subject: 'Events news', bodyText: 'Hello.', contactIds: [contact.id] }, 201);
    await call(A, 'POST', `/outreach/campaigns/${campaign.id}/send`, undefined, 202);
    const sent = await deliveredToA('outreach.campaign.sent', (d) => d.campaignId === campaign.id);
    expect(sent).toMatchObject({ campaignId: campaign.id, recipients: 1 });
    expect(JSON.stringify(sent)).not.toContain(email);

    const receiver = await call(A, 'POST', '/webhooks/inbound', { name: 'mail relay', eventTypes: ['mail.*'] }, 201);
    const bounced = uniqueEmail('events-bounced');
    const body = JSON.stringify({ type: 'mail.bounced', data: { email: bounced } });
    const msgId = `msg_${randomUUID()}`;
    const at = new Date();
    const res = await t.app.inject({
      method: 'POST', url: `/hooks/${receiver.id}`, payload: body,
      headers: { 'content-type': 'application/json', 'webhook-id': msgId, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(receiver.secret).sign(msgId, at, body) },
    });
    expect(res.statusCode, res.body).toBe(202);
    // Published in the inbound bus's transaction; the webhooks sweep queues it — done here at once.
    const pending = await eventually(async () => {
      const rows = await withOwner(t.platform.db, (tx) => tx.query<{ id: string }>(sql`
        SELECT d.id FROM webhook_deliveries d JOIN webhook_messages m ON m.tenant_id = d.tenant_id AND m.id = d.message_id
        WHERE d.tenant_id = ${A.tenantId} AND m.event_type = 'outreach.address.bounced' AND m.body LIKE ${`%${bounced.toLowerCase()}%`}`));
      return rows.length > 0 ? rows : undefined;
    }, 30_000);
    await queueDeliveries(t.platform, A.tenantId, pending.map((r) => r.id));
    expect(await deliveredToA('outreach.address.bounced', (d) => d.address === bounced.toLowerCase())).toMatchObject({ reason: 'bounced', source: 'webhook' });
  });

  it('chat: a public room’s message; never a private room’s', async () => {
    const room = await call(A, 'POST', '/chat/rooms', { kind: 'public', name: 'events lobby' }, 201);
    const secretRoom = await call(A, 'POST', '/chat/rooms', { kind: 'private', name: 'events board', members: [member.userId] }, 201);
    const hidden = await call(member, 'POST', `/chat/rooms/${secretRoom.id}/messages`, { text: 'board only' }, 201);
    const msg = await call(member, 'POST', `/chat/rooms/${room.id}/messages`, { text: 'hello **all**' }, 201);
    expect(await deliveredToA('chat.message.created', (d) => d.id === msg.id)).toMatchObject({ id: msg.id, roomId: room.id, roomName: 'events lobby', authorId: member.userId, text: 'hello **all**' });
    const [n] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM webhook_messages WHERE tenant_id = ${A.tenantId} AND body LIKE ${`%${hidden.id}%`}`));
    expect(n!.n).toBe(0);
  });

  it('tenant B’s endpoint, subscribed to every one of these types, got nothing of A’s', async () => {
    expect(rx.at('/B')).toEqual([]);
    const [n] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = ${endpointB.id}`));
    expect(n!.n).toBe(0);
    // And A's endpoint got A's only: nothing naming B's tenant.
    expect(rx.at('/A').some((r) => r.body.includes(B.tenantId) || r.body.includes(B.userId))).toBe(false);
  });
});

describe('deliveries stop when the endpoint is no longer entitled to the type', () => {
  const attemptsOf = (endpointId: string) => withOwner(t.platform.db, (tx) => tx.query<{ status: string; error: string | null }>(sql`
    SELECT d.status, a.error FROM webhook_deliveries d LEFT JOIN webhook_attempts a ON a.tenant_id = d.tenant_id AND a.delivery_id = d.id
    WHERE d.endpoint_id = ${endpointId} ORDER BY d.created_at`));

  async function transfer() {
    const account = async (code: string) => (await call(A, 'POST', '/ledger/accounts', { code, name: code, asset: 'EUR' }, 201)).id as string;
    const [debit, credit] = [await account(`d-${randomUUID().slice(0, 6)}`), await account(`c-${randomUUID().slice(0, 6)}`)];
    const id = randomUUID();
    await call(A, 'POST', '/ledger/transfers', { id, debitAccountId: debit, creditAccountId: credit, amount: '1' });
    return id;
  }

  it('its creator lost the type’s permission (a demotion), then left the tenant', async () => {
    const admin = await addMember(t.app, A, 'admin');
    const path = `/creator-${randomUUID().slice(0, 6)}`;
    const endpoint = await call(admin, 'POST', '/webhooks/endpoints', { url: rx.url(path), eventTypes: ['ledger.transfer.created'] }, 201);
    const first = await transfer();
    await eventually(async () => rx.at(path).find((r) => parsed(r).data.id === first), 30_000);

    // admin → member: ledger:read is gone (a member does not hold it), and with it this endpoint's standing read.
    await call(A, 'PATCH', `/members/${admin.userId}`, { role: 'member' }, 204);
    const second = await transfer();
    await eventually(async () => ((await attemptsOf(endpoint.id)).some((a) => a.error?.includes('no longer holds ledger:read')) ? true : undefined), 30_000);
    expect(rx.at(path).some((r) => parsed(r).data.id === second)).toBe(false);

    await call(A, 'DELETE', `/members/${admin.userId}`, undefined, 204);
    await transfer();
    await eventually(async () => ((await attemptsOf(endpoint.id)).some((a) => a.error === 'not sent: endpoint creator left the tenant') ? true : undefined), 30_000);
    expect(rx.at(path)).toHaveLength(1);
    expect((await attemptsOf(endpoint.id)).map((a) => a.status)).toEqual(['succeeded', 'dead', 'dead']);
  });

  it('a type no longer offered by any composed module (queued before the module left the build)', async () => {
    const path = `/withdrawn-${randomUUID().slice(0, 6)}`;
    const endpoint = await call(A, 'POST', '/webhooks/endpoints', { url: rx.url(path), eventTypes: ['ledger.transfer.created'] }, 201);
    const [delivery] = await withOwner(t.platform.db, async (tx) => {
      const [m] = await tx.query<{ id: string }>(sql`
        INSERT INTO webhook_messages (tenant_id, event_type, body) VALUES (${A.tenantId}, 'retired.thing.happened', '{"type":"retired.thing.happened","data":{}}') RETURNING id`);
      return tx.query<{ id: string }>(sql`
        INSERT INTO webhook_deliveries (tenant_id, message_id, endpoint_id, next_attempt_at) VALUES (${A.tenantId}, ${m!.id}, ${endpoint.id}, now()) RETURNING id`);
    });
    await queueDeliveries(t.platform, A.tenantId, [delivery!.id]);
    await eventually(async () => ((await attemptsOf(endpoint.id)).some((a) => a.error === 'not sent: event type no longer offered') ? true : undefined), 30_000);
    expect(rx.at(path)).toEqual([]);
  });
});

