import { Webhook } from 'standardwebhooks';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { rotateTenantKey } from '../../src/kernel/crypto/rotation.ts';
import { createWebhookPublisher } from '../../src/modules/webhooks/publish.ts';
import { retentionHandler } from '../../src/modules/webhooks/retention.ts';
import { sweepHandler } from '../../src/modules/webhooks/sweep.ts';
import { addMember, bearer, json, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { eventually, startReceiver } from './receiver.ts';

/**
 * Outbound deliveries to a real local HTTP receiver, verified with the
 * `standardwebhooks` npm package as an independent oracle: signing, retries,
 * dead letters and disabling, rotation with overlap, replay, tenant isolation,
 * and no secret anywhere after creation.
 */
let t: TestApp;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let A: Account;
let B: Account;
const secrets: string[] = [];

const api = (who: Account, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/webhooks${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });

async function createEndpoint(who: Account, path: string, eventTypes = ['webhooks.test']) {
  const res = await api(who, 'POST', '/endpoints', { url: rx.url(path), eventTypes, description: `endpoint ${path}` });
  expect(res.statusCode, res.body).toBe(201);
  const e = json(res);
  secrets.push(e.secret);
  return e as { id: string; secret: string };
}

const delivery = (who: Account, id: string) => api(who, 'GET', `/deliveries/${id}`).then(json);
const settled = (who: Account, id: string) => eventually(async () => {
  const d = await delivery(who, id);
  return d.status === 'pending' ? undefined : d;
});

beforeAll(async () => {
  rx = await startReceiver();
  t = await startApp({
    OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32',
    OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1',
    OCSUITE_WEBHOOK_RETRY_SCHEDULE: '0,1,1',
    OCSUITE_WEBHOOK_DISABLE_AFTER: '2',
  });
  A = await signup(t.app, 'Webhooks A');
  B = await signup(t.app, 'Webhooks B');
});

afterAll(async () => {
  await t?.close();
  await rx?.close();
});

describe('event types', () => {
  it('lists the catalogue of the manifests, with what the caller may subscribe to', async () => {
    const res = await api(A, 'GET', '/event-types');
    expect(res.statusCode).toBe(200);
    const types = json(res).items.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(['webhooks.test', 'webhooks.endpoint.disabled']));
    expect(json(res).items.every((e: { subscribable: boolean }) => e.subscribable)).toBe(true);
  });

  it('refuses an unknown event type and one whose permission the caller lacks', async () => {
    const unknown = await api(A, 'POST', '/endpoints', { url: rx.url('/never'), eventTypes: ['ledger.nothing'] });
    expect(unknown.statusCode).toBe(400);
    const role = json(await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(A), payload: { name: 'hook-manager', permissions: ['webhooks:manage'] } }));
    let member = await addMember(t.app, A, 'viewer');
    expect((await t.app.inject({ method: 'PUT', url: `/api/v1/members/${member.userId}/roles`, headers: bearer(A), payload: { roles: [role.id] } })).statusCode).toBe(200);
    // A role change ends the member's sessions: sign in again with the new role set.
    member = await login(t.app, member);
    const denied = await api(member, 'POST', '/endpoints', { url: rx.url('/never'), eventTypes: ['webhooks.test'] });
    expect(denied.statusCode, denied.body).toBe(403);
    expect(json(denied).missingPermissions).toEqual(['webhooks:read']);
    expect(rx.at('/never')).toEqual([]);
    expect(json(await api(A, 'GET', '/endpoints')).items).toEqual([]);
  });
});

describe('signed delivery', () => {
  it('delivers a message the standardwebhooks library verifies, and logs the attempt', async () => {
    const e = await createEndpoint(A, '/a/ok');
    expect(e.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const sent = await api(A, 'POST', `/endpoints/${e.id}/test`);
    expect(sent.statusCode, sent.body).toBe(202);
    const [got] = await rx.waitFor('/a/ok', 1);
    const payload = new Webhook(e.secret).verify(got!.body, got!.headers as Record<string, string>) as { type: string; data: { endpointId: string } };
    expect(payload.type).toBe('webhooks.test');
    expect(payload.data.endpointId).toBe(e.id);
    expect(got!.headers['webhook-id']).toBe(`msg_${json(sent).messageId}`);
    expect(got!.headers['content-type']).toBe('application/json');
    // A wrong secret does not verify (the oracle is not trivially accepting).
    expect(() => new Webhook('whsec_' + Buffer.alloc(32, 7).toString('base64')).verify(got!.body, got!.headers as Record<string, string>)).toThrow();

    const d = await settled(A, json(sent).deliveryId);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 1, lastStatus: 200, endpointId: e.id, eventType: 'webhooks.test' });
    expect(d.attemptLog).toHaveLength(1);
    expect(d.attemptLog[0]).toMatchObject({ attempt: 1, responseStatus: 200, responseBody: 'ok 200', error: null });
    expect(d.attemptLog[0].latencyMs).toBeGreaterThanOrEqual(0);
    const endpoint = json(await api(A, 'GET', `/endpoints/${e.id}`));
    expect(endpoint.lastSuccessAt).not.toBeNull();
    expect(endpoint.consecutiveFailures).toBe(0);
  });

  it('retries on 500 and succeeds, with the same webhook-id and a fresh signature each time', async () => {
    const e = await createEndpoint(A, '/a/flaky');
    rx.script('/a/flaky', [500, 503]);
    const sent = json(await api(A, 'POST', `/endpoints/${e.id}/test`));
    const got = await rx.waitFor('/a/flaky', 3);
    expect(new Set(got.map((g) => g.headers['webhook-id']))).toEqual(new Set([`msg_${sent.messageId}`]));
    for (const g of got) expect(new Webhook(e.secret).verify(g.body, g.headers as Record<string, string>)).toBeTruthy();
    const d = await settled(A, sent.deliveryId);
    expect(d.status).toBe('succeeded');
    expect(d.attemptLog.map((a: { responseStatus: number }) => a.responseStatus)).toEqual([500, 503, 200]);
  });

  it('dead-letters a delivery after the last attempt and disables the endpoint after persistent failure', async () => {
    const watcher = await createEndpoint(A, '/a/watcher', ['webhooks.endpoint.disabled']);
    const e = await createEndpoint(A, '/a/down');
    rx.alwaysAnswer('/a/down', 500);
    const first = json(await api(A, 'POST', `/endpoints/${e.id}/test`));
    const d1 = await settled(A, first.deliveryId);
    expect(d1).toMatchObject({ status: 'dead', attempts: 3, lastStatus: 500 });
    expect(json(await api(A, 'GET', `/endpoints/${e.id}`))).toMatchObject({ status: 'enabled', consecutiveFailures: 1 });
    const dead = json(await api(A, 'GET', `/deliveries?status=dead&endpointId=${e.id}`));
    expect(dead.items.map((x: { id: string }) => x.id)).toEqual([first.deliveryId]);

    const second = json(await api(A, 'POST', `/endpoints/${e.id}/test`));
    expect((await settled(A, second.deliveryId)).status).toBe('dead');
    const endpoint = json(await api(A, 'GET', `/endpoints/${e.id}`));
    expect(endpoint).toMatchObject({ status: 'disabled', disabledReason: 'persistent delivery failure', consecutiveFailures: 2 });
    const audit = json(await t.app.inject({ method: 'GET', url: '/api/v1/audit-events?action=webhook.endpoint.disabled', headers: bearer(A) }));
    expect(audit.items.map((x: { target: { id: string } }) => x.target.id)).toContain(e.id);
    // The tenant's other endpoint hears of it, signed like any message.
    const [notice] = await rx.waitFor('/a/watcher', 1);
    const body = new Webhook(watcher.secret).verify(notice!.body, notice!.headers as Record<string, string>) as { type: string; data: { endpointId: string } };
    expect(body).toMatchObject({ type: 'webhooks.endpoint.disabled', data: { endpointId: e.id } });
    // A disabled endpoint takes no test message until it is enabled again.
    expect((await api(A, 'POST', `/endpoints/${e.id}/test`)).statusCode).toBe(409);
    rx.alwaysAnswer('/a/down', 200);
    expect(json(await api(A, 'PATCH', `/endpoints/${e.id}`, { enabled: true }))).toMatchObject({ status: 'enabled', consecutiveFailures: 0, disabledReason: null });
    // Replaying the dead deliveries' messages delivers them now.
    const before = rx.at('/a/down').length;
    const replayed = await api(A, 'POST', '/messages/replay', { since: new Date(Date.now() - 60_000).toISOString(), endpointId: e.id });
    expect(replayed.statusCode, replayed.body).toBe(202);
    expect(json(replayed).deliveries).toBe(2);
    const again = (await rx.waitFor('/a/down', before + 2)).slice(before);
    expect(new Set(again.map((g) => g.headers['webhook-id']))).toEqual(new Set([`msg_${first.messageId}`, `msg_${second.messageId}`]));
  });

  it('replays one message to its endpoint with the same id and body', async () => {
    const e = await createEndpoint(A, '/a/replay');
    const sent = json(await api(A, 'POST', `/endpoints/${e.id}/test`));
    const [original] = await rx.waitFor('/a/replay', 1);
    const res = await api(A, 'POST', `/messages/${sent.messageId}/replay`, { endpointId: e.id });
    expect(res.statusCode, res.body).toBe(202);
    expect(json(res).deliveries).toBe(1);
    const [, replay] = await rx.waitFor('/a/replay', 2);
    expect(replay!.headers['webhook-id']).toBe(original!.headers['webhook-id']);
    expect(replay!.body).toBe(original!.body);
    expect(new Webhook(e.secret).verify(replay!.body, replay!.headers as Record<string, string>)).toBeTruthy();
    const message = json(await api(A, 'GET', `/messages/${sent.messageId}`));
    expect(message).toMatchObject({ id: sent.messageId, webhookId: `msg_${sent.messageId}`, eventType: 'webhooks.test', payload: { endpointId: e.id } });
  });
});

describe('secret rotation', () => {
  it('signs with both secrets during the overlap, then with the new one only', async () => {
    const e = await createEndpoint(A, '/a/rotate');
    const rotated = await api(A, 'POST', `/endpoints/${e.id}/rotate-secret`, { overlapSeconds: 3600 });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const next = json(rotated);
    secrets.push(next.secret);
    expect(next.secret).not.toBe(e.secret);
    expect(next.previousSecretExpiresAt).not.toBeNull();
    await api(A, 'POST', `/endpoints/${e.id}/test`);
    const [during] = await rx.waitFor('/a/rotate', 1);
    expect(String(during!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(new Webhook(next.secret).verify(during!.body, during!.headers as Record<string, string>)).toBeTruthy();
    expect(new Webhook(e.secret).verify(during!.body, during!.headers as Record<string, string>)).toBeTruthy();

    const cut = json(await api(A, 'POST', `/endpoints/${e.id}/rotate-secret`, { overlapSeconds: 0 }));
    secrets.push(cut.secret);
    expect(cut.previousSecretExpiresAt).toBeNull();
    await api(A, 'POST', `/endpoints/${e.id}/test`);
    const [, after] = await rx.waitFor('/a/rotate', 2);
    expect(String(after!.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(new Webhook(cut.secret).verify(after!.body, after!.headers as Record<string, string>)).toBeTruthy();
    expect(() => new Webhook(next.secret).verify(after!.body, after!.headers as Record<string, string>)).toThrow();
    const audit = json(await t.app.inject({ method: 'GET', url: '/api/v1/audit-events?action=webhook.endpoint.secret_rotated', headers: bearer(A) }));
    expect(audit.items.filter((x: { target: { id: string } }) => x.target.id === e.id)).toHaveLength(2);
  });
});

describe('key rotation and crash recovery', () => {
  it('re-encrypts endpoint secrets with a tenant data-key rotation: both live secrets still sign', async () => {
    const e = await createEndpoint(A, '/a/rekeyed');
    const next = json(await api(A, 'POST', `/endpoints/${e.id}/rotate-secret`, { overlapSeconds: 3600 }));
    secrets.push(next.secret);
    const result = await rotateTenantKey({ db: t.platform.db, keyring: t.platform.keyring, statementTimeoutMs: 5000, actor: { type: 'operator', id: 'test' }, batchSize: 2 }, A.tenantId);
    expect(result.status).toBe('rotated');
    const sealedNow = await withOwner(t.platform.db, (tx) => tx.query<{ s: string; p: string }>(sql`
      SELECT secret_sealed AS s, previous_secret_sealed AS p FROM webhook_endpoints WHERE id = ${e.id}`));
    expect(sealedNow[0]!.s.split('.')[1]).toBe(String(result.toVersion));
    expect(sealedNow[0]!.p.split('.')[1]).toBe(String(result.toVersion));
    await api(A, 'POST', `/endpoints/${e.id}/test`);
    const [got] = await rx.waitFor('/a/rekeyed', 1);
    expect(new Webhook(next.secret).verify(got!.body, got!.headers as Record<string, string>)).toBeTruthy();
    expect(new Webhook(e.secret).verify(got!.body, got!.headers as Record<string, string>)).toBeTruthy();
  });

  it('delivers a message whose job was lost (committed, never queued): the sweep queues it', async () => {
    const e = await createEndpoint(A, '/a/lost');
    // publishIn without flush: what a crash between the commit and the enqueue leaves behind.
    const publisher = createWebhookPublisher(t.platform);
    const published = await t.platform.withTenant({ tenantId: A.tenantId }, (tx) => publisher.publishIn(tx, A.tenantId, 'webhooks.test', { lost: true }));
    const mine = published.deliveryIds;
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE webhook_deliveries SET next_attempt_at = now() - interval '5 minutes' WHERE id = ANY (${sql.param(mine)}::uuid[])`));
    expect(rx.at('/a/lost')).toEqual([]);
    await sweepHandler(t.platform)({} as never);
    const [got] = await rx.waitFor('/a/lost', 1);
    expect(new Webhook(e.secret).verify(got!.body, got!.headers as Record<string, string>)).toMatchObject({ data: { lost: true } });
    for (const id of mine) expect((await settled(A, id)).status).toBe('succeeded');
    // A second sweep finds nothing overdue, and a duplicate job for an attempt already made sends nothing.
    await sweepHandler(t.platform)({} as never);
    await t.platform.jobs.send('webhooks.deliver', { deliveryId: mine[0], attempt: 1 }, { tenantId: A.tenantId });
    await new Promise((r) => setTimeout(r, 1500));
    expect(rx.at('/a/lost')).toHaveLength(1);
  });
});

describe('retention', () => {
  it('deletes messages and their delivery log past the retention period, keeps recent and still pending ones', async () => {
    const e = await createEndpoint(A, '/a/retention');
    const publisher = createWebhookPublisher(t.platform);
    const made = await t.platform.withTenant({ tenantId: A.tenantId }, async (tx) => [
      await publisher.publishIn(tx, A.tenantId, 'webhooks.test', { n: 1 }),
      await publisher.publishIn(tx, A.tenantId, 'webhooks.test', { n: 2 }),
      await publisher.publishIn(tx, A.tenantId, 'webhooks.test', { n: 3 }),
    ]);
    const [m1, m2, m3] = made.map((p) => p.messageId);
    await withOwner(t.platform.db, async (tx) => {
      await tx.query(sql`UPDATE webhook_deliveries SET status = 'succeeded', next_attempt_at = NULL WHERE message_id = ANY (${sql.param([m1, m3])}::uuid[])`);
      await tx.query(sql`UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 day' WHERE message_id = ${m2}`);
      await tx.query(sql`UPDATE webhook_messages SET created_at = now() - interval '31 days' WHERE id = ANY (${sql.param([m1, m2])}::uuid[])`);
    });
    await retentionHandler(t.platform)({} as never);
    const left = await withOwner(t.platform.db, async (tx) => (await tx.query<{ id: string }>(sql`
      SELECT id FROM webhook_messages WHERE id = ANY (${sql.param([m1, m2, m3])}::uuid[])`)).map((r) => r.id));
    expect(left.sort()).toEqual([m2, m3].sort());
    expect(e.id).toBeTypeOf('string');
  });
});

describe('roles', () => {
  it('lets viewers and members neither read nor manage webhooks; admins do both', async () => {
    const viewer = await addMember(t.app, A, 'viewer');
    const member = await addMember(t.app, A, 'member');
    const admin = await addMember(t.app, A, 'admin');
    for (const who of [viewer, member]) {
      expect((await api(who, 'GET', '/endpoints')).statusCode).toBe(403);
      expect((await api(who, 'POST', '/endpoints', { url: rx.url('/never'), eventTypes: ['webhooks.test'] })).statusCode).toBe(403);
      expect((await api(who, 'POST', '/inbound', { name: 'x', eventTypes: ['*'] })).statusCode).toBe(403);
    }
    expect((await api(admin, 'GET', '/endpoints')).statusCode).toBe(200);
    const created = await api(admin, 'POST', '/endpoints', { url: rx.url('/admin'), eventTypes: ['webhooks.test'] });
    expect(created.statusCode).toBe(201);
    secrets.push(json(created).secret);
    expect(rx.at('/never')).toEqual([]);
  });
});

describe('tenant isolation', () => {
  it("delivers tenant A's events to A's endpoints only, never to B's", async () => {
    const a = await createEndpoint(A, '/iso/a');
    await createEndpoint(B, '/iso/b');
    const publisher = createWebhookPublisher(t.platform);
    const published = await publisher.publish(A.tenantId, 'webhooks.test', { note: 'A only' });
    expect(published.deliveryIds.length).toBeGreaterThanOrEqual(1);
    const [got] = await rx.waitFor('/iso/a', 1);
    expect(new Webhook(a.secret).verify(got!.body, got!.headers as Record<string, string>)).toMatchObject({ data: { note: 'A only' } });
    // Settle every delivery of A's message before looking at B's receiver.
    for (const id of published.deliveryIds) await settled(A, id);
    expect(rx.at('/iso/b')).toEqual([]);
    // B sees none of A's messages or deliveries.
    expect(json(await api(B, 'GET', '/messages')).items).toEqual([]);
    expect(json(await api(B, 'GET', '/deliveries')).items).toEqual([]);
    expect((await api(B, 'GET', `/messages/${published.messageId}`)).statusCode).toBe(404);
    expect((await api(B, 'POST', `/messages/${published.messageId}/replay`, {})).statusCode).toBe(404);
  });

  it('refuses to publish an event type no module declares', async () => {
    await expect(createWebhookPublisher(t.platform).publish(A.tenantId, 'nobody.declares.this', {})).rejects.toThrow(/not declared/);
  });
});

describe('secrets stay secret', () => {
  it('never shows a secret again: not in reads, the delivery log, the audit trail, the database outside its sealed column, or the logs', async () => {
    const e = await createEndpoint(A, '/a/echo');
    rx.echo('/a/echo');
    const sent = json(await api(A, 'POST', `/endpoints/${e.id}/test`));
    const [got] = await rx.waitFor('/a/echo', 1);
    const d = await settled(A, sent.deliveryId);
    const signature = String(got!.headers['webhook-signature']).slice(3);
    expect(d.attemptLog[0].responseBody).toContain('[redacted]');
    expect(d.attemptLog[0].responseBody).not.toContain(signature);

    const reads = [
      await api(A, 'GET', '/endpoints'), await api(A, 'GET', `/endpoints/${e.id}`), await api(A, 'GET', '/deliveries'),
      await api(A, 'GET', `/deliveries/${sent.deliveryId}`), await api(A, 'GET', '/messages'),
      await t.app.inject({ method: 'GET', url: '/api/v1/audit-events?limit=100', headers: bearer(A) }),
    ].map((r) => r.body).join('\n');
    const everything = await withOwner(t.platform.db, async (tx) => {
      const rows = await tx.query<{ t: string }>(sql`
        SELECT concat_ws(' ', (SELECT string_agg(row_to_json(x)::text, ' ') FROM (SELECT id, url, description, secret_fingerprint FROM webhook_endpoints) x),
          (SELECT string_agg(row_to_json(x)::text, ' ') FROM webhook_attempts x),
          (SELECT string_agg(row_to_json(x)::text, ' ') FROM webhook_messages x),
          (SELECT string_agg(row_to_json(x)::text, ' ') FROM audit_events x),
          (SELECT string_agg(row_to_json(x)::text, ' ') FROM job_dead_letters x)) AS t`);
      return rows[0]!.t;
    });
    const logs = t.logs.join('\n');
    expect(secrets.length).toBeGreaterThan(5);
    for (const secret of secrets) {
      const key = secret.slice('whsec_'.length);
      for (const [where, text] of [['reads', reads], ['database', everything], ['logs', logs]] as const) {
        expect(text.includes(secret) || text.includes(key), `${where} contains a secret`).toBe(false);
      }
    }
    expect(everything).not.toContain(signature);
  });
});
