import { hash } from 'node:crypto';

/** SHA-256's block size in bytes (FIPS 180-4 §1). */
const BLOCK = 64;
const IPAD = 0x36;
const OPAD = 0x5c;

const bytes = (part: string | Uint8Array) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : part);

/**
 * HMAC-SHA-256 as RFC 2104 §2 defines it, H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)),
 * over Node's one-shot `crypto.hash`. The bytes are `createHmac('sha256', key)`'s;
 * the reason is speed: on Node 24 (OpenSSL 3) createHmac fetches the algorithm
 * from the provider on every call and costs four to five times as much, and
 * webhook signing and verification run once per message.
 * `parts` are concatenated; strings are UTF-8.
 */
export function hmacSha256(key: Uint8Array, ...parts: readonly (string | Uint8Array)[]): Buffer {
  // RFC 2104 §2: a key longer than the block is hashed first; a shorter one is zero-padded.
  const k = key.length > BLOCK ? (hash('sha256', key, 'buffer') as Buffer) : key;
  const inner = Buffer.alloc(BLOCK, IPAD);
  const outer = Buffer.alloc(BLOCK, OPAD);
  for (let i = 0; i < k.length; i++) {
    inner[i]! ^= k[i]!;
    outer[i]! ^= k[i]!;
  }
  const innerHash = hash('sha256', Buffer.concat([inner, ...parts.map(bytes)]), 'buffer') as Buffer;
  inner.fill(0);
  const mac = hash('sha256', Buffer.concat([outer, innerHash]), 'buffer') as Buffer;
  outer.fill(0);
  return mac;
}
