import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { inboundWebhooks, type InboundEvent } from '../../src/modules/webhooks/inbound-events.ts';
import { eraseWebhookSubject, exportWebhookSubject } from '../../src/modules/webhooks/subject.ts';
import { hmacSignature } from '../../src/modules/webhooks/inbound-verify.ts';
import { bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { eventually } from './receiver.ts';

/**
 * Inbound receivers (POST /hooks/{id}): calls signed by the `standardwebhooks`
 * library (an independent signer) are accepted and handed to subscribers in the
 * receiver's tenant; replayed, tampered, stale, future, wrongly signed,
 * off-allowlist and cross-tenant calls are refused alike and change nothing.
 */
let t: TestApp;
let A: Account;
let B: Account;
const handed: InboundEvent[] = [];

const api = (who: Account, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/webhooks${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });

async function receiver(who: Account, body: object = {}) {
  const res = await api(who, 'POST', '/inbound', { name: 'n8n outreach', eventTypes: ['mail.*', 'n8n.ping'], ...body });
  expect(res.statusCode, res.body).toBe(201);
  return json(res) as { id: string; secret: string; url: string; scheme: string };
}

/** A call as a Standard Webhooks sender makes it (the library signs, not our code). */
function signed(secret: string, payload: object, opts: { id?: string; at?: Date } = {}) {
  const body = JSON.stringify(payload);
  const id = opts.id ?? `msg_${randomUUID()}`;
  const at = opts.at ?? new Date();
  const signature = new Webhook(secret).sign(id, at, body);
  return { body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature } };
}

const post = (id: string, call: { body: string; headers: Record<string, string> }, remoteAddress?: string) =>
  t.app.inject({ method: 'POST', url: `/hooks/${id}`, headers: call.headers, payload: call.body, ...(remoteAddress ? { remoteAddress } : {}) });

const eventRows = (receiverId: string) => withOwner(t.platform.db, async (tx) =>
  (await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM webhook_inbound_events WHERE receiver_id = ${receiverId}`))[0]!.n);

beforeAll(async () => {
  t = await startApp();
  A = await signup(t.app, 'Inbound A');
  B = await signup(t.app, 'Inbound B');
  inboundWebhooks(t.platform).subscribe('mail.bounced', async (event, tx) => {
    // The handler runs in the receiver's tenant: RLS shows it that tenant's rows only.
    const [row] = await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM webhook_receivers WHERE tenant_id <> ${event.tenantId}`);
    expect(row!.n).toBe(0);
    handed.push(event);
  });
});
afterAll(async () => t?.close());

describe('accepted', () => {
  it('verifies a Standard Webhooks call and hands it to the subscribers of its type, in the receiver tenant', async () => {
    const r = await receiver(A);
    expect(r.secret).toMatch(/^whsec_/);
    expect(r.url).toBe(`http://ocsuite.test/hooks/${r.id}`);
    const call = signed(r.secret, { type: 'mail.bounced', data: { email: 'gone@example.com' } });
    const res = await post(r.id, call);
    expect(res.statusCode, res.body).toBe(202);
    const event = await eventually(async () => handed.find((e) => e.webhookId === call.headers['webhook-id']));
    expect(event).toMatchObject({ tenantId: A.tenantId, receiverId: r.id, type: 'mail.bounced', payload: { data: { email: 'gone@example.com' } } });
    const listed = await eventually(async () => {
      const items = json(await api(A, 'GET', `/inbound/${r.id}/events`)).items;
      return items[0]?.status === 'dispatched' ? items : undefined;
    });
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: json(res).id, webhookId: call.headers['webhook-id'], eventType: 'mail.bounced' });
  });

  it('accepts the plain HMAC-SHA256 header scheme (an n8n Crypto node)', async () => {
    const r = await receiver(A, { scheme: 'hmac-sha256' });
    expect(r.secret).toMatch(/^hmac_[0-9a-f]{64}$/);
    const body = JSON.stringify({ type: 'n8n.ping', data: { ok: true } });
    const id = randomUUID();
    const ts = Math.floor(Date.now() / 1000);
    const headers = { 'content-type': 'application/json', 'x-webhook-id': id, 'x-webhook-timestamp': String(ts), 'x-webhook-signature': hmacSignature(r.secret, id, ts, body) };
    expect((await post(r.id, { body, headers })).statusCode).toBe(202);
    // The same call again is a replay; a tampered one is a forgery.
    expect((await post(r.id, { body, headers })).statusCode).toBe(401);
    expect((await post(r.id, { body: body.replace('true', 'false'), headers: { ...headers, 'x-webhook-id': randomUUID() } })).statusCode).toBe(401);
    expect(await eventRows(r.id)).toBe(1);
  });

  it('accepts the previous secret during a rotation overlap, and not after a rotation without one', async () => {
    const r = await receiver(A);
    const rotated = json(await api(A, 'POST', `/inbound/${r.id}/rotate-secret`, { overlapSeconds: 600 }));
    expect((await post(r.id, signed(r.secret, { type: 'n8n.ping' }))).statusCode).toBe(202);
    expect((await post(r.id, signed(rotated.secret, { type: 'n8n.ping' }))).statusCode).toBe(202);
    const cut = json(await api(A, 'POST', `/inbound/${r.id}/rotate-secret`, { overlapSeconds: 0 }));
    expect((await post(r.id, signed(rotated.secret, { type: 'n8n.ping' }))).statusCode).toBe(401);
    expect((await post(r.id, signed(cut.secret, { type: 'n8n.ping' }))).statusCode).toBe(202);
  });
});

describe('refused, all alike, and nothing changes', () => {
  it('refuses replayed, tampered, stale, future, unsigned and wrongly signed calls', async () => {
    const r = await receiver(A);
    const good = signed(r.secret, { type: 'mail.bounced', data: { email: 'a@example.com' } });
    expect((await post(r.id, good)).statusCode).toBe(202);
    const other = new Webhook(`whsec_${Buffer.alloc(32, 9).toString('base64')}`);
    const attacks: Record<string, { body: string; headers: Record<string, string> }> = {
      replay: good,
      'replay with a new timestamp': signed(r.secret, { type: 'mail.bounced', data: { email: 'a@example.com' } }, { id: good.headers['webhook-id'] }),
      tampered: { ...good, body: good.body.replace('a@example.com', 'b@example.com'), headers: { ...good.headers, 'webhook-id': `msg_${randomUUID()}` } },
      stale: signed(r.secret, { type: 'mail.bounced' }, { at: new Date(Date.now() - 6 * 60_000) }),
      future: signed(r.secret, { type: 'mail.bounced' }, { at: new Date(Date.now() + 6 * 60_000) }),
      unsigned: { body: '{"type":"mail.bounced"}', headers: { 'content-type': 'application/json' } },
      'wrong secret': (() => {
        const body = '{"type":"mail.bounced"}';
        const id = `msg_${randomUUID()}`;
        const at = new Date();
        return { body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': other.sign(id, at, body) } };
      })(),
    };
    const bodies = new Set<string>();
    for (const [name, call] of Object.entries(attacks)) {
      const res = await post(r.id, call);
      expect(res.statusCode, name).toBe(401);
      const { type, detail } = json(res);
      bodies.add(JSON.stringify({ type, detail }));
    }
    // An unknown receiver and a malformed id answer exactly the same.
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const res = await post(id, signed(r.secret, { type: 'mail.bounced' }));
      expect(res.statusCode).toBe(401);
      bodies.add(JSON.stringify({ type: json(res).type, detail: json(res).detail }));
    }
    expect(bodies.size, [...bodies].join('\n')).toBe(1);
    expect(await eventRows(r.id)).toBe(1);
    const seen = json(await api(A, 'GET', `/inbound/${r.id}`));
    expect(seen.refusedCount).toBe(Object.keys(attacks).length);
    // Counted every time, audited at most once a minute.
    const audit = json(await t.app.inject({ method: 'GET', url: '/api/v1/audit-events?action=webhook.inbound.refused', headers: bearer(A) }));
    expect(audit.items.filter((x: { target: { id: string } }) => x.target.id === r.id)).toHaveLength(1);
  });

  it("refuses tenant A's receiver called with tenant B's secret, and B's with A's", async () => {
    const a = await receiver(A);
    const b = await receiver(B);
    expect((await post(a.id, signed(b.secret, { type: 'mail.bounced' }))).statusCode).toBe(401);
    expect((await post(b.id, signed(a.secret, { type: 'mail.bounced' }))).statusCode).toBe(401);
    expect(await eventRows(a.id)).toBe(0);
    expect(await eventRows(b.id)).toBe(0);
    // Management is tenant-scoped too.
    expect((await api(A, 'GET', `/inbound/${b.id}`)).statusCode).toBe(404);
    expect((await api(A, 'GET', `/inbound/${b.id}/events`)).statusCode).toBe(404);
    expect((await api(A, 'POST', `/inbound/${b.id}/rotate-secret`, {})).statusCode).toBe(404);
  });

  it('refuses a caller outside the allowlist, a body over the cap, and an event type not accepted', async () => {
    const r = await receiver(A, { allowedCidrs: ['10.20.0.0/16'], maxBodyBytes: 256 });
    expect((await post(r.id, signed(r.secret, { type: 'mail.bounced' }), '10.20.3.4')).statusCode).toBe(202);
    expect((await post(r.id, signed(r.secret, { type: 'mail.bounced' }), '10.21.3.4')).statusCode).toBe(401);
    expect((await post(r.id, signed(r.secret, { type: 'mail.bounced' }), '::ffff:10.20.3.4')).statusCode).toBe(202);
    const big = await post(r.id, signed(r.secret, { type: 'mail.bounced', data: 'x'.repeat(400) }), '10.20.3.4');
    expect(big.statusCode).toBe(413);
    const wrongType = await post(r.id, signed(r.secret, { type: 'crm.deal.won' }), '10.20.3.4');
    expect(wrongType.statusCode).toBe(400);
    expect(await eventRows(r.id)).toBe(2);
  });

  it('refuses a disabled receiver', async () => {
    const r = await receiver(A);
    expect(json(await api(A, 'PATCH', `/inbound/${r.id}`, { enabled: false })).enabled).toBe(false);
    expect((await post(r.id, signed(r.secret, { type: 'mail.bounced' }))).statusCode).toBe(401);
    expect(await eventRows(r.id)).toBe(0);
  });

  it('refuses a receiver disabled or deleted after it was called (the remembered tenant is no pass)', async () => {
    const r = await receiver(A);
    expect((await post(r.id, signed(r.secret, { type: 'n8n.ping' }))).statusCode).toBe(202);
    expect(json(await api(A, 'PATCH', `/inbound/${r.id}`, { enabled: false })).enabled).toBe(false);
    expect((await post(r.id, signed(r.secret, { type: 'n8n.ping' }))).statusCode).toBe(401);
    expect(json(await api(A, 'PATCH', `/inbound/${r.id}`, { enabled: true })).enabled).toBe(true);
    expect((await post(r.id, signed(r.secret, { type: 'n8n.ping' }))).statusCode).toBe(202);
    expect((await api(A, 'DELETE', `/inbound/${r.id}`)).statusCode).toBe(204);
    for (let i = 0; i < 2; i++) expect((await post(r.id, signed(r.secret, { type: 'n8n.ping' }))).statusCode).toBe(401);
    expect(await eventRows(r.id)).toBe(0);
  });

  it('never shows a receiver secret after creation', async () => {
    const r = await receiver(A);
    const reads = [await api(A, 'GET', '/inbound'), await api(A, 'GET', `/inbound/${r.id}`)].map((x) => x.body).join('\n');
    expect(reads).not.toContain(r.secret);
    expect(reads).not.toContain(r.secret.slice(6));
    expect(t.logs.join('\n')).not.toContain(r.secret.slice(6));
  });
});

describe('data-subject requests', () => {
  it("exports and erases inbound events naming a person's address, and unlinks what they created", async () => {
    const r = await receiver(A);
    const email = `Subject-${randomUUID().slice(0, 6)}@Example.com`;
    expect((await post(r.id, signed(r.secret, { type: 'mail.bounced', data: { email } }))).statusCode).toBe(202);
    expect((await post(r.id, signed(r.secret, { type: 'mail.bounced', data: { email: 'someone-else@example.com' } }))).statusCode).toBe(202);
    // The bounces are handled (suppression, outreach.address.bounced message) before the request: an
    // erasure racing a job still in flight is the job's to respect, not what this test is about.
    const dispatched = () => withOwner(t.platform.db, async (tx) =>
      (await tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM webhook_inbound_events WHERE receiver_id = ${r.id} AND status = 'dispatched'`))[0]!.n);
    await vi.waitFor(async () => expect(await dispatched()).toBe(2), { timeout: 30_000, interval: 100 });
    const subject = { tenantId: A.tenantId, userId: A.userId, email: email.toLowerCase() };
    const exported = await t.platform.withTenant({ tenantId: A.tenantId }, (tx) => exportWebhookSubject(tx, subject));
    expect((exported.inboundEvents as unknown[]).length).toBe(1);
    expect((exported.receiversCreated as Array<{ id: string }>).map((x) => x.id)).toContain(r.id);
    const erased = await t.platform.withTenant({ tenantId: A.tenantId }, (tx) => eraseWebhookSubject(tx, subject));
    expect(erased.webhook_inbound_events).toBe(1);
    expect(erased.webhook_receivers).toBeGreaterThanOrEqual(1);
    expect(await eventRows(r.id)).toBe(1);
    const after = await t.platform.withTenant({ tenantId: A.tenantId }, (tx) => exportWebhookSubject(tx, subject));
    expect(after).toEqual({ endpointsCreated: [], receiversCreated: [], messages: [], inboundEvents: [] });
  });
});
