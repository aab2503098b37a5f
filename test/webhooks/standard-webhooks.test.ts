import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signWebhook, verifyWebhook, WebhookError } from '../../src/kernel/webhooks/index.ts';
import { readVector } from '../vectors.ts';

interface StandardWebhooksVector {
  secret: string;
  msgId: string;
  timestamp: number;
  payload: string;
  expectedSignature: string;
  mustReject: string[];
}

const v = readVector<{ standardWebhooks: StandardWebhooksVector }>('protocols.json').standardWebhooks;
const at = v.timestamp * 1000;
const good = () => signWebhook({ secret: v.secret, msgId: v.msgId, timestamp: v.timestamp, body: v.payload });

function rejects(fn: () => unknown, code: string) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookError);
    expect((err as WebhookError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('Standard Webhooks vector', () => {
  it('signs the published message to the published signature', () => {
    expect(good()).toEqual({ 'webhook-id': v.msgId, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': v.expectedSignature });
  });

  it('verifies the published signature, raw body as string or bytes, Headers or a record', () => {
    const headers = good();
    expect(verifyWebhook(headers, v.payload, v.secret, { now: at })).toEqual({ msgId: v.msgId, timestamp: v.timestamp });
    expect(verifyWebhook(new Headers({ ...headers }), Buffer.from(v.payload), v.secret, { now: at }).msgId).toBe(v.msgId);
    const upper = { 'Webhook-Id': headers['webhook-id'], 'Webhook-Timestamp': headers['webhook-timestamp'], 'Webhook-Signature': headers['webhook-signature'] };
    expect(verifyWebhook(upper, v.payload, v.secret, { now: new Date(at) }).timestamp).toBe(v.timestamp);
  });

  it('accepts when any one of several signatures matches (rotation), and any of several secrets', () => {
    const headers = { ...good(), 'webhook-signature': `v1,Zm9vYmFyYmF6 v2,abc ${v.expectedSignature}` };
    expect(verifyWebhook(headers, v.payload, v.secret, { now: at }).msgId).toBe(v.msgId);
    expect(verifyWebhook(good(), v.payload, [generateWebhookSecret(), v.secret], { now: at }).msgId).toBe(v.msgId);
  });

  it('refuses an unusable replay window or clock instead of accepting any timestamp', () => {
    const stale = signWebhook({ secret: v.secret, msgId: v.msgId, timestamp: v.timestamp - 86_400, body: v.payload });
    rejects(() => verifyWebhook(stale, v.payload, v.secret, { now: at, toleranceSeconds: Number.NaN }), 'ERR_WEBHOOK_OPTIONS_INVALID');
    rejects(() => verifyWebhook(stale, v.payload, v.secret, { now: Number.NaN }), 'ERR_WEBHOOK_OPTIONS_INVALID');
    rejects(() => verifyWebhook(stale, v.payload, v.secret, { now: new Date('not a date') }), 'ERR_WEBHOOK_OPTIONS_INVALID');
    rejects(() => verifyWebhook(stale, v.payload, v.secret, { now: at, toleranceSeconds: -1 }), 'ERR_WEBHOOK_OPTIONS_INVALID');
    rejects(() => verifyWebhook(stale, v.payload, v.secret, { now: at }), 'ERR_WEBHOOK_TIMESTAMP_OUT_OF_RANGE');
  });

  // Each mustReject case of the vector file, in its order.
  it('has exactly the reject cases tested below', () => {
    expect(v.mustReject).toHaveLength(6);
  });

  it('rejects a missing webhook-id, webhook-timestamp or webhook-signature', () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const headers: Record<string, string> = { ...good() };
      delete headers[name];
      rejects(() => verifyWebhook(headers, v.payload, v.secret, { now: at }), 'ERR_WEBHOOK_HEADERS_MISSING');
    }
  });

  it("rejects timestamp 'hello'", () => {
    rejects(() => verifyWebhook({ ...good(), 'webhook-timestamp': 'hello' }, v.payload, v.secret, { now: at }), 'ERR_WEBHOOK_TIMESTAMP_INVALID');
  });

  it('rejects timestamps older than now-5min or newer than now+5min, accepts the edges', () => {
    const h = good();
    rejects(() => verifyWebhook(h, v.payload, v.secret, { now: at + 301_000 }), 'ERR_WEBHOOK_TIMESTAMP_OUT_OF_RANGE');
    rejects(() => verifyWebhook(h, v.payload, v.secret, { now: at - 301_000 }), 'ERR_WEBHOOK_TIMESTAMP_OUT_OF_RANGE');
    expect(verifyWebhook(h, v.payload, v.secret, { now: at + 300_000 }).msgId).toBe(v.msgId);
    expect(verifyWebhook(h, v.payload, v.secret, { now: at - 300_000 }).msgId).toBe(v.msgId);
    rejects(() => verifyWebhook(h, v.payload, v.secret, { now: at + 11_000, toleranceSeconds: 10 }), 'ERR_WEBHOOK_TIMESTAMP_OUT_OF_RANGE');
  });

  it("rejects signature 'v1,dawfeoifkpqwoekfpqoekf'", () => {
    rejects(() => verifyWebhook({ ...good(), 'webhook-signature': 'v1,dawfeoifkpqwoekfpqoekf' }, v.payload, v.secret, { now: at }), 'ERR_WEBHOOK_SIGNATURE_INVALID');
  });

  it("rejects signature 'v1,' (empty)", () => {
    rejects(() => verifyWebhook({ ...good(), 'webhook-signature': 'v1,' }, v.payload, v.secret, { now: at }), 'ERR_WEBHOOK_SIGNATURE_INVALID');
  });

  it('rejects a payload changed by one byte, anywhere', () => {
    for (let i = 0; i < v.payload.length; i++) {
      const bytes = Buffer.from(v.payload);
      bytes[i] = bytes[i]! ^ 0x01;
      rejects(() => verifyWebhook(good(), bytes, v.secret, { now: at }), 'ERR_WEBHOOK_SIGNATURE_INVALID');
    }
  });

  it('rejects a replayed signature under another id or timestamp, a wrong secret and a wrong scheme', () => {
    rejects(() => verifyWebhook({ ...good(), 'webhook-id': 'msg_other' }, v.payload, v.secret, { now: at }), 'ERR_WEBHOOK_SIGNATURE_INVALID');
    rejects(() => verifyWebhook({ ...good(), 'webhook-timestamp': String(v.timestamp + 1) }, v.payload, v.secret, { now: at }), 'ERR_WEBHOOK_SIGNATURE_INVALID');
    rejects(() => verifyWebhook(good(), v.payload, generateWebhookSecret(), { now: at }), 'ERR_WEBHOOK_SIGNATURE_INVALID');
    const sig = v.expectedSignature.slice(3);
    rejects(() => verifyWebhook({ ...good(), 'webhook-signature': `v1a,${sig}` }, v.payload, v.secret, { now: at }), 'ERR_WEBHOOK_SIGNATURE_INVALID');
    rejects(() => verifyWebhook({ ...good(), 'webhook-signature': `v1,${sig.slice(0, -4)}` }, v.payload, v.secret, { now: at }), 'ERR_WEBHOOK_SIGNATURE_INVALID');
  });

  it('refuses malformed or too-short secrets when signing', () => {
    rejects(() => signWebhook({ secret: 'whsec_short', msgId: 'm', timestamp: 1, body: '' }), 'ERR_WEBHOOK_SECRET_INVALID');
    rejects(() => signWebhook({ secret: 'whsec_!!!!', msgId: 'm', timestamp: 1, body: '' }), 'ERR_WEBHOOK_SECRET_INVALID');
  });
});
