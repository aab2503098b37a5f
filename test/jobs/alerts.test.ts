import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { deliverAlert, newAlert } from '../../src/jobs/alerts.ts';
import { monitorOf } from '../../src/jobs/start.ts';
import { pushCheckpoint } from '../../src/kernel/audit/witness.ts';
import { createEgress } from '../../src/kernel/egress/index.ts';
import { startApp, type TestApp } from '../support/app.ts';
import { eventually } from './support.ts';

/**
 * A failure spike raises an alert: recorded in the platform audit log and
 * POSTed, signed per Standard Webhooks, to a real receiver on 127.0.0.1 that
 * refuses the first delivery (the delivery job retries) and checks the
 * signature with its own HMAC, not with the platform's code.
 */
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const received: Array<{ headers: http.IncomingHttpHeaders; body: string; valid: boolean }> = [];
let server: http.Server;
let t: TestApp;

function validSignature(headers: http.IncomingHttpHeaders, body: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest();
  const ts = Number(headers['webhook-timestamp']);
  if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > 300) return false;
  return String(headers['webhook-signature'] ?? '').split(' ').some((s) => {
    const [version, sig] = s.split(',');
    const given = Buffer.from(sig ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body, valid: validSignature(req.headers, body) });
      res.statusCode = received.length === 1 ? 500 : 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  t = await startApp({
    OCSUITE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/alerts/jobs`, OCSUITE_ALERT_WEBHOOK_SECRET: secret,
    // Alerts go through the egress guard: the loopback receiver must be allowlisted.
    OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32', OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1',
  });
});

afterAll(async () => {
  await t?.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('failure-spike alert', () => {
  it('is audited and delivered, signed, to the webhook (after a refused first delivery)', async () => {
    const monitor = monitorOf(t.platform.jobs);
    if (!monitor) throw new Error('the platform runs no failure-spike monitor');
    // A steady baseline, then a spike on one queue.
    for (let w = 0; w < 4; w++) {
      for (let i = 0; i < 50; i++) monitor.observe('mail.send', i === 0 ? 'failed' : 'completed');
      monitor.tick();
    }
    expect(received).toEqual([]);
    for (let i = 0; i < 50; i++) monitor.observe('mail.send', i < 30 ? 'failed' : 'completed');
    monitor.tick();

    await eventually('a second, accepted delivery', () => received.length >= 2, 30_000);
    const [refused, accepted] = received;
    expect(refused!.valid).toBe(true);
    expect(accepted!.valid).toBe(true);
    // The same message id on the retry, so the receiver can drop a duplicate.
    expect(accepted!.headers['webhook-id']).toBe(refused!.headers['webhook-id']);
    const payload = JSON.parse(accepted!.body);
    expect(payload).toMatchObject({ type: 'alert.jobs.failure_spike', data: { type: 'jobs.failure_spike', severity: 'critical', details: { queue: 'mail.send', attempts: 50, failures: 30 } } });
    expect(accepted!.headers['webhook-id']).toBe(`alert_${payload.data.id}`);

    const audited = await withOwner(t.platform.db, (tx) => tx.query<{ action: string; target_id: string; metadata: { alertId: string } }>(sql`
      SELECT action, target_id, metadata FROM platform_audit_events WHERE action = 'alert.jobs_failure_spike'`));
    expect(audited.map((a) => a.metadata.alertId)).toContain(payload.data.id);

    const metrics = await t.platform.metrics.registry.metrics();
    expect(metrics).toContain('ocsuite_jobs_failure_spikes_total{queue="mail.send"} 1');
  });

  it('a tampered delivery would not verify: the receiver check is not a rubber stamp', () => {
    const good = received[1]!;
    expect(validSignature(good.headers, good.body.replace('mail.send', 'mail.sent'))).toBe(false);
    expect(validSignature({ ...good.headers, 'webhook-timestamp': String(Number(good.headers['webhook-timestamp']) + 1) }, good.body)).toBe(false);
  });
});

describe('alerts and witness pushes go through the egress guard', () => {
  const noAllowlist = createEgress({ allowCidrs: [], allowHttpHosts: [] });
  const before = () => received.length;

  it('refuses an alert to a loopback URL without an allowlist, and sends nothing', async () => {
    const port = (server.address() as AddressInfo).port;
    const n = before();
    const alert = newAlert('jobs.failure_spike', 'critical', 'refused', { queue: 'mail.send' });
    // Plain http to a host not allowed over http; then https, which passes the scheme check and meets the address check.
    await expect(deliverAlert(noAllowlist, { url: `http://127.0.0.1:${port}/alerts/jobs`, secret }, alert)).rejects.toMatchObject({ name: 'EgressRefusedError', reason: 'scheme' });
    for (const url of [`https://127.0.0.1:${port}/alerts/jobs`, `https://[::1]:${port}/a`, `https://[::ffff:127.0.0.1]:${port}/a`, 'https://169.254.169.254/latest', 'https://localhost/a']) {
      await expect(deliverAlert(noAllowlist, { url, secret }, alert), url).rejects.toMatchObject({ name: 'EgressRefusedError' });
    }
    // http allowed for the host but the address still private: refused on the address.
    const httpOnly = createEgress({ allowCidrs: [], allowHttpHosts: ['127.0.0.1'] });
    await expect(deliverAlert(httpOnly, { url: `http://127.0.0.1:${port}/alerts/jobs`, secret }, alert)).rejects.toMatchObject({ name: 'EgressRefusedError', reason: 'address' });
    expect(received.length).toBe(n);
  });

  it('the platform delivers through its own guard: with the allowlist it arrives, signed', async () => {
    const port = (server.address() as AddressInfo).port;
    const n = before();
    await deliverAlert(t.platform.egress, { url: `http://127.0.0.1:${port}/alerts/jobs`, secret }, newAlert('jobs.failure_spike', 'warning', 'allowed', { queue: 'x' }));
    expect(received.length).toBe(n + 1);
    expect(received.at(-1)!.valid).toBe(true);
  });

  it('refuses a witness push to a loopback URL without an allowlist, and sends nothing', async () => {
    const port = (server.address() as AddressInfo).port;
    const n = before();
    const cp = { origin: 'ocsuite.test/log', size: 1, note: 'ocsuite.test/log\n1\nAAAA\n' };
    await expect(pushCheckpoint(noAllowlist, { url: `http://127.0.0.1:${port}/witness`, secret }, cp)).rejects.toMatchObject({ name: 'EgressRefusedError' });
    await expect(pushCheckpoint(createEgress({ allowCidrs: [], allowHttpHosts: ['127.0.0.1'] }), { url: `http://127.0.0.1:${port}/witness`, secret }, cp))
      .rejects.toMatchObject({ name: 'EgressRefusedError', reason: 'address' });
    expect(received.length).toBe(n);
  });
});
