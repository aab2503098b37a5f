import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { monitorOf } from '../../src/jobs/start.ts';
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
  t = await startApp({ OCSUITE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/alerts/jobs`, OCSUITE_ALERT_WEBHOOK_SECRET: secret });
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
