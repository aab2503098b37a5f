import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The DiscourseConnect wire format (meta.discourse.org topic 13045; discourse/discourse
 * lib/discourse_connect_base.rb): `sso` is base64 of a query string, `sig` is
 * hex(HMAC-SHA256(secret as bytes, sso)) over the base64 text exactly as received
 * after URL-decoding — trailing newline included — never over a re-encoding.
 */
export const NONCE_LIFETIME_SECONDS = 600;

export function signSso(secret: string, sso: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(sso, 'utf8').digest('hex');
}

/** Constant-time check of `sig`; anything that is not 64 hex digits is refused before comparing. */
export function verifySso(secret: string, sso: string, sig: string): boolean {
  if (!/^[0-9a-fA-F]{64}$/.test(sig)) return false;
  const expected = Buffer.from(signSso(secret, sso), 'hex');
  return timingSafeEqual(expected, Buffer.from(sig, 'hex'));
}

export interface IncomingRequest {
  nonce: string;
  returnSsoUrl: string;
}

/** Decodes a verified payload; null when nonce or return_sso_url is missing or malformed. */
export function decodeRequest(sso: string): IncomingRequest | null {
  if (!/^[A-Za-z0-9+/=\r\n]{1,4096}$/.test(sso)) return null;
  const params = new URLSearchParams(Buffer.from(sso, 'base64').toString('utf8'));
  const nonce = params.get('nonce');
  const returnSsoUrl = params.get('return_sso_url');
  if (!nonce || nonce.length > 200 || !returnSsoUrl || returnSsoUrl.length > 2000) return null;
  return { nonce, returnSsoUrl };
}

/** The answer payload: base64 of the form-encoded fields, in the order given. */
export function encodeAnswer(fields: ReadonlyArray<readonly [string, string]>): string {
  const query = new URLSearchParams(fields.map(([k, v]): [string, string] => [k, v])).toString();
  return Buffer.from(query, 'utf8').toString('base64');
}

/** True when `url` is an http(s) URL whose origin is exactly `origin` (scheme, host and port). */
export function onOrigin(url: string, origin: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password && u.origin === origin;
  } catch {
    return false;
  }
}
