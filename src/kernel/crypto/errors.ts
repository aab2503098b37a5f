/**
 * Stable codes callers may branch on. Messages are for operators: they may name
 * a key id, a version, a field or a path, but never key material or plaintext.
 */
export type CryptoErrorCode =
  | 'ERR_KEYRING_INVALID' // master-key text or keyring structure is malformed
  | 'ERR_KEYRING_MISSING' // no master-key source configured or readable
  | 'ERR_KEY_UNKNOWN' // a token names a master key the keyring does not hold
  | 'ERR_KEY_RETIRED' // the named master key exists but was retired
  | 'ERR_KEY_INVALID' // a key of the wrong size was handed to a primitive
  | 'ERR_KEYFILE_PERMISSIONS' // key file is reachable by group or others
  | 'ERR_CONTEXT_INVALID' // tenant/table/column/row/version context is unusable
  | 'ERR_PLAINTEXT_INVALID' // plaintext string would not survive UTF-8 round trip
  | 'ERR_AEAD_OPEN_FAILED' // low-level authenticated decryption failed
  | 'ERR_DATAKEY_UNWRAP_FAILED' // wrapped data key is malformed or does not authenticate
  | 'ERR_SEALED_OPEN_FAILED' // sealed value is malformed or does not authenticate
  | 'ERR_DATAKEY_MISSING' // the tenant's data key of that version is destroyed (rotated away or shredded)
  | 'ERR_TENANT_DELETED'; // the tenant was deleted (crypto-shredded): nothing is sealed for it again

export class CryptoError extends Error {
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.name = 'CryptoError';
    this.code = code;
  }
}

export function isCryptoError(error: unknown, code?: CryptoErrorCode): error is CryptoError {
  return error instanceof CryptoError && (code === undefined || error.code === code);
}
