import { randomBytes, timingSafeEqual } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { hmacSha256 } from '../../kernel/crypto/hmac.ts';
import { DEFAULT_TOLERANCE_SECONDS, generateWebhookSecret, verifyWebhook } from '../../kernel/webhooks/index.ts';

/**
 * The two ways a sender can sign a call to a receiver.
 *
 * - `standard-webhooks`: the Standard Webhooks scheme (kernel/webhooks): headers
 *   webhook-id, webhook-timestamp, webhook-signature `v1,<base64 HMAC-SHA256>`
 *   over `<id>.<timestamp>.<body>`, key = base64 after `whsec_`.
 * - `hmac-sha256`: the same content signed with a plain HMAC-SHA256 whose key is
 *   the secret's text, hex-encoded, for senders that have an HMAC node and no
 *   Standard Webhooks library (n8n's Crypto node): headers x-webhook-id,
 *   x-webhook-timestamp, x-webhook-signature `sha256=<hex>`.
 *
 * Both bind the id and the timestamp into the signature (a replay cannot change
 * them) and refuse timestamps outside ±5 minutes.
 */
export type Scheme = 'standard-webhooks' | 'hmac-sha256';

export const HMAC_SECRET_PREFIX = 'hmac_';

export function generateReceiverSecret(scheme: Scheme): string {
  return scheme === 'standard-webhooks' ? generateWebhookSecret() : `${HMAC_SECRET_PREFIX}${randomBytes(32).toString('hex')}`;
}

type Headers = Record<string, string | string[] | undefined>;
const one = (headers: Headers, name: string) => {
  const v = headers[name];
  return Array.isArray(v) ? v.join(' ') : v;
};

/** Thrown for every failed check; the caller answers all of them the same way. */
export class InboundRefused extends Error {
  readonly check: 'receiver' | 'address' | 'headers' | 'timestamp' | 'signature' | 'replay';
  constructor(check: InboundRefused['check']) {
    super(`inbound webhook refused (${check})`);
    this.check = check;
  }
}

/** The hmac-sha256 signature of a call, as a sender computes it. */
export function hmacSignature(secret: string, id: string, timestamp: number | string, body: string | Uint8Array): string {
  return `sha256=${hmacSha256(Buffer.from(secret, 'utf8'), `${id}.${timestamp}.`, body).toString('hex')}`;
}

/** Verifies a call against every live secret of the receiver; returns its webhook id. */
export function verifyInbound(scheme: Scheme, headers: Headers, body: Buffer, secrets: readonly string[], nowMs = Date.now()): string {
  if (scheme === 'standard-webhooks') {
    try {
      return verifyWebhook(headers, body, secrets, { now: nowMs }).msgId;
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new InboundRefused(code === 'ERR_WEBHOOK_SIGNATURE_INVALID' ? 'signature' : code?.startsWith('ERR_WEBHOOK_TIMESTAMP') ? 'timestamp' : 'headers');
    }
  }
  const id = one(headers, 'x-webhook-id');
  const ts = one(headers, 'x-webhook-timestamp');
  const given = one(headers, 'x-webhook-signature');
  if (!id || id.length > 256 || !ts || !given) throw new InboundRefused('headers');
  if (!/^[0-9]{1,12}$/.test(ts)) throw new InboundRefused('timestamp');
  const now = Math.floor(nowMs / 1000);
  if (Math.abs(now - Number(ts)) > DEFAULT_TOLERANCE_SECONDS) throw new InboundRefused('timestamp');
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(given.trim());
  if (!match) throw new InboundRefused('signature');
  const candidate = Buffer.from(match[1]!.toLowerCase(), 'hex');
  let ok = false;
  for (const secret of secrets) {
    const expected = Buffer.from(hmacSignature(secret, id, ts, body).slice(7), 'hex');
    // Every secret is compared, in constant time, so timing does not tell which (or whether one) matched.
    if (timingSafeEqual(candidate, expected)) ok = true;
  }
  if (!ok) throw new InboundRefused('signature');
  return id;
}

/** Whether the caller's address is inside one of the receiver's ranges (an empty list allows any). */
export function addressAllowed(ip: string, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0) return true;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(ip);
  } catch {
    return false;
  }
  return cidrs.some((c) => {
    try {
      const [range, bits] = ipaddr.parseCIDR(c);
      return range.kind() === addr.kind() && addr.match([range, bits] as never);
    } catch {
      return false;
    }
  });
}

export function isValidCidr(c: string): boolean {
  try {
    ipaddr.parseCIDR(c);
    return true;
  } catch {
    return false;
  }
}

/** Whether a receiver accepts an event type: exact, `prefix.*` or `*`. */
export function typeAccepted(type: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}
