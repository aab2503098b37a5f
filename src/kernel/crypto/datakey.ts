import { randomBytes } from 'node:crypto';
import { assertContextField, assertKeyVersion, encodeAad } from './aad.ts';
import { AEAD_KEY_BYTES, AEAD_OVERHEAD_BYTES, aeadOpen, aeadSeal } from './aead.ts';
import { CryptoError } from './errors.ts';
import { MASTER_KEY_ID_PATTERN, type Keyring } from './keyring.ts';
import { formatToken, parseToken } from './token.ts';

/** Envelope level two: one data key per tenant (and version), wrapped by a master key. */

export const DATA_KEY_BYTES = AEAD_KEY_BYTES;
const WRAPPED_PREFIX = 'okw1';
const WRAPPED_BLOB_BYTES = AEAD_OVERHEAD_BYTES + DATA_KEY_BYTES;

export interface DataKeyContext {
  tenantId: string;
  /** Data-key version; bumped by data-key rotation. */
  version: number;
}

export function generateDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

/**
 * Binds the wrapped key to its tenant and version (so a wrapped key copied to
 * another tenant's row fails to unwrap) and to the master key id in its header.
 */
function wrapAad(ctx: DataKeyContext, masterKeyId: string): Buffer {
  return encodeAad(['ocsuite:datakey', ctx.tenantId, String(ctx.version), masterKeyId]);
}

function assertContext(ctx: DataKeyContext): void {
  assertContextField('tenantId', ctx?.tenantId);
  assertKeyVersion('data key version', ctx.version);
}

/** Wraps under the keyring's primary: `okw1.<masterKeyId>.<base64url(nonce||ct||tag)>`. */
export function wrapDataKey(keyring: Keyring, ctx: DataKeyContext, dataKey: Uint8Array): string {
  assertContext(ctx);
  if (!(dataKey instanceof Uint8Array) || dataKey.length !== DATA_KEY_BYTES) {
    throw new CryptoError('ERR_KEY_INVALID', `data key must be ${DATA_KEY_BYTES} bytes`);
  }
  const { id, aeadKey: key } = keyring.primary;
  return formatToken(WRAPPED_PREFIX, id, aeadSeal(key, dataKey, wrapAad(ctx, id)));
}

/**
 * Unknown or retired master keys surface as ERR_KEY_UNKNOWN / ERR_KEY_RETIRED
 * (operational problems); everything else is ERR_DATAKEY_UNWRAP_FAILED.
 */
export function unwrapDataKey(keyring: Keyring, ctx: DataKeyContext, wrapped: string): Buffer {
  assertContext(ctx);
  const { masterKeyId, blob } = parseWrapped(wrapped);
  const { aeadKey: key } = keyring.get(masterKeyId);
  try {
    return aeadOpen(key, blob, wrapAad(ctx, masterKeyId));
  } catch {
    throw new CryptoError(
      'ERR_DATAKEY_UNWRAP_FAILED',
      `wrapped data key does not authenticate under master key "${masterKeyId}" for this tenant and version`,
    );
  }
}

/**
 * Master-key rotation: re-wraps under the current primary without touching
 * values sealed with the data key. Already-current tokens are returned
 * unchanged (after verification) so rotation jobs can be re-run cheaply.
 */
export function rewrapDataKey(keyring: Keyring, ctx: DataKeyContext, wrapped: string): string {
  const dataKey = unwrapDataKey(keyring, ctx, wrapped);
  try {
    if (masterKeyIdOf(wrapped) === keyring.primary.id) return wrapped;
    return wrapDataKey(keyring, ctx, dataKey);
  } finally {
    dataKey.fill(0);
  }
}

/** Which master key wrapped this token, without decrypting it. */
export function masterKeyIdOf(wrapped: string): string {
  return parseWrapped(wrapped).masterKeyId;
}

function parseWrapped(wrapped: string): { masterKeyId: string; blob: Buffer } {
  const token = parseToken(wrapped, WRAPPED_PREFIX);
  if (token === undefined || !MASTER_KEY_ID_PATTERN.test(token.label) || token.blob.length !== WRAPPED_BLOB_BYTES) {
    throw new CryptoError('ERR_DATAKEY_UNWRAP_FAILED', 'wrapped data key is malformed');
  }
  return { masterKeyId: token.label, blob: token.blob };
}
