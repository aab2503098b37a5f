import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken, tenantKey } from '../../src/modules/outreach/keys.ts';
import { addMember, bearer, json, signup, startApp, uniqueEmail, type Account, type TestApp } from '../support/app.ts';
import { bodyText, startSmtp } from './support.ts';

/**
 * Contacts, consent, the suppression list, erasure and the public links
 * (/u/{token}, /c/{token}) against a real platform and a real SMTP server
 * (confirmation mails of double opt-in go through the mail queue).
 */
let t: TestApp;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let owner: Account;
let member: Account;
let viewer: Account;
let other: Account;

const api = (a: Account, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/outreach${url}`, headers: bearer(a), ...(payload ? { payload } : {}) });

const consent = (email = uniqueEmail('contact')) => ({ email, source: 'signup-form', lawfulBasis: 'consent', consentText: 'Send me the monthly newsletter.' });

/** The unsubscribe token a mail to this contact would carry. */
const unsubscribeToken = (tenantId: string, contactId: string) =>
  t.platform.withTenant({ tenantId }, async (tx) => signToken(await tenantKey(tx, t.platform.keyring, tenantId), 'unsubscribe', tenantId, contactId));

const auditActions = async (tenantId: string) =>
  (await t.platform.withTenant({ tenantId }, (tx) => tx.query<{ action: string; target_id: string | null }>(sql`SELECT action, target_id FROM audit_events ORDER BY leaf_index`)));

beforeAll(async () => {
  smtp = await startSmtp();
  t = await startApp({ SMTP_URL: smtp.url });
  owner = await signup(t.app, '<script>alert(1)</script> & Co');
  member = await addMember(t.app, owner, 'member');
  viewer = await addMember(t.app, owner, 'viewer');
  other = await signup(t.app, 'Other tenant');
});

afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

describe('contacts and consent', () => {
  it('records source, lawful basis, consent text and time; consent without its wording is refused', async () => {
    const res = await api(member, 'POST', '/contacts', { ...consent('Alice.Example@Example.COM'), name: 'Alice', consentAt: '2026-11-01T10:00:00Z' });
    expect(res.statusCode, res.body).toBe(201);
    const c = json(res);
    expect(c).toMatchObject({ email: 'alice.example@example.com', source: 'signup-form', lawfulBasis: 'consent', consentText: 'Send me the monthly newsletter.', status: 'subscribed', suppressed: false });
    expect(c.consentAt).toBe('2026-11-01T10:00:00.000Z');

    const bad = await api(member, 'POST', '/contacts', { email: uniqueEmail(), source: 'x', lawfulBasis: 'consent' });
    expect(bad.statusCode).toBe(400);
    expect(json(bad).detail).toMatch(/consentText/);
    const future = await api(member, 'POST', '/contacts', { ...consent(), consentAt: '2099-01-01T00:00:00Z' });
    expect(future.statusCode).toBe(400);
    // The same mailbox spelled differently is the same contact.
    const dup = await api(member, 'POST', '/contacts', consent('ALICE.example@Example.com'));
    expect(dup.statusCode).toBe(409);
    const li = await api(member, 'POST', '/contacts', { email: uniqueEmail(), source: 'crm', lawfulBasis: 'legitimate_interest' });
    expect(json(li)).toMatchObject({ status: 'subscribed', consentText: null, consentAt: null });
  });

  it('refuses viewers, other roles beyond their permission, and other tenants', async () => {
    const c = json(await api(member, 'POST', '/contacts', consent()));
    expect((await api(viewer, 'GET', '/contacts')).statusCode).toBe(403);
    expect((await api(viewer, 'POST', '/contacts', consent())).statusCode).toBe(403);
    expect((await api(member, 'DELETE', `/contacts/${c.id}`)).statusCode).toBe(403);
    expect((await api(member, 'PATCH', '/settings', { doubleOptIn: true })).statusCode).toBe(403);
    const foreign = await api(other, 'GET', `/contacts/${c.id}`);
    expect(foreign.statusCode).toBe(404);
    expect((await api(other, 'DELETE', `/contacts/${c.id}`)).statusCode).toBe(404);
    expect(json(await api(other, 'GET', '/contacts')).items).toEqual([]);
    expect((await api(member, 'GET', `/contacts/${c.id}`)).statusCode).toBe(200);
  });
});

describe('suppression list', () => {
  it('suppresses by address, unsubscribes the contact, and refuses re-adding it', async () => {
    const email = uniqueEmail('bounce');
    const c = json(await api(member, 'POST', '/contacts', consent(email)));
    const s = await api(member, 'POST', '/suppressions', { email: email.toUpperCase(), reason: 'bounced' });
    expect(s.statusCode, s.body).toBe(201);
    expect(json(s)).toMatchObject({ email, reason: 'bounced', source: 'api' });
    expect(json(await api(member, 'POST', '/suppressions', { email, reason: 'manual' })).reason).toBe('bounced');
    expect(json(await api(member, 'GET', `/contacts/${c.id}`))).toMatchObject({ status: 'unsubscribed', suppressed: true });
    const erased = await api(owner, 'DELETE', `/contacts/${c.id}`);
    expect(erased.statusCode).toBe(204);
    const again = await api(member, 'POST', '/contacts', consent(email));
    expect(again.statusCode).toBe(409);
    expect(json(again)).toMatchObject({ reason: 'suppressed', suppression: 'bounced' });
  });

  it('lifts only manual entries: an unsubscribe or bounce is the person\'s word', async () => {
    const manual = json(await api(member, 'POST', '/suppressions', { email: uniqueEmail('manual'), reason: 'manual', note: 'asked by phone' }));
    const unsub = json(await api(member, 'POST', '/suppressions', { email: uniqueEmail('unsub'), reason: 'unsubscribed' }));
    expect((await api(member, 'DELETE', `/suppressions/${manual.id}`)).statusCode).toBe(403);
    const refused = await api(owner, 'DELETE', `/suppressions/${unsub.id}`);
    expect(refused.statusCode).toBe(409);
    expect(json(refused).reason).toBe('unsubscribed');
    expect((await api(owner, 'DELETE', `/suppressions/${manual.id}`)).statusCode).toBe(204);
    expect((await api(other, 'DELETE', `/suppressions/${unsub.id}`)).statusCode).toBe(404);
    // The database refuses it too, whatever the code above it does.
    await expect(t.platform.withTenant({ tenantId: owner.tenantId }, (tx) => tx.query(sql`DELETE FROM outreach_suppressions WHERE id = ${unsub.id} RETURNING id`)))
      .resolves.toEqual([]);
    await expect(t.platform.withTenant({ tenantId: owner.tenantId }, (tx) => tx.query(sql`UPDATE outreach_suppressions SET reason = 'manual' WHERE id = ${unsub.id}`)))
      .rejects.toThrow(/cannot change its reason/);
  });

  it('suppress() for inbound bounce and complaint receivers is idempotent and audited', async () => {
    const { outreachServiceOf } = await import('../../src/modules/outreach/service.ts');
    const svc = outreachServiceOf(t.platform);
    const email = uniqueEmail('complaint');
    const c = json(await api(member, 'POST', '/contacts', consent(email)));
    const first = await svc.suppress(owner.tenantId, email, 'complained');
    const second = await svc.suppress(owner.tenantId, email, 'complained');
    expect(first.created).toBe(true);
    expect(second).toMatchObject({ id: first.id, created: false });
    expect(json(await api(member, 'GET', `/contacts/${c.id}`)).status).toBe('unsubscribed');
    expect((await auditActions(owner.tenantId)).filter((e) => e.action === 'outreach.suppressed' && e.target_id === first.id)).toHaveLength(2);
    // Inside a transaction the caller holds (the webhooks module's inbound bus hands its handlers one).
    const other2 = uniqueEmail('bus');
    const within = await t.platform.withTenant({ tenantId: owner.tenantId }, (tx) => svc.suppressWithin(tx, owner.tenantId, other2, 'bounced'));
    expect(within.created).toBe(true);
    expect(json(await api(member, 'GET', '/suppressions?limit=100')).items.find((s: { id: string }) => s.id === within.id)).toMatchObject({ email: other2, reason: 'bounced', source: 'webhook' });
    // Another tenant's list is untouched.
    expect(json(await api(other, 'GET', '/suppressions')).items).toEqual([]);
  });
});

describe('erasure', () => {
  it('deletes the contact and keeps only a keyed hash of the address', async () => {
    const email = uniqueEmail('erase-me');
    const c = json(await api(member, 'POST', '/contacts', consent(email)));
    await api(member, 'POST', '/suppressions', { email, reason: 'manual', note: `note about ${email}` });
    expect((await api(owner, 'DELETE', `/contacts/${c.id}`)).statusCode).toBe(204);
    expect((await api(member, 'GET', `/contacts/${c.id}`)).statusCode).toBe(404);
    const list = await api(member, 'GET', '/suppressions?limit=100');
    expect(list.body).not.toContain(email);
    const entry = json(list).items.find((s: { reason: string; email: string | null }) => s.reason === 'erased');
    expect(entry).toMatchObject({ email: null, note: null, source: 'erasure' });
    expect(entry.addressHash).toMatch(/^[0-9a-f]{64}$/);
    // No row of the tenant's outreach tables holds the address any more.
    const rows = await t.platform.withTenant({ tenantId: owner.tenantId }, (tx) => tx.query<{ n: number }>(sql`
      SELECT (SELECT count(*) FROM outreach_contacts WHERE email = ${email}) + (SELECT count(*) FROM outreach_suppressions WHERE address = ${email} OR note LIKE ${`%${email}%`}) AS n`));
    expect(Number(rows[0]!.n)).toBe(0);
    // A manual entry turned into an erasure can no longer be lifted.
    expect((await api(owner, 'DELETE', `/suppressions/${entry.id}`)).statusCode).toBe(409);
    expect((await api(member, 'POST', '/contacts', consent(email))).statusCode).toBe(409);
    // The hash is keyed per tenant: another tenant may still add the address.
    expect((await api(other, 'POST', '/contacts', consent(email))).statusCode).toBe(201);
  });

  it('data-subject export and erasure hooks find the person by address', async () => {
    const email = uniqueEmail('dsar');
    await api(member, 'POST', '/contacts', consent(email));
    const hooks = t.platform.moduleHooks.find((h) => h.name === 'outreach')!;
    const subject = { tenantId: owner.tenantId, userId: owner.userId, email: email.toUpperCase() };
    const exported = await t.platform.withTenant({ tenantId: owner.tenantId }, (tx) => hooks.exportSubject!(tx, subject));
    expect((exported.contacts as Array<{ email: string }>).map((c) => c.email)).toEqual([email]);
    const counts = await t.platform.withTenant({ tenantId: owner.tenantId }, (tx) => hooks.eraseSubject!(tx, subject));
    expect(counts).toMatchObject({ outreach_contacts: 1 });
    expect((await api(member, 'POST', '/contacts', consent(email))).statusCode).toBe(409);
  });
});

describe('unsubscribe link /u/{token}', () => {
  it('GET shows an escaped confirmation page and unsubscribes nobody; POST unsubscribes', async () => {
    const email = uniqueEmail('link');
    const c = json(await api(member, 'POST', '/contacts', consent(email)));
    const token = await unsubscribeToken(owner.tenantId, c.id);
    for (let i = 0; i < 3; i++) {
      const page = await t.app.inject({ method: 'GET', url: `/u/${token}` });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toContain('text/html');
      expect(page.headers['content-security-policy']).toBe("default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      expect(page.headers['referrer-policy']).toBe('no-referrer');
      expect(page.body).toContain('method="post"');
      expect(page.body).not.toContain('<script>');
      expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co');
      expect(page.body).not.toContain(email);
    }
    const head = await t.app.inject({ method: 'HEAD', url: `/u/${token}` });
    expect(head.statusCode).toBe(200);
    expect(json(await api(member, 'GET', `/contacts/${c.id}`))).toMatchObject({ status: 'subscribed', suppressed: false });

    const post = await t.app.inject({ method: 'POST', url: `/u/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click' });
    expect(post.statusCode).toBe(200);
    expect(post.body).toContain('You are unsubscribed');
    expect(json(await api(member, 'GET', `/contacts/${c.id}`))).toMatchObject({ status: 'unsubscribed', suppressed: true });
    const entry = json(await api(member, 'GET', '/suppressions?limit=100')).items.find((s: { email: string }) => s.email === email);
    expect(entry).toMatchObject({ reason: 'unsubscribed', source: 'one_click' });
    // Again: idempotent.
    expect((await t.app.inject({ method: 'POST', url: `/u/${token}` })).statusCode).toBe(200);
    expect((await auditActions(owner.tenantId)).filter((e) => e.action === 'outreach.unsubscribed' && e.target_id === c.id)).toHaveLength(2);
  });

  it('refuses tampered, forged, cross-tenant and wrong-purpose tokens without changing anything', async () => {
    const c = json(await api(member, 'POST', '/contacts', consent()));
    const theirs = json(await api(other, 'POST', '/contacts', consent()));
    const token = await unsubscribeToken(owner.tenantId, c.id);
    const flipped = `${token.slice(0, 40)}${token[40] === 'A' ? 'B' : 'A'}${token.slice(41)}`;
    // A token made with tenant A's key naming tenant B's contact, and one naming tenant B with A's MAC.
    const crossed = await t.platform.withTenant({ tenantId: owner.tenantId }, async (tx) => signToken(await tenantKey(tx, t.platform.keyring, owner.tenantId), 'unsubscribe', other.tenantId, theirs.id));
    const confirmToken = await t.platform.withTenant({ tenantId: owner.tenantId }, async (tx) => signToken(await tenantKey(tx, t.platform.keyring, owner.tenantId), 'confirm', owner.tenantId, c.id));
    for (const bad of [flipped, crossed, confirmToken, 'x', `${token}A`, token.slice(0, -1), '<script>']) {
      for (const method of ['GET', 'POST'] as const) {
        const res = await t.app.inject({ method, url: `/u/${encodeURIComponent(bad)}` });
        expect(res.statusCode, `${method} ${bad}`).toBe(404);
        expect(res.body).not.toContain('<script>');
      }
    }
    expect(json(await api(member, 'GET', `/contacts/${c.id}`)).status).toBe('subscribed');
    expect(json(await api(other, 'GET', `/contacts/${theirs.id}`)).status).toBe('subscribed');
  });
});

describe('double opt-in', () => {
  it('keeps a consent contact pending until the person confirms by POST; GET confirms nothing', async () => {
    const settings = await api(owner, 'PATCH', '/settings', { doubleOptIn: true });
    expect(settings.statusCode, settings.body).toBe(200);
    expect(json(settings).doubleOptIn).toBe(true);
    const email = uniqueEmail('doi');
    const c = json(await api(member, 'POST', '/contacts', consent(email)));
    expect(c).toMatchObject({ status: 'pending', confirmedAt: null });
    expect(c.confirmationSentAt).not.toBeNull();
    // A legitimate-interest contact needs no opt-in confirmation.
    expect(json(await api(member, 'POST', '/contacts', { email: uniqueEmail(), source: 'crm', lawfulBasis: 'legitimate_interest' })).status).toBe('subscribed');

    await smtp.waitFor((all) => all.some((m) => m.to.includes(email)));
    const mail = smtp.received.find((m) => m.to.includes(email))!;
    const link = bodyText(mail.raw).match(/http:\/\/ocsuite\.test\/c\/([A-Za-z0-9_-]+)/);
    expect(link).not.toBeNull();
    const token = link![1]!;
    const page = await t.app.inject({ method: 'GET', url: `/c/${token}` });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Confirm');
    expect(json(await api(member, 'GET', `/contacts/${c.id}`)).status).toBe('pending');
    // The confirmation token does not unsubscribe, and another contact's token does not confirm this one.
    expect((await t.app.inject({ method: 'POST', url: `/u/${token}` })).statusCode).toBe(404);
    const ok = await t.app.inject({ method: 'POST', url: `/c/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
    expect(ok.statusCode).toBe(200);
    expect(json(await api(member, 'GET', `/contacts/${c.id}`))).toMatchObject({ status: 'subscribed' });
    expect(json(await api(member, 'GET', `/contacts/${c.id}`)).confirmedAt).not.toBeNull();
    expect((await auditActions(owner.tenantId)).some((e) => e.action === 'outreach.contact_confirmed' && e.target_id === c.id)).toBe(true);
    await api(owner, 'PATCH', '/settings', { doubleOptIn: false });
  });

  it('cannot confirm an address that was suppressed meanwhile', async () => {
    await api(owner, 'PATCH', '/settings', { doubleOptIn: true });
    const email = uniqueEmail('doi-suppressed');
    const c = json(await api(member, 'POST', '/contacts', consent(email)));
    const token = await t.platform.withTenant({ tenantId: owner.tenantId }, async (tx) => signToken(await tenantKey(tx, t.platform.keyring, owner.tenantId), 'confirm', owner.tenantId, c.id));
    await api(member, 'POST', '/suppressions', { email, reason: 'complained' });
    const res = await t.app.inject({ method: 'POST', url: `/c/${token}` });
    expect(res.statusCode).toBe(409);
    expect(json(await api(member, 'GET', `/contacts/${c.id}`)).status).toBe('unsubscribed');
    await api(owner, 'PATCH', '/settings', { doubleOptIn: false });
  });
});
