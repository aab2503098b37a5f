/**
 * Text tokens of the form `<prefix>.<label>.<base64url(blob)>`. The prefix
 * names the format version; the label names the key (master key id or data
 * key version) so a reader knows which key to fetch before decrypting.
 */

const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function formatToken(prefix: string, label: string, blob: Uint8Array): string {
  return `${prefix}.${label}.${Buffer.from(blob).toString('base64url')}`;
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
 * Node's decoder silently skips junk and ignores trailing bits; re-encoding and
 * comparing makes each blob have exactly one accepted spelling.
 */
function decodeBase64UrlStrict(encoded: string): Buffer | undefined {
  if (!BASE64URL.test(encoded)) return undefined;
  const bytes = Buffer.from(encoded, 'base64url');
  return bytes.toString('base64url') === encoded ? bytes : undefined;
}
