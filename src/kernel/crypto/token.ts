/**
 * Text tokens of the form `<prefix>.<label>.<base64url(blob)>`. The prefix
 * names the format version; the label names the key (master key id or data
 * key version) so a reader knows which key to fetch before decrypting.
 */

export function formatToken(prefix: string, label: string, blob: Uint8Array): string {
  const bytes = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  return `${prefix}.${label}.${bytes.toString('base64url')}`;
}

/** Returns undefined for anything that is not exactly one canonical token. */
export function parseToken(
  token: unknown,
  prefix: string,
): { label: string; blob: Buffer } | undefined {
  if (typeof token !== 'string') return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== prefix) return undefined;
  const label = parts[1];
  const encoded = parts[2];
  if (label === undefined || label === '' || encoded === undefined) return undefined;
  const blob = decodeBase64UrlStrict(encoded);
  return blob === undefined ? undefined : { label, blob };
}

/**
 * Node's decoder silently skips junk and ignores trailing bits. Refusing the
 * standard-base64 characters, checking the decoded length and requiring zero
 * unused trailing bits give each blob exactly one accepted spelling — what
 * re-encoding and comparing would check, without encoding the blob again
 * (test/crypto/hot-path.test.ts holds the two definitions equal).
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function decodeBase64UrlStrict(encoded: string): Buffer | undefined {
  const rest = encoded.length % 4;
  // Node's base64url decoder also takes '+' and '/', and skips any other junk:
  // refuse the former here, and the length check below catches the latter
  // (every skipped character shortens the output by at least one byte).
  if (encoded.length === 0 || rest === 1 || encoded.includes('+') || encoded.includes('/')) return undefined;
  if (rest !== 0) {
    // 2 trailing characters carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused bits).
    const last = ALPHABET.indexOf(encoded[encoded.length - 1]!);
    if (last < 0 || (last & (rest === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  }
  const bytes = Buffer.from(encoded, 'base64url');
  return bytes.length === Math.floor((encoded.length * 3) / 4) ? bytes : undefined;
}
