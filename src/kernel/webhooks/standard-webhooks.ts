/**
 * Standard Webhooks (standard-webhooks.md, "Signature scheme"): the signed
 * content is `<webhook-id>.<webhook-timestamp>.<raw body>`, signed with
 * HMAC-SHA256 under the secret (base64 after its `whsec_` prefix), sent as
 * `webhook-signature: v1,<base64>` — a space-separated list, so a receiver can
 * accept any of several signatures while a sender rotates its secret.
 * Receivers refuse timestamps outside a tolerance (5 minutes) to stop replays.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { CANONICAL_BASE64, decodeWebhookSecret, WEBHOOK_SECRET_PREFIX } from '../../config/webhook-secret.ts';
import { hmacSha256 } from '../crypto/hmac.ts';

export { WEBHOOK_SECRET_PREFIX };
export const DEFAULT_TOLERANCE_SECONDS = 300;

// A type alias (not an interface) so it is assignable to a plain header record.
export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

export type WebhookErrorCode =
  | 'ERR_WEBHOOK_SECRET_INVALID'
  | 'ERR_WEBHOOK_HEADERS_MISSING'
  | 'ERR_WEBHOOK_TIMESTAMP_INVALID'
  | 'ERR_WEBHOOK_TIMESTAMP_OUT_OF_RANGE'
  | 'ERR_WEBHOOK_SIGNATURE_INVALID'
  | 'ERR_WEBHOOK_OPTIONS_INVALID';

export class WebhookError extends Error {
  readonly code: WebhookErrorCode;

  constructor(code: WebhookErrorCode, message: string) {
    super(message);
    this.name = 'WebhookError';
    this.code = code;
  }
}

// Bound the work an attacker can make a receiver do.
const MAX_SIGNATURES = 10;
const MAX_ID_LENGTH = 256;

/** The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries). */
export function webhookKey(secret: string): Buffer {
  if (typeof secret !== 'string') throw new WebhookError('ERR_WEBHOOK_SECRET_INVALID', 'webhook secret must be a string');
  const key = decodeWebhookSecret(secret);
  if (!key) {
    throw new WebhookError('ERR_WEBHOOK_SECRET_INVALID', 'webhook secret must be whsec_ followed by base64 of 16 to 128 bytes');
  }
  return key;
}

/** A fresh secret in the spec's format (32 random bytes). */
export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

function signatureOf(key: Buffer, msgId: string, timestamp: number | string, body: string | Uint8Array): Buffer {
  return hmacSha256(key, `${msgId}.${timestamp}.`, body);
}

/** The three headers for a message. `timestamp` is in seconds since the epoch. */
export function signWebhook(input: { secret: string; msgId: string; timestamp: number; body: string | Uint8Array }): WebhookHeaders {
  const { msgId, timestamp, body } = input;
  if (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > MAX_ID_LENGTH || /[\s.]/.test(msgId)) {
    throw new WebhookError('ERR_WEBHOOK_HEADERS_MISSING', 'msgId must be a non-empty token without spaces or dots');
  }
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new WebhookError('ERR_WEBHOOK_TIMESTAMP_INVALID', 'timestamp must be integer seconds');
  const signature = signatureOf(webhookKey(input.secret), msgId, timestamp, body);
  return { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature.toString('base64')}` };
}

function header(headers: Record<string, string | string[] | undefined> | Headers, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value.join(' ') : value;
}

export interface VerifyWebhookOptions {
  toleranceSeconds?: number;
  /** Current time (defaults to Date.now()); a Date or milliseconds. */
  now?: Date | number;
}

/**
 * Verifies a received message against its RAW body (not a re-serialised
 * parse). Returns the message id and timestamp; throws WebhookError otherwise.
 * Several secrets may be given (rotation): any one signature matching any
 * secret accepts.
 */
export function verifyWebhook(
  headers: Record<string, string | string[] | undefined> | Headers,
  rawBody: string | Uint8Array,
  secret: string | readonly string[],
  options: VerifyWebhookOptions = {},
): { msgId: string; timestamp: number } {
  const msgId = header(headers, 'webhook-id');
  const timestampText = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!msgId || !timestampText || !signatures) {
    throw new WebhookError('ERR_WEBHOOK_HEADERS_MISSING', 'webhook-id, webhook-timestamp and webhook-signature are required');
  }
  if (msgId.length > MAX_ID_LENGTH) throw new WebhookError('ERR_WEBHOOK_HEADERS_MISSING', 'webhook-id is too long');
  if (!/^[0-9]{1,12}$/.test(timestampText)) throw new WebhookError('ERR_WEBHOOK_TIMESTAMP_INVALID', 'webhook-timestamp must be integer seconds');
  const timestamp = Number(timestampText);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const nowMs = options.now === undefined ? Date.now() : typeof options.now === 'number' ? options.now : options.now.getTime();
  // NaN compares false with everything: an unusable window or clock would accept any timestamp.
  if (!Number.isFinite(tolerance) || tolerance < 0 || !Number.isFinite(nowMs)) {
    throw new WebhookError('ERR_WEBHOOK_OPTIONS_INVALID', 'toleranceSeconds and now must be finite (tolerance ≥ 0)');
  }
  const nowSeconds = Math.floor(nowMs / 1000);
  if (timestamp < nowSeconds - tolerance) throw new WebhookError('ERR_WEBHOOK_TIMESTAMP_OUT_OF_RANGE', 'message timestamp is too old');
  if (timestamp > nowSeconds + tolerance) throw new WebhookError('ERR_WEBHOOK_TIMESTAMP_OUT_OF_RANGE', 'message timestamp is too new');

  const keys = (typeof secret === 'string' ? [secret] : [...secret]).map(webhookKey);
  const expected = keys.map((k) => signatureOf(k, msgId, timestampText, rawBody));
  const candidates = signatures.split(' ').filter((s) => s.length > 0).slice(0, MAX_SIGNATURES);
  let matched = false;
  for (const candidate of candidates) {
    const comma = candidate.indexOf(',');
    if (comma < 0 || candidate.slice(0, comma) !== 'v1') continue;
    const encoded = candidate.slice(comma + 1);
    if (!CANONICAL_BASE64.test(encoded)) continue;
    const given = Buffer.from(encoded, 'base64');
    for (const e of expected) {
      // Constant time in the signature bytes; every candidate is checked so timing does not reveal which matched.
      if (given.length === e.length && timingSafeEqual(given, e)) matched = true;
    }
  }
  if (!matched) throw new WebhookError('ERR_WEBHOOK_SIGNATURE_INVALID', 'no webhook signature matches');
  return { msgId, timestamp };
}
