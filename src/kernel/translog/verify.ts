// RFC 9162 §2.1.3.2 and §2.1.4.2: verifying inclusion and consistency proofs.
// Every failure throws TranslogError('ERR_TRANSLOG_PROOF_INVALID').
//
// Sizes are JavaScript numbers (safe integers), so the RFC's bit operations are
// written as arithmetic: LSB(x) is x % 2 === 1 and x >>= 1 is floor(x / 2).

import { HASH_SIZE, nodeHash } from './hash.ts';
import { TranslogError } from './errors.ts';

function invalid(message: string): TranslogError {
  return new TranslogError('ERR_TRANSLOG_PROOF_INVALID', message);
}

function isSize(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

function assertProofHashes(proof: readonly Uint8Array[]): void {
  if (!Array.isArray(proof)) throw invalid('proof must be an array of hashes');
  if (!proof.every(isHash)) throw invalid(`every proof element must be a ${HASH_SIZE}-byte hash`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) return false;
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

const lsb = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);

/** The root that `proof` proves `leafHash` at `index` into, for a tree of `size` (RFC 9162 §2.1.3.2). */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Buffer {
  if (!isSize(index) || !isSize(size)) throw invalid('index and size must be non-negative safe integers');
  if (index >= size) throw invalid(`index ${index} is not below size ${size}`);
  if (!isHash(leafHash)) throw invalid(`leaf hash must be ${HASH_SIZE} bytes`);
  assertProofHashes(proof);

  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0) throw invalid('proof is too long');
    if (lsb(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!lsb(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw invalid('proof is too short');
  return r;
}

/** Throws unless `proof` shows `leafHash` is leaf `index` of the tree of `size` with `root`. */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const computed = rootFromInclusionProof(leafHash, index, size, proof);
  if (!sameBytes(computed, root)) throw invalid('inclusion proof does not lead to the root');
}

/**
 * Throws unless `proof` shows the tree of `oldSize` with `oldRoot` is a prefix of
 * the tree of `newSize` with `newRoot` (RFC 9162 §2.1.4.2). A proof from size 0
 * is always rejected: it proves nothing.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): void {
  if (!isSize(oldSize) || !isSize(newSize)) throw invalid('sizes must be non-negative safe integers');
  if (oldSize === 0) throw invalid('consistency from size 0 proves nothing');
  if (oldSize > newSize) throw invalid(`old size ${oldSize} exceeds new size ${newSize}`);
  if (!Array.isArray(proof)) throw invalid('proof must be an array of hashes');
  if (oldSize === newSize) {
    if (proof.length !== 0) throw invalid('proof between equal sizes must be empty');
    if (!sameBytes(oldRoot, newRoot)) throw invalid('roots of equal sizes differ');
    return;
  }
  if (proof.length === 0) throw invalid('proof is empty');

  // If oldSize is a power of two, the old root itself starts the path.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  assertProofHashes(path);

  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (lsb(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) throw invalid('proof is too long');
    if (lsb(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!lsb(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw invalid('proof is too short');
  if (!sameBytes(fr, oldRoot)) throw invalid('consistency proof does not lead to the old root');
  if (!sameBytes(sr, newRoot)) throw invalid('consistency proof does not lead to the new root');
}

function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}
