/**
 * The Standard Webhooks secret format (`whsec_` + base64 of the key), read in
 * one place: the configuration checks alert and witness secrets with it at
 * start-up, and the signer (kernel/webhooks) derives its key with it, so a
 * secret the configuration accepts always signs.
 */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** Base64 in its one canonical spelling (padding required, no stray bits): also how signatures are read. */
export const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The key bytes, or undefined when the secret is not canonical base64 of 16 to 128 bytes. */
export function decodeWebhookSecret(secret: string): Buffer | undefined {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  const key = CANONICAL_BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
  // The spec recommends 24 to 64 random bytes; refuse anything too short to be a key.
  return key && key.length >= 16 && key.length <= 128 ? key : undefined;
}
