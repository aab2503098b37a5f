/**
 * Text tokens of the form `<prefix>.<label>.<base64url(blob)>`. The prefix
 * names the format version; the label names the key (master key id or data
 * key version) so a reader knows which key to fetch before decrypting.
 */

const BASE64URL = /^[A-Za-z0-9_-]+$/;

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
 * Node's decoder silently skips junk and ignores trailing bits; the alphabet
 * check, the length check and zero unused trailing bits together give each
 * blob exactly one accepted spelling (what re-encoding and comparing would
 * check, without encoding the blob a second time).
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function decodeBase64UrlStrict(encoded: string): Buffer | undefined {
  const rest = encoded.length % 4;
  if (rest === 1 || !BASE64URL.test(encoded)) return undefined;
  if (rest !== 0) {
    // 2 trailing characters carry 1 byte (4 unused bits), 3 carry 2 bytes (2 unused bits).
    const unused = ALPHABET.indexOf(encoded[encoded.length - 1]!) & (rest === 2 ? 0x0f : 0x03);
    if (unused !== 0) return undefined;
  }
  return Buffer.from(encoded, 'base64url');
}
