import { CryptoError } from './errors.ts';

/**
 * Associated data as a sequence of length-prefixed UTF-8 fields (4-byte
 * big-endian length, then bytes). Unlike joining with '|', no choice of field
 * values can make two different contexts encode identically.
 */
export function encodeAad(fields: readonly string[]): Buffer {
  // One allocation: AAD is built for every seal and open, so it is on the hot path.
  let size = 0;
  for (const field of fields) size += 4 + Buffer.byteLength(field, 'utf8');
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const field of fields) {
    const length = out.write(field, offset + 4, 'utf8');
    out.writeUInt32BE(length, offset);
    offset += 4 + length;
  }
  return out;
}

/** True when the string survives a UTF-8 round trip (no lone surrogates). */
export function isWellFormed(value: string): boolean {
  // No lone surrogates is exactly what survives a UTF-8 round trip (ES2024 String.prototype.isWellFormed).
  return value.isWellFormed();
}

/**
 * Context fields must be non-empty and well-formed: UTF-8 encoding replaces
 * lone surrogates with U+FFFD, which would let two distinct ids share an AAD.
 * Messages name the field, not its value.
 */
export function assertContextField(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '' || !isWellFormed(value)) {
    throw new CryptoError('ERR_CONTEXT_INVALID', `${name} must be a non-empty, well-formed string`);
  }
}

export function assertKeyVersion(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new CryptoError('ERR_CONTEXT_INVALID', `${name} must be a positive integer`);
  }
}
