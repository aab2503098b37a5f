import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CryptoError } from './errors.ts';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;
/** Smallest possible sealed buffer: nonce + empty ciphertext + tag. */
export const AEAD_OVERHEAD_BYTES = AEAD_NONCE_BYTES + AEAD_TAG_BYTES;

const ALGORITHM = 'aes-256-gcm';

function assertKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AEAD_KEY_BYTES) {
    throw new CryptoError('ERR_KEY_INVALID', `AES-256-GCM key must be ${AEAD_KEY_BYTES} bytes`);
  }
}

/**
 * AES-256-GCM with a fresh random 96-bit nonce per call; returns nonce||ciphertext||tag.
 * Random nonces are safe for up to ~2^32 messages per key, which is why every
 * tenant gets its own data key and data keys are rotatable.
 */
export function aeadSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  assertKey(key);
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, nonce, { authTagLength: AEAD_TAG_BYTES });
  cipher.setAAD(aad);
  // Array elements are evaluated in order: final() runs before getAuthTag(), as GCM requires.
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/**
 * Inverse of aeadSeal. Fails closed: any truncation, bit flip, wrong key or
 * wrong AAD throws the same error, and no unauthenticated bytes escape.
 */
export function aeadOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  assertKey(key);
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
