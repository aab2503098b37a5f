import { createCipheriv, createDecipheriv, createSecretKey, KeyObject, randomFillSync } from 'node:crypto';
import { CryptoError } from './errors.ts';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;
/** Smallest possible sealed buffer: nonce + empty ciphertext + tag. */
export const AEAD_OVERHEAD_BYTES = AEAD_NONCE_BYTES + AEAD_TAG_BYTES;

const ALGORITHM = 'aes-256-gcm';

/**
 * Raw key bytes, or a KeyObject made once by importAeadKey. node:crypto
 * imports raw bytes on every createCipheriv (about 60 % of a small seal);
 * callers that use one key for many values (rotation, the keyring) import it once.
 */
export type AeadKey = Uint8Array | KeyObject;

export function assertAeadKey(key: unknown): asserts key is AeadKey {
  const valid = key instanceof KeyObject
    ? key.type === 'secret' && key.symmetricKeySize === AEAD_KEY_BYTES
    : key instanceof Uint8Array && key.length === AEAD_KEY_BYTES;
  if (!valid) throw new CryptoError('ERR_KEY_INVALID', `AES-256-GCM key must be ${AEAD_KEY_BYTES} bytes`);
}

/** A KeyObject holding a copy of `bytes` (the caller still zeroes its own bytes). */
export function importAeadKey(bytes: Uint8Array): KeyObject {
  assertAeadKey(bytes);
  return createSecretKey(bytes);
}

/**
 * Nonces come from a pooled CSPRNG buffer, as node's randomUUID does: one
 * randomFillSync per 256 nonces instead of one randomBytes call each (a
 * quarter of a small seal). Every pooled byte is used once; a nonce is
 * public, so the used bytes need no wiping.
 */
const noncePool = Buffer.alloc(AEAD_NONCE_BYTES * 256);
let noncePoolOffset = noncePool.length;

function freshNonce(): Buffer {
  if (noncePoolOffset === noncePool.length) {
    randomFillSync(noncePool);
    noncePoolOffset = 0;
  }
  const nonce = noncePool.subarray(noncePoolOffset, noncePoolOffset + AEAD_NONCE_BYTES);
  noncePoolOffset += AEAD_NONCE_BYTES;
  return nonce;
}

/**
 * AES-256-GCM with a fresh random 96-bit nonce per call; returns nonce||ciphertext||tag.
 * Random nonces are safe for up to ~2^32 messages per key, which is why every
 * tenant gets its own data key and data keys are rotatable.
 */
export function aeadSeal(key: AeadKey, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  assertAeadKey(key);
  // A view into the pool: createCipheriv and Buffer.concat copy it before the pool can be refilled.
  const nonce = freshNonce();
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: AEAD_TAG_BYTES });
  cipher.setAAD(aad);
  // Array elements are evaluated in order: final() runs before getAuthTag(), as GCM requires.
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/**
 * Inverse of aeadSeal. Fails closed: any truncation, bit flip, wrong key or
 * wrong AAD throws the same error, and no unauthenticated bytes escape.
 */
export function aeadOpen(key: AeadKey, sealed: Uint8Array, aad: Uint8Array): Buffer {
  assertAeadKey(key);
  if (!(sealed instanceof Uint8Array) || sealed.length < AEAD_OVERHEAD_BYTES) {
    throw openFailed();
  }
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const nonce = bytes.subarray(0, AEAD_NONCE_BYTES);
  const ciphertext = bytes.subarray(AEAD_NONCE_BYTES, bytes.length - AEAD_TAG_BYTES);
  const tag = bytes.subarray(bytes.length - AEAD_TAG_BYTES);

  // authTagLength pins the tag size so a shortened tag cannot be accepted.
  const decipher = createDecipheriv(ALGORITHM, key, nonce, { authTagLength: AEAD_TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const head = decipher.update(ciphertext);
  try {
    const tail = decipher.final(); // empty for GCM: no second copy of the plaintext
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    // update() output is unauthenticated until final() succeeds; wipe it.
    head.fill(0);
    throw openFailed();
  }
}

function openFailed(): CryptoError {
  return new CryptoError('ERR_AEAD_OPEN_FAILED', 'authenticated decryption failed');
}
