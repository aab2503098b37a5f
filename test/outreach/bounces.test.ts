import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { bearer, json, signup, startApp, uniqueEmail, type Account, type TestApp } from '../support/app.ts';

/**
 * Bounces and complaints reported to a tenant's inbound receiver (webhooks
 * module, Standard Webhooks signed) suppress the address in that tenant only.
 */
let t: TestApp;
let A: Account;
let B: Account;

function signed(secret: string, payload: object) {
  const body = JSON.stringify(payload);
  const id = `msg_${randomUUID()}`;
  const at = new Date();
  return { body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, body) } };
}

async function receiver(who: Account) {
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/webhooks/inbound', headers: bearer(who), payload: { name: 'mail relay', eventTypes: ['mail.*'] } });
  expect(res.statusCode, res.body).toBe(201);
  return json(res) as { id: string; secret: string };
}

const report = (r: { id: string; secret: string }, payload: object) => {
  const call = signed(r.secret, payload);
  return t.app.inject({ method: 'POST', url: `/hooks/${r.id}`, headers: call.headers, payload: call.body });
};

/** Suppression reasons of a tenant, read as the owner role (the test looks past RLS on purpose). */
const reasons = (tenantId: string) => withOwner(t.platform.db, async (tx) =>
  (await tx.query<{ reason: string }>(sql`SELECT reason FROM outreach_suppressions WHERE tenant_id = ${tenantId} ORDER BY reason`)).map((r) => r.reason));

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const v = await read();
    if (done(v)) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  return read();
}

beforeAll(async () => {
  t = await startApp();
  A = await signup(t.app, 'Bounces A');
  B = await signup(t.app, 'Bounces B');
});
afterAll(async () => t?.close());

describe('bounces and complaints by inbound webhook', () => {
  it('suppress the address in the receiving tenant, and nowhere else', async () => {
    const r = await receiver(A);
    expect((await report(r, { type: 'mail.bounced', data: { email: uniqueEmail('bounced') } })).statusCode).toBe(202);
    expect((await report(r, { type: 'mail.complaint', data: { recipient: uniqueEmail('complained') } })).statusCode).toBe(202);
    expect(await until(() => reasons(A.tenantId), (v) => v.length >= 2)).toEqual(['bounced', 'complained']);
    expect(await reasons(B.tenantId)).toEqual([]);
  });

  it('the suppressed address is then refused as a contact', async () => {
    const r = await receiver(A);
    const email = uniqueEmail('gone');
    await report(r, { type: 'mail.bounced', data: { email } });
    await until(() => reasons(A.tenantId), (v) => v.length >= 3);
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/outreach/contacts', headers: bearer(A), payload: { email, source: 'import', lawfulBasis: 'legitimate_interest' } });
    expect(res.statusCode).toBe(409);
  });

  it('an event without a usable address, or with markup for one, changes nothing', async () => {
    const before = await reasons(A.tenantId);
    const r = await receiver(A);
    await report(r, { type: 'mail.bounced', data: {} });
    await report(r, { type: 'mail.bounced', data: { email: '<script>alert(1)</script>@x' } });
    await report(r, { type: 'mail.bounced', data: { email: 42 } });
    // Give the bus the time it took above; nothing may appear.
    await new Promise((res) => setTimeout(res, 1_500));
    expect(await reasons(A.tenantId)).toEqual(before);
  });
});
