import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deliveryHooks } from '../../src/modules/outreach/delivery.ts';
import { outreachServiceOf } from '../../src/modules/outreach/service.ts';
import { addMember, bearer, json, signup, startApp, uniqueEmail, type Account, type TestApp } from '../support/app.ts';
import { bodyText, sleep, startSmtp, type ReceivedMail } from './support.ts';

/**
 * Campaign sends through the job queue to a real SMTP server (smtp-server on
 * 127.0.0.1): suppression checked when a send is claimed, RFC 8058 headers,
 * the unsubscribe link they carry, refusals, roles and tenants, and a
 * delivery attempt that dies between claim and completion.
 */
let t: TestApp;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let owner: Account;
let admin: Account;
let member: Account;
let other: Account;
const POSTAL = '221B Baker Street\nLondon NW1 6XE';

const api = (a: Account, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/outreach${url}`, headers: bearer(a), ...(payload ? { payload } : {}) });

async function contact(a: Account, label = 'rcpt'): Promise<{ id: string; email: string }> {
  const res = await api(a, 'POST', '/contacts', { email: uniqueEmail(label), source: 'test', lawfulBasis: 'consent', consentText: 'Yes, newsletter please.' });
  expect(res.statusCode, res.body).toBe(201);
  return json(res);
}

async function campaign(a: Account, contactIds?: string[], subject = 'November news') {
  const res = await api(a, 'POST', '/campaigns', { name: subject, subject, bodyText: 'Hello from us.\nBest wishes.', ...(contactIds ? { contactIds } : {}) });
  expect(res.statusCode, res.body).toBe(201);
  return json(res) as { id: string; version: number };
}

const mailsTo = (email: string) => smtp.received.filter((m) => m.to.includes(email));

async function waitForCampaign(a: Account, id: string, status = 'sent', ms = 45_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = json(await api(a, 'GET', `/campaigns/${id}`));
    if (c.status === status) return c;
    if (Date.now() > deadline) throw new Error(`campaign ${id} is ${c.status}: ${JSON.stringify(c.counts)}`);
    await sleep(200);
  }
}

const auditOf = (tenantId: string, action: string) => t.platform.withTenant({ tenantId }, (tx) =>
  tx.query<{ actor_type: string; target_id: string; outcome: string; metadata: Record<string, unknown> }>(sql`
    SELECT actor_type, target_id, outcome, metadata FROM audit_events WHERE action = ${action} ORDER BY leaf_index`));

beforeAll(async () => {
  smtp = await startSmtp({ refuse: (to) => (to.startsWith('dead-') ? { code: 550, message: `5.1.1 <${to}>: no such user` } : undefined) });
  t = await startApp({ SMTP_URL: smtp.url, OCSUITE_OUTREACH_LEASE_SECONDS: '3' });
  owner = await signup(t.app, 'Acme Ltd');
  admin = await addMember(t.app, owner, 'admin');
  member = await addMember(t.app, owner, 'member');
  other = await signup(t.app, 'Other Ltd');
  expect((await api(owner, 'PATCH', '/settings', { postalAddress: POSTAL, fromAddress: 'news@acme.example' })).statusCode).toBe(200);
});

afterEach(() => {
  delete deliveryHooks.afterClaim;
});

afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

describe('a campaign send', () => {
  let mail: ReceivedMail;
  let rcpt: { id: string; email: string };

  it('delivers with RFC 8058 List-Unsubscribe headers, the postal address and a fixed Message-ID, and audits each send', async () => {
    rcpt = await contact(owner);
    const c = await campaign(member, [rcpt.id]);
    const res = await api(admin, 'POST', `/campaigns/${c.id}/send`);
    expect(res.statusCode, res.body).toBe(202);
    expect(json(res)).toMatchObject({ status: 'sending', sendRequestedBy: `user:${admin.userId}` });
    await waitForCampaign(admin, c.id);
    await smtp.waitFor(() => mailsTo(rcpt.email).length === 1);
    mail = mailsTo(rcpt.email)[0]!;
    const listUnsubscribe = mail.headers.get('list-unsubscribe')!;
    expect(listUnsubscribe).toMatch(/^<http:\/\/ocsuite\.test\/u\/[A-Za-z0-9_-]{67}>$/);
    expect(mail.headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(mail.headers.get('from')).toBe('news@acme.example');
    const text = bodyText(mail.raw);
    expect(text).toContain('Hello from us.');
    expect(text).toContain('221B Baker Street, London NW1 6XE');
    expect(text).toContain(listUnsubscribe.slice(1, -1));

    const sends = json(await api(member, 'GET', `/sends?campaignId=${c.id}`)).items;
    expect(sends).toHaveLength(1);
    expect(sends[0]).toMatchObject({ contactId: rcpt.id, state: 'sent', campaignVersion: c.version, attempts: 1 });
    expect(mail.messageId).toBe(sends[0].messageId);
    const events = (await auditOf(owner.tenantId, 'outreach.send')).filter((e) => e.target_id === sends[0].id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'success', metadata: { campaignId: c.id, campaignVersion: c.version, contactId: rcpt.id, requestedBy: `user:${admin.userId}`, result: 'sent', messageId: sends[0].messageId } });
    expect(JSON.stringify(events)).not.toContain(rcpt.email);
    const requested = (await auditOf(owner.tenantId, 'outreach.campaign_sent')).filter((e) => e.target_id === c.id);
    expect(requested[0]).toMatchObject({ actor_type: 'user', metadata: { version: c.version, recipients: 1 } });
  });

  it('the link in List-Unsubscribe: GET unsubscribes nobody, the one-click POST does', async () => {
    const url = new URL(mail.headers.get('list-unsubscribe')!.slice(1, -1));
    for (let i = 0; i < 3; i++) expect((await t.app.inject({ method: 'GET', url: url.pathname })).statusCode).toBe(200);
    expect(json(await api(member, 'GET', `/contacts/${rcpt.id}`))).toMatchObject({ status: 'subscribed', suppressed: false });
    const post = await t.app.inject({ method: 'POST', url: url.pathname, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });
    expect(post.statusCode).toBe(200);
    expect(json(await api(member, 'GET', `/contacts/${rcpt.id}`))).toMatchObject({ status: 'unsubscribed', suppressed: true });
    // The next campaign to this person is refused before anything is queued, and the refusal is recorded.
    const c = await campaign(member, [rcpt.id]);
    const res = await api(admin, 'POST', `/campaigns/${c.id}/send`);
    expect(res.statusCode).toBe(409);
    expect(json(res)).toMatchObject({ reason: 'recipients-refused', refused: [{ contactId: rcpt.id, reason: 'suppressed' }] });
    expect(json(await api(member, 'GET', `/campaigns/${c.id}`))).toMatchObject({ status: 'draft', counts: { queued: 0, sent: 0 } });
    expect((await auditOf(owner.tenantId, 'outreach.send_refused')).some((e) => e.target_id === c.id && e.outcome === 'failure')).toBe(true);
  });

  it('never mails a suppressed address, not even one suppressed after the send was queued', async () => {
    const [a, b, c, d] = [await contact(owner, 'keep'), await contact(owner, 'early'), await contact(owner, 'late'), await contact(owner, 'keep2')];
    await api(member, 'POST', '/suppressions', { email: b.email, reason: 'complained' });
    // Hold the tenant's delivery inside a first campaign's claim; tenant concurrency 1 keeps the second waiting.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let holding = false;
    deliveryHooks.afterClaim = async () => {
      if (holding) return;
      holding = true;
      await released;
    };
    const blocker = await campaign(member, [d.id], 'blocker');
    expect((await api(admin, 'POST', `/campaigns/${blocker.id}/send`)).statusCode).toBe(202);
    const deadline = Date.now() + 30_000;
    while (!holding && Date.now() < deadline) await sleep(100);
    expect(holding).toBe(true);
    const all = await campaign(member, undefined, 'to everyone');
    const res = await api(admin, 'POST', `/campaigns/${all.id}/send`);
    expect(res.statusCode, res.body).toBe(202);
    // b was suppressed before: never queued. c is queued now, then suppressed (a bounce arrives by webhook).
    const queued = json(await api(member, 'GET', `/sends?campaignId=${all.id}&limit=100`)).items;
    expect(queued.map((s: { contactId: string }) => s.contactId)).toContain(c.id);
    expect(queued.map((s: { contactId: string }) => s.contactId)).not.toContain(b.id);
    await outreachServiceOf(t.platform).suppress(owner.tenantId, c.email, 'bounced');
    release();
    await waitForCampaign(admin, all.id);
    await waitForCampaign(admin, blocker.id);
    expect(mailsTo(a.email).filter((m) => m.headers.get('subject') === 'to everyone')).toHaveLength(1);
    expect(mailsTo(b.email)).toHaveLength(0);
    expect(mailsTo(c.email)).toHaveLength(0);
    const late = json(await api(member, 'GET', `/sends?campaignId=${all.id}&limit=100`)).items.find((s: { contactId: string }) => s.contactId === c.id);
    expect(late).toMatchObject({ state: 'refused', refusedReason: 'suppressed' });
    expect((await auditOf(owner.tenantId, 'outreach.send_refused')).some((e) => e.target_id === late.id && (e.metadata as { reason: string }).reason === 'suppressed')).toBe(true);
  });

  it('a hard bounce (550) fails the send and suppresses the address', async () => {
    const dead = json(await api(owner, 'POST', '/contacts', { email: uniqueEmail('dead'), source: 'test', lawfulBasis: 'legitimate_interest' }));
    expect(dead.email.startsWith('dead-')).toBe(true);
    const c = await campaign(member, [dead.id]);
    expect((await api(admin, 'POST', `/campaigns/${c.id}/send`)).statusCode).toBe(202);
    await waitForCampaign(admin, c.id);
    const [send] = json(await api(member, 'GET', `/sends?campaignId=${c.id}`)).items;
    expect(send).toMatchObject({ state: 'failed' });
    expect(send.lastError).toContain('550');
    expect(send.lastError).not.toContain(dead.email);
    expect(json(await api(member, 'GET', `/contacts/${dead.id}`))).toMatchObject({ status: 'unsubscribed', suppressed: true });
  });
});

describe('refusals, roles and tenants', () => {
  it('needs a postal address (CAN-SPAM) and outreach:send; another tenant sees nothing', async () => {
    const fresh = await signup(t.app, 'No Address Inc');
    const r = await contact(fresh);
    const c = await campaign(fresh, [r.id]);
    const res = await api(fresh, 'POST', `/campaigns/${c.id}/send`);
    expect(res.statusCode).toBe(409);
    expect(json(res).reason).toBe('postal-address-required');

    const mine = await campaign(member, [(await contact(owner)).id]);
    expect((await api(member, 'POST', `/campaigns/${mine.id}/send`)).statusCode).toBe(403);
    expect((await api(other, 'POST', `/campaigns/${mine.id}/send`)).statusCode).toBe(404);
    expect((await api(other, 'GET', `/campaigns/${mine.id}`)).statusCode).toBe(404);
    expect(json(await api(other, 'GET', '/sends')).items).toEqual([]);
    // The service checks the permission itself: the approvals module calls it directly.
    const memberPrincipal = { kind: 'user' as const, userId: member.userId, keyId: null, tenantId: owner.tenantId, roles: ['member' as const], sessionId: null, permissions: t.platform.permissions.permissionsOf(['member']), mfaAt: null };
    await expect(outreachServiceOf(t.platform).sendCampaign(memberPrincipal, mine.id)).rejects.toMatchObject({ status: 403 });
    expect(json(await api(member, 'GET', `/campaigns/${mine.id}`)).status).toBe('draft');
  });

  it('an unconsented (pending double opt-in) recipient is refused; sending twice queues nobody twice; a sent campaign cannot be edited', async () => {
    await api(owner, 'PATCH', '/settings', { doubleOptIn: true });
    const pending = await contact(owner, 'pending');
    await api(owner, 'PATCH', '/settings', { doubleOptIn: false });
    const ok = await contact(owner, 'ok');
    const refused = await api(admin, 'POST', `/campaigns/${(await campaign(member, [pending.id, ok.id])).id}/send`);
    expect(refused.statusCode).toBe(409);
    expect(json(refused).refused).toEqual([{ contactId: pending.id, reason: 'unconsented' }]);
    expect(mailsTo(ok.email)).toHaveLength(0);

    const c = await campaign(member, [ok.id]);
    const [first, second] = await Promise.all([api(admin, 'POST', `/campaigns/${c.id}/send`), api(admin, 'POST', `/campaigns/${c.id}/send`)]);
    expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
    await waitForCampaign(admin, c.id);
    expect((await api(admin, 'POST', `/campaigns/${c.id}/send`)).statusCode).toBe(202);
    await sleep(1500);
    expect(mailsTo(ok.email)).toHaveLength(1);
    expect(json(await api(member, 'GET', `/sends?campaignId=${c.id}`)).items).toHaveLength(1);
    expect((await api(member, 'PATCH', `/campaigns/${c.id}`, { subject: 'changed' })).statusCode).toBe(409);
    // A pending contact's campaign to everyone leaves it out.
    expect(json(await api(member, 'GET', `/sends?limit=100`)).items.some((s: { contactId: string }) => s.contactId === pending.id)).toBe(false);
  });
});

describe('a delivery attempt that dies between claim and completion', () => {
  it('is taken back after the lease and sent once, with the same Message-ID', async () => {
    const rcpts = [await contact(owner, 'crash'), await contact(owner, 'crash'), await contact(owner, 'crash')];
    let thrown = 0;
    deliveryHooks.afterClaim = () => {
      if (thrown++ === 0) throw new Error('worker died after the claim');
    };
    const c = await campaign(member, rcpts.map((r) => r.id), 'after a crash');
    expect((await api(admin, 'POST', `/campaigns/${c.id}/send`)).statusCode).toBe(202);
    await waitForCampaign(admin, c.id, 'sent', 55_000);
    expect(thrown).toBeGreaterThanOrEqual(2);
    await sleep(1000);
    const sends = json(await api(member, 'GET', `/sends?campaignId=${c.id}`)).items;
    for (const r of rcpts) {
      const got = mailsTo(r.email);
      expect(got, r.email).toHaveLength(1);
      const send = sends.find((s: { contactId: string }) => s.contactId === r.id);
      expect(send).toMatchObject({ state: 'sent', attempts: 2 });
      expect(got[0]!.messageId).toBe(send.messageId);
    }
    expect((await auditOf(owner.tenantId, 'outreach.send')).filter((e) => (e.metadata as { campaignId: string }).campaignId === c.id)).toHaveLength(3);
  });
});

describe('per-tenant rate limit', () => {
  it('sends no more than the tenant\'s rate per minute', async () => {
    const t2 = await signup(t.app, 'Slow Ltd');
    await api(t2, 'PATCH', '/settings', { postalAddress: POSTAL, ratePerMinute: 2 });
    const rcpts = [await contact(t2, 'rate'), await contact(t2, 'rate'), await contact(t2, 'rate')];
    const c = await campaign(t2, rcpts.map((r) => r.id), 'rate limited');
    expect((await api(t2, 'POST', `/campaigns/${c.id}/send`)).statusCode).toBe(202);
    await smtp.waitFor(() => rcpts.filter((r) => mailsTo(r.email).length > 0).length === 2);
    await sleep(3000);
    expect(rcpts.filter((r) => mailsTo(r.email).length > 0)).toHaveLength(2);
    const counts = json(await api(t2, 'GET', `/campaigns/${c.id}`)).counts;
    expect(counts).toMatchObject({ sent: 2, queued: 1 });
  });
});

describe('a send through the approval workflow', () => {
  it('runs only once approved, by someone other than the requester, and names the approval', async () => {
    const r = await contact(owner, 'approved');
    const c = await campaign(member, [r.id], 'approved send');
    const req = await t.app.inject({ method: 'POST', url: '/api/v1/approvals', headers: bearer(admin), payload: { actionType: 'outreach.campaign.send', payload: { campaignId: c.id } } });
    expect(req.statusCode, req.body).toBe(201);
    const approval = json(req);
    expect(approval.risk).toBe('high');
    expect(json(await api(member, 'GET', `/campaigns/${c.id}`)).status).toBe('draft');
    // Four-eyes: the requester cannot approve their own high-risk send.
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/approvals/${approval.id}/approve`, headers: bearer(admin), payload: {} })).statusCode).toBeGreaterThanOrEqual(400);
    const ok = await t.app.inject({ method: 'POST', url: `/api/v1/approvals/${approval.id}/approve`, headers: bearer(owner), payload: {} });
    expect(ok.statusCode, ok.body).toBeLessThan(300);
    const sent = await waitForCampaign(owner, c.id);
    expect(sent.approvalId).toBe(approval.id);
    await smtp.waitFor(() => mailsTo(r.email).length === 1);
    const events = (await auditOf(owner.tenantId, 'outreach.send')).filter((e) => (e.metadata as { campaignId: string }).campaignId === c.id);
    expect(events[0]!.metadata).toMatchObject({ approvalId: approval.id });
  });
});
