// RFC 6962 §2.1 / RFC 9162 §2.1 Merkle tree over a store of complete subtrees.
//
// Storage model: the log keeps only hashes of COMPLETE (perfect) subtrees.
// Node (level l, index i) is the hash of leaves [i·2^l, (i+1)·2^l); level 0
// holds the leaf hashes. A stored node never changes once written, so every
// append is a pure INSERT. Any subtree hash the RFC algorithms need — including
// the incomplete subtrees on the right edge of a tree — is folded from at most
// log2(n) complete nodes, so roots and proofs cost O(log n) reads.

import { HASH_SIZE, emptyRoot, nodeHash } from './hash.ts';
import { TranslogError } from './errors.ts';

export interface NodeKey {
  readonly level: number;
  readonly index: number;
}

export type HashedNode = NodeKey & { hash: Buffer };

/** Returns the hashes of the given complete nodes, in the order asked. */
export interface NodeReader {
  getNodes(keys: readonly NodeKey[]): Promise<Buffer[]>;
}

export interface AppendResult {
  /** Every node that became complete: the new leaves and their new ancestors. */
  nodes: HashedNode[];
  /** MTH of the tree after the append. */
  root: Buffer;
  size: number;
}

/** A half-open leaf range [start, end) whose MTH a proof needs. */
interface LeafRange {
  readonly start: number;
  readonly end: number;
}

function assertSize(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TranslogError('ERR_TRANSLOG_INVALID_ARGUMENT', `${name} must be a non-negative safe integer`);
  }
}

function assertHash(hash: Uint8Array, name: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw new TranslogError('ERR_TRANSLOG_INVALID_ARGUMENT', `${name} must be a ${HASH_SIZE}-byte hash`);
  }
}

function nodeId(level: number, index: number): string {
  return `${level}/${index}`;
}

/** Number of complete nodes at `level` in a tree of `size` leaves (size >> level). */
function widthAt(size: number, level: number): number {
  return Math.floor(size / 2 ** level);
}

/** The k of RFC 6962 §2.1: the largest power of two smaller than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The complete subtrees that make up [start, end), largest first. `start` must
 * be aligned to the smallest power of two >= end - start, which every range the
 * RFC recursion produces is.
 */
export function perfectSubtrees(start: number, end: number): NodeKey[] {
  const keys: NodeKey[] = [];
  let remaining = end - start;
  let position = start;
  let level = 0;
  while (2 ** (level + 1) <= remaining) level++;
  for (; remaining > 0; level--) {
    const width = 2 ** level;
    if (remaining < width) continue;
    if (position % width !== 0) {
      throw new TranslogError('ERR_TRANSLOG_INVALID_ARGUMENT', `range [${start}, ${end}) is not aligned`);
    }
    keys.push({ level, index: position / width });
    position += width;
    remaining -= width;
  }
  return keys;
}

/** MTH of consecutive subtrees, largest first: H(s0, H(s1, H(s2, …))). */
function foldSubtrees(hashes: readonly Buffer[]): Buffer {
  let acc = hashes[hashes.length - 1];
  if (acc === undefined) return emptyRoot();
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i] as Buffer, acc);
  return acc;
}

async function readNodes(reader: NodeReader, keys: readonly NodeKey[]): Promise<Buffer[]> {
  if (keys.length === 0) return [];
  const hashes = await reader.getNodes(keys);
  if (hashes.length !== keys.length || hashes.some((h) => !(h instanceof Uint8Array) || h.length !== HASH_SIZE)) {
    throw new TranslogError('ERR_TRANSLOG_NODE_MISSING', 'node reader returned the wrong number or size of hashes');
  }
  return hashes;
}

/** MTH of each range, from ONE batched read of their complete subtrees. */
async function hashRanges(reader: NodeReader, ranges: readonly LeafRange[]): Promise<Buffer[]> {
  const parts = ranges.map((r) => perfectSubtrees(r.start, r.end));
  const hashes = await readNodes(reader, parts.flat());
  let offset = 0;
  return parts.map((keys) => {
    const slice = hashes.slice(offset, offset + keys.length);
    offset += keys.length;
    return foldSubtrees(slice);
  });
}

/**
 * Appends a batch of leaf hashes to a tree of `oldSize` leaves. Returns every
 * node that becomes complete (level 0 included) so the caller can INSERT them
 * in one transaction. Reads only the old right-edge subtrees it builds on.
 */
export async function appendLeaves(
  reader: NodeReader,
  oldSize: number,
  leafHashes: readonly Uint8Array[],
): Promise<AppendResult> {
  assertSize(oldSize, 'oldSize');
  leafHashes.forEach((h, i) => assertHash(h, `leafHashes[${i}]`));
  const size = oldSize + leafHashes.length;
  assertSize(size, 'new size');
  if (leafHashes.length === 0) return { nodes: [], root: await rootAt(reader, oldSize), size };

  // Old nodes we need: left siblings on the old right edge that gain a parent,
  // and old subtrees that stay peaks of the new tree (for the root).
  const peaks = perfectSubtrees(0, size);
  const existingKeys: NodeKey[] = [];
  for (let level = 0; 2 ** level <= oldSize; level++) {
    const firstNew = widthAt(oldSize, level);
    if (firstNew % 2 === 1 && widthAt(size, level + 1) > widthAt(oldSize, level + 1)) {
      existingKeys.push({ level, index: firstNew - 1 });
    }
  }
  for (const peak of peaks) {
    if (peak.index < widthAt(oldSize, peak.level)) existingKeys.push(peak);
  }
  const existingHashes = await readNodes(reader, existingKeys);
  const known = new Map<string, Buffer>();
  existingKeys.forEach((k, i) => known.set(nodeId(k.level, k.index), existingHashes[i] as Buffer));

  const nodes: HashedNode[] = [];
  let level = 0;
  let first = oldSize;
  let row: Buffer[] = leafHashes.map((h) => Buffer.from(h));
  row.forEach((hash, i) => nodes.push({ level: 0, index: oldSize + i, hash }));
  for (;;) {
    const parentFirst = Math.floor(first / 2);
    const parentEnd = Math.floor((first + row.length) / 2);
    if (parentEnd <= parentFirst) break;
    const parents: Buffer[] = [];
    for (let j = parentFirst; j < parentEnd; j++) {
      const left = 2 * j >= first ? row[2 * j - first] : known.get(nodeId(level, 2 * j));
      const right = row[2 * j + 1 - first];
      if (left === undefined || right === undefined) {
        throw new TranslogError('ERR_TRANSLOG_NODE_MISSING', `missing child of node ${nodeId(level + 1, j)}`);
      }
      const hash = nodeHash(left, right);
      parents.push(hash);
      nodes.push({ level: level + 1, index: j, hash });
    }
    level++;
    first = parentFirst;
    row = parents;
  }

  for (const node of nodes) known.set(nodeId(node.level, node.index), node.hash);
  const root = foldSubtrees(peaks.map((p) => known.get(nodeId(p.level, p.index)) as Buffer));
  return { nodes, root, size };
}

/** MTH(D[size]) (RFC 6962 §2.1) from the peaks of the tree: popcount(size) reads. */
export async function rootAt(reader: NodeReader, size: number): Promise<Buffer> {
  assertSize(size, 'size');
  if (size === 0) return emptyRoot();
  const [root] = await hashRanges(reader, [{ start: 0, end: size }]);
  return root as Buffer;
}

// RFC 9162 §2.1.3.1: PATH(m, D[n]), as leaf ranges, deepest sibling first.
function inclusionRanges(m: number, start: number, end: number): LeafRange[] {
  const n = end - start;
  if (n <= 1) return [];
  const k = splitPoint(n);
  if (m < k) return [...inclusionRanges(m, start, start + k), { start: start + k, end }];
  return [...inclusionRanges(m - k, start + k, end), { start, end: start + k }];
}

// RFC 9162 §2.1.4.1: SUBPROOF(m, D[n], b), as leaf ranges.
function consistencyRanges(m: number, start: number, end: number, isOldTree: boolean): LeafRange[] {
  const n = end - start;
  if (m === n) return isOldTree ? [] : [{ start, end }];
  const k = splitPoint(n);
  if (m <= k) return [...consistencyRanges(m, start, start + k, isOldTree), { start: start + k, end }];
  return [...consistencyRanges(m - k, start + k, end, false), { start, end: start + k }];
}

/** Inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1). */
export async function inclusionProof(reader: NodeReader, index: number, size: number): Promise<Buffer[]> {
  assertSize(index, 'index');
  assertSize(size, 'size');
  if (index >= size) throw new TranslogError('ERR_TRANSLOG_INVALID_ARGUMENT', `index ${index} >= size ${size}`);
  return hashRanges(reader, inclusionRanges(index, 0, size));
}

/** Consistency proof from `oldSize` to `newSize` (RFC 9162 §2.1.4.1); oldSize must be > 0. */
export async function consistencyProof(reader: NodeReader, oldSize: number, newSize: number): Promise<Buffer[]> {
  assertSize(oldSize, 'oldSize');
  assertSize(newSize, 'newSize');
  if (oldSize === 0 || oldSize > newSize) {
    throw new TranslogError('ERR_TRANSLOG_INVALID_ARGUMENT', `no consistency proof from size ${oldSize} to ${newSize}`);
  }
  return hashRanges(reader, consistencyRanges(oldSize, 0, newSize, true));
}

/** Straightforward recursive MTH (RFC 6962 §2.1), for cross-checking. */
export function rootFromLeaves(leafHashes: readonly Uint8Array[]): Buffer {
  if (leafHashes.length === 0) return emptyRoot();
  const mth = (start: number, end: number): Buffer => {
    if (end - start === 1) return Buffer.from(leafHashes[start] as Uint8Array);
    const k = splitPoint(end - start);
    return nodeHash(mth(start, start + k), mth(start + k, end));
  };
  return mth(0, leafHashes.length);
}

/** In-memory NodeReader for tests and offline verification; nodes are write-once. */
export class MemoryNodeStore implements NodeReader {
  readonly #nodes = new Map<string, Buffer>();

  get nodeCount(): number {
    return this.#nodes.size;
  }

  put(nodes: Iterable<HashedNode>): void {
    for (const { level, index, hash } of nodes) {
      assertSize(level, 'level');
      assertSize(index, 'index');
      assertHash(hash, 'hash');
      const id = nodeId(level, index);
      const existing = this.#nodes.get(id);
      if (existing !== undefined && !existing.equals(hash)) {
        throw new TranslogError('ERR_TRANSLOG_NODE_CONFLICT', `node ${id} already holds a different hash`);
      }
      this.#nodes.set(id, Buffer.from(hash));
    }
  }

  async getNodes(keys: readonly NodeKey[]): Promise<Buffer[]> {
    return keys.map(({ level, index }) => {
      const hash = this.#nodes.get(nodeId(level, index));
      if (hash === undefined) throw new TranslogError('ERR_TRANSLOG_NODE_MISSING', `node ${nodeId(level, index)} not found`);
      return hash;
    });
  }
}
