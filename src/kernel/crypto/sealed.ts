import { assertContextField, assertKeyVersion, encodeAad, isWellFormed } from './aad.ts';
import { AEAD_OVERHEAD_BYTES, aeadOpen, aeadSeal, assertAeadKey, type AeadKey } from './aead.ts';
import { CryptoError } from './errors.ts';
import { MASTER_KEY_ID_PATTERN, type Keyring } from './keyring.ts';
import { formatToken, parseToken } from './token.ts';

/** Tenant values sealed with the tenant data key, bound to the cell they live in. */

const SEALED_PREFIX = 'osv1';
const MASTER_SEALED_PREFIX = 'omk1';
/** Canonical decimal: no sign, no leading zeros, within safe-integer digits. */
const VERSION_LABEL = /^[1-9][0-9]{0,15}$/;

export interface SealedContext {
  tenantId: string;
  dataKeyVersion: number;
  table: string;
  column: string;
  rowId: string;
}

/**
 * A ciphertext moved to another tenant, table, column or row, or presented
 * with another data-key version, no longer authenticates.
 */
function sealedAad(ctx: SealedContext): Buffer {
  return encodeAad([
    'ocsuite:sealed',
    'v1',
    ctx.tenantId,
    ctx.table,
    ctx.column,
    ctx.rowId,
    String(ctx.dataKeyVersion),
  ]);
}

function assertContext(ctx: SealedContext): void {
  assertContextField('tenantId', ctx?.tenantId);
  assertContextField('table', ctx.table);
  assertContextField('column', ctx.column);
  assertContextField('rowId', ctx.rowId);
  assertKeyVersion('dataKeyVersion', ctx.dataKeyVersion);
}

/**
 * Strings are stored as UTF-8; a lone surrogate would silently become U+FFFD,
 * so refuse it. `owned` bytes were made here and are zeroed after use; the
 * caller's bytes are read in place, never copied nor zeroed.
 */
function plaintextBytes(plaintext: string | Uint8Array): { bytes: Buffer; owned: boolean } {
  if (typeof plaintext === 'string') {
    if (!isWellFormed(plaintext)) {
      throw new CryptoError('ERR_PLAINTEXT_INVALID', 'plaintext string is not well-formed UTF-16');
    }
    return { bytes: Buffer.from(plaintext, 'utf8'), owned: true };
  }
  if (plaintext instanceof Uint8Array) {
    return { bytes: Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength), owned: false };
  }
  throw new CryptoError('ERR_PLAINTEXT_INVALID', 'plaintext must be a string or bytes');
}

function openFailed(reason: string): CryptoError {
  return new CryptoError('ERR_SEALED_OPEN_FAILED', `sealed value cannot be opened: ${reason}`);
}

/** `osv1.<dataKeyVersion>.<base64url(nonce||ct||tag)>` */
export function sealValue(dataKey: AeadKey, ctx: SealedContext, plaintext: string | Uint8Array): string {
  assertAeadKey(dataKey);
  assertContext(ctx);
  const { bytes, owned } = plaintextBytes(plaintext);
  try {
    return formatToken(SEALED_PREFIX, String(ctx.dataKeyVersion), aeadSeal(dataKey, bytes, sealedAad(ctx)));
  } finally {
    if (owned) bytes.fill(0);
  }
}

/** Any tampering, truncation, wrong context or wrong version throws ERR_SEALED_OPEN_FAILED. */
export function openValue(dataKey: AeadKey, ctx: SealedContext, token: string): Buffer {
  assertAeadKey(dataKey);
  assertContext(ctx);
  const { version, blob } = parseSealed(token);
  if (version !== ctx.dataKeyVersion) {
    throw openFailed(`sealed with data key version ${version}, not ${ctx.dataKeyVersion}`);
  }
  try {
    return aeadOpen(dataKey, blob, sealedAad(ctx));
  } catch {
    throw openFailed('authentication failed (tampered, or wrong key or context)');
  }
}

/** Which data-key version to fetch before opening this token. */
export function dataKeyVersionOf(token: string): number {
  return parseSealed(token).version;
}

function parseSealed(token: string): { version: number; blob: Buffer } {
  const parsed = parseToken(token, SEALED_PREFIX);
  if (parsed === undefined || !VERSION_LABEL.test(parsed.label) || parsed.blob.length < AEAD_OVERHEAD_BYTES) {
    throw openFailed('malformed token');
  }
  const version = Number(parsed.label);
  if (!Number.isSafeInteger(version)) throw openFailed('malformed token');
  return { version, blob: parsed.blob };
}

/**
 * Platform secrets (e.g. the JWT signing private key) sealed directly with a
 * master key. `aadContext` names what the secret is, e.g. 'platform:jwt-signing-key',
 * so one platform secret cannot be substituted for another.
 */
function masterAad(aadContext: string, masterKeyId: string): Buffer {
  return encodeAad(['ocsuite:master', 'v1', aadContext, masterKeyId]);
}

/** `omk1.<masterKeyId>.<base64url(nonce||ct||tag)>`, under the keyring's primary. */
export function sealWithMasterKey(keyring: Keyring, aadContext: string, plaintext: string | Uint8Array): string {
  assertContextField('aadContext', aadContext);
  const { id, aeadKey: key } = keyring.primary;
  const { bytes, owned } = plaintextBytes(plaintext);
  try {
    return formatToken(MASTER_SEALED_PREFIX, id, aeadSeal(key, bytes, masterAad(aadContext, id)));
  } finally {
    if (owned) bytes.fill(0);
  }
}

/** Unknown or retired master keys surface as ERR_KEY_UNKNOWN / ERR_KEY_RETIRED. */
export function openWithMasterKey(keyring: Keyring, aadContext: string, token: string): Buffer {
  assertContextField('aadContext', aadContext);
  const { masterKeyId, blob } = parseMasterSealed(token);
  const { aeadKey: key } = keyring.get(masterKeyId);
  try {
    return aeadOpen(key, blob, masterAad(aadContext, masterKeyId));
  } catch {
    throw openFailed(`authentication failed under master key "${masterKeyId}"`);
  }
}

/** Master-key rotation for platform secrets; already-current tokens come back unchanged. */
export function resealWithMasterKey(keyring: Keyring, aadContext: string, token: string): string {
  const plaintext = openWithMasterKey(keyring, aadContext, token);
  try {
    if (masterKeyIdOfSealed(token) === keyring.primary.id) return token;
    return sealWithMasterKey(keyring, aadContext, plaintext);
  } finally {
    plaintext.fill(0);
  }
}

/** Which master key sealed this platform secret, without decrypting it. */
export function masterKeyIdOfSealed(token: string): string {
  return parseMasterSealed(token).masterKeyId;
}

function parseMasterSealed(token: string): { masterKeyId: string; blob: Buffer } {
  const parsed = parseToken(token, MASTER_SEALED_PREFIX);
  if (parsed === undefined || !MASTER_KEY_ID_PATTERN.test(parsed.label) || parsed.blob.length < AEAD_OVERHEAD_BYTES) {
    throw openFailed('malformed token');
  }
  return { masterKeyId: parsed.label, blob: parsed.blob };
}
