/** Secrets kernel core: master keyring, tenant data keys, sealed values. Storage-agnostic. */
export { CryptoError, isCryptoError, type CryptoErrorCode } from './errors.ts';
export {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_OVERHEAD_BYTES,
  AEAD_TAG_BYTES,
  aeadOpen,
  aeadSeal,
  importAeadKey,
  type AeadKey,
} from './aead.ts';
export {
  Keyring,
  MASTER_KEY_BYTES,
  MASTER_KEY_ID_PATTERN,
  createKeyFile,
  loadMasterKeys,
  parseMasterKeys,
  serializeKeyring,
  type KeyFileResult,
  type MasterKey,
  type MasterKeyEntry,
} from './keyring.ts';
export {
  DATA_KEY_BYTES,
  generateDataKey,
  masterKeyIdOf,
  rewrapDataKey,
  unwrapDataKey,
  wrapDataKey,
  type DataKeyContext,
} from './datakey.ts';
export {
  dataKeyVersionOf,
  masterKeyIdOfSealed,
  openValue,
  openWithMasterKey,
  resealWithMasterKey,
  sealValue,
  sealWithMasterKey,
  type SealedContext,
} from './sealed.ts';
export { LAST_FOUR_MIN_LENGTH, fingerprintSecret, lastFour } from './fingerprint.ts';
