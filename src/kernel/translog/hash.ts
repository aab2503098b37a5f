// RFC 6962 §2.1 (= RFC 9162 §2.1.1): domain-separated SHA-256 hashing.

import { createHash } from 'node:crypto';

export const HASH_SIZE = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** MTH({d}) = SHA-256(0x00 || d). */
export function leafHash(data: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** MTH(D[n]) = SHA-256(0x01 || MTH(left) || MTH(right)). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** MTH({}) = SHA-256(''), the root of the empty tree. */
export function emptyRoot(): Buffer {
  return createHash('sha256').digest();
}
