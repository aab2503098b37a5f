import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../src/kernel/webhooks/index.ts';
import { deliveryHeaders } from '../../src/modules/webhooks/delivery.ts';
import { addressAllowed, hmacSignature, InboundRefused, typeAccepted, verifyInbound } from '../../src/modules/webhooks/inbound-verify.ts';
import { responseExcerpt } from '../../src/modules/webhooks/redact.ts';
import { readVector } from '../vectors.ts';

/** The module's signing and verification against the published Standard Webhooks vector and its reject cases. */
const v = readVector<{ standardWebhooks: { secret: string; msgId: string; timestamp: number; payload: string; expectedSignature: string; mustReject: string[] } }>('protocols.json').standardWebhooks;
const at = v.timestamp * 1000;
const vectorHeaders = () => deliveryHeaders([v.secret], v.msgId, v.timestamp, v.payload);
const refusedBy = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InboundRefused);
    return (err as InboundRefused).check;
  }
  throw new Error('accepted');
};

describe('outbound headers', () => {
  it('sign the vector to its published signature, and carry one signature per live secret', () => {
    expect(vectorHeaders()).toMatchObject({ 'webhook-id': v.msgId, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': v.expectedSignature });
    const both = deliveryHeaders([generateWebhookSecret(), v.secret], v.msgId, v.timestamp, v.payload)['webhook-signature'].split(' ');
    expect(both).toHaveLength(2);
    expect(both[1]).toBe(v.expectedSignature);
  });

  it('verify with the standardwebhooks library (fresh timestamp)', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'webhooks.test', data: { n: 1 } });
    const headers = deliveryHeaders([secret], 'msg_abc', Math.floor(Date.now() / 1000), body);
    expect(new Webhook(secret).verify(body, headers)).toEqual({ type: 'webhooks.test', data: { n: 1 } });
  });
});

describe('inbound verification', () => {
  it('accepts the vector and refuses each of its reject cases', () => {
    expect(verifyInbound('standard-webhooks', vectorHeaders(), Buffer.from(v.payload), [v.secret], at)).toBe(v.msgId);
    expect(v.mustReject).toHaveLength(6);
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const h: Record<string, string> = { ...vectorHeaders() };
      delete h[name];
      expect(refusedBy(() => verifyInbound('standard-webhooks', h, Buffer.from(v.payload), [v.secret], at))).toBe('headers');
    }
    expect(refusedBy(() => verifyInbound('standard-webhooks', { ...vectorHeaders(), 'webhook-timestamp': 'hello' }, Buffer.from(v.payload), [v.secret], at))).toBe('timestamp');
    expect(refusedBy(() => verifyInbound('standard-webhooks', vectorHeaders(), Buffer.from(v.payload), [v.secret], at + 301_000))).toBe('timestamp');
    expect(refusedBy(() => verifyInbound('standard-webhooks', vectorHeaders(), Buffer.from(v.payload), [v.secret], at - 301_000))).toBe('timestamp');
    for (const sig of ['v1,dawfeoifkpqwoekfpqoekf', 'v1,']) {
      expect(refusedBy(() => verifyInbound('standard-webhooks', { ...vectorHeaders(), 'webhook-signature': sig }, Buffer.from(v.payload), [v.secret], at))).toBe('signature');
    }
    const changed = Buffer.from(v.payload);
    changed[3] = changed[3]! ^ 1;
    expect(refusedBy(() => verifyInbound('standard-webhooks', vectorHeaders(), changed, [v.secret], at))).toBe('signature');
  });

  it('hmac-sha256: accepts its own signature under any live secret; refuses a wrong one, a stale one and a malformed header', () => {
    const secret = 'hmac_' + 'ab'.repeat(32);
    const body = Buffer.from('{"type":"n8n.ping"}');
    const ts = Math.floor(Date.now() / 1000);
    const headers = { 'x-webhook-id': 'id-1', 'x-webhook-timestamp': String(ts), 'x-webhook-signature': hmacSignature(secret, 'id-1', ts, body) };
    expect(verifyInbound('hmac-sha256', headers, body, ['hmac_other', secret])).toBe('id-1');
    expect(refusedBy(() => verifyInbound('hmac-sha256', headers, body, ['hmac_other']))).toBe('signature');
    expect(refusedBy(() => verifyInbound('hmac-sha256', { ...headers, 'x-webhook-signature': 'sha256=zz' }, body, [secret]))).toBe('signature');
    expect(refusedBy(() => verifyInbound('hmac-sha256', headers, body, [secret], Date.now() + 400_000))).toBe('timestamp');
    expect(refusedBy(() => verifyInbound('hmac-sha256', { ...headers, 'x-webhook-id': '' }, body, [secret]))).toBe('headers');
  });

  it('matches allowlists (IPv4-mapped callers too) and type patterns', () => {
    expect(addressAllowed('10.1.2.3', [])).toBe(true);
    expect(addressAllowed('10.1.2.3', ['10.1.0.0/16'])).toBe(true);
    expect(addressAllowed('::ffff:10.1.2.3', ['10.1.0.0/16'])).toBe(true);
    expect(addressAllowed('10.2.2.3', ['10.1.0.0/16'])).toBe(false);
    expect(addressAllowed('fd00::1', ['10.1.0.0/16'])).toBe(false);
    expect(addressAllowed('not an ip', ['10.1.0.0/16'])).toBe(false);
    expect(typeAccepted('mail.bounced', ['mail.*'])).toBe(true);
    expect(typeAccepted('mailx.bounced', ['mail.*'])).toBe(false);
    expect(typeAccepted('anything', ['*'])).toBe(true);
    expect(typeAccepted('mail.bounced', ['mail.complaint'])).toBe(false);
  });
});

describe('the delivery log excerpt', () => {
  it('truncates, drops control characters and redacts secrets and signatures however they are echoed', () => {
    const secret = generateWebhookSecret();
    const sig = 'g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    const echoed = Buffer.from(`got ${secret} key ${secret.slice(6)} sig v1,${sig}\u0007 ${'z'.repeat(3000)}`);
    const out = responseExcerpt(echoed, [secret], [sig]);
    expect(out.length).toBeLessThanOrEqual(1024);
    expect(out).not.toContain(secret.slice(6));
    expect(out).not.toContain(sig);
    expect(out).not.toContain('\u0007');
    expect(out.startsWith('got [redacted] key [redacted] sig v1,[redacted]')).toBe(true);
  });
});
