// tree.ts against verify.ts and the naive MTH: properties, storage shape and read cost.

import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  MemoryNodeStore,
  TranslogError,
  appendLeaves,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootAt,
  rootFromLeaves,
  verifyConsistency,
  verifyInclusion,
  type NodeKey,
  type NodeReader,
} from '../../src/kernel/translog/index.ts';

const leafFor = (i: number): Buffer => leafHash(Buffer.from(`leaf ${i}`));

function flipBit(proof: readonly Buffer[], element: number, bit: number): Buffer[] {
  return proof.map((hash, i) => {
    if (i !== element) return hash;
    const copy = Buffer.from(hash);
    copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
    return copy;
  });
}

/** Appends `leaves` in the given batch sizes; checks every intermediate root. */
async function buildStore(leaves: readonly Buffer[], batches: readonly number[]): Promise<MemoryNodeStore> {
  const store = new MemoryNodeStore();
  let size = 0;
  for (const batch of batches) {
    const result = await appendLeaves(store, size, leaves.slice(size, size + batch));
    store.put(result.nodes);
    size += batch;
    expect(result.size).toBe(size);
    expect(result.root.equals(rootFromLeaves(leaves.slice(0, size)))).toBe(true);
  }
  return store;
}

/** Number of complete subtrees in a tree of n leaves: Σ floor(n / 2^l). */
function completeNodeCount(n: number): number {
  let total = 0;
  for (let width = 1; width <= n; width *= 2) total += Math.floor(n / width);
  return total;
}

function popcount(n: number): number {
  let bits = 0;
  for (; n > 0; n = Math.floor(n / 2)) bits += n % 2;
  return bits;
}

const batchesArb = fc.array(fc.integer({ min: 1, max: 24 }), { minLength: 1, maxLength: 14 });

describe('appendLeaves', () => {
  it('stores exactly the complete subtrees, each once, whatever the batch split', async () => {
    await fc.assert(
      fc.asyncProperty(batchesArb, async (batches) => {
        const n = batches.reduce((a, b) => a + b, 0);
        const leaves = Array.from({ length: n }, (_, i) => leafFor(i));
        const store = await buildStore(leaves, batches);
        expect(store.nodeCount).toBe(completeNodeCount(n));
        expect((await rootAt(store, n)).equals(rootFromLeaves(leaves))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('an empty batch changes nothing', async () => {
    const leaves = Array.from({ length: 5 }, (_, i) => leafFor(i));
    const store = await buildStore(leaves, [5]);
    const result = await appendLeaves(store, 5, []);
    expect(result.nodes).toEqual([]);
    expect(result.size).toBe(5);
    expect(result.root.equals(rootFromLeaves(leaves))).toBe(true);
  });

  it('rejects leaf hashes that are not 32 bytes and bad sizes', async () => {
    const store = new MemoryNodeStore();
    await expect(appendLeaves(store, 0, [Buffer.alloc(31)])).rejects.toThrow(TranslogError);
    await expect(appendLeaves(store, -1, [leafFor(0)])).rejects.toThrow(TranslogError);
  });

  it('fails when the store lacks the old right edge', async () => {
    await expect(appendLeaves(new MemoryNodeStore(), 3, [leafFor(3)])).rejects.toMatchObject({
      code: 'ERR_TRANSLOG_NODE_MISSING',
    });
  });

  it('MemoryNodeStore refuses to overwrite a node with a different hash', () => {
    const store = new MemoryNodeStore();
    store.put([{ level: 0, index: 0, hash: leafFor(0) }]);
    store.put([{ level: 0, index: 0, hash: leafFor(0) }]);
    expect(() => store.put([{ level: 0, index: 0, hash: leafFor(1) }])).toThrow(
      expect.objectContaining({ code: 'ERR_TRANSLOG_NODE_CONFLICT' }),
    );
  });
});

describe('proofs from tree.ts verify with verify.ts', () => {
  const scenario = batchesArb.chain((batches) => {
    const n = batches.reduce((a, b) => a + b, 0);
    return fc.record({
      batches: fc.constant(batches),
      // a second size for cross-checks and a random element/bit to flip
      other: fc.integer({ min: 1, max: n + 5 }),
      bit: fc.integer({ min: 0, max: 255 }),
      pick: fc.nat(),
    });
  });

  it('every inclusion proof verifies; bit flips and other sizes fail', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ batches, other, bit, pick }) => {
        const n = batches.reduce((a, b) => a + b, 0);
        const leaves = Array.from({ length: n }, (_, i) => leafFor(i));
        const store = await buildStore(leaves, batches);
        const roots = Array.from({ length: n + 1 }, (_, size) => rootFromLeaves(leaves.slice(0, size)));
        const root = roots[n] as Buffer;
        const otherSize = Math.min(other, n);

        for (let index = 0; index < n; index++) {
          const leaf = leaves[index] as Buffer;
          const proof = await inclusionProof(store, index, n);
          verifyInclusion(leaf, index, n, proof, root);

          if (proof.length > 0) {
            const tampered = flipBit(proof, pick % proof.length, bit);
            expect(() => verifyInclusion(leaf, index, n, tampered, root)).toThrow(TranslogError);
          }
          if (otherSize !== n && index < otherSize) {
            expect(() => verifyInclusion(leaf, index, otherSize, proof, roots[otherSize] as Buffer)).toThrow(
              TranslogError,
            );
          }
          expect(() => verifyInclusion(leafFor(n + 1), index, n, proof, root)).toThrow(TranslogError);
        }
        // And at an older size, from the same (larger) store.
        for (let index = 0; index < otherSize; index++) {
          const proof = await inclusionProof(store, index, otherSize);
          verifyInclusion(leaves[index] as Buffer, index, otherSize, proof, roots[otherSize] as Buffer);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('every consistency proof verifies; bit flips and other sizes fail', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ batches, other, bit, pick }) => {
        const n = batches.reduce((a, b) => a + b, 0);
        const leaves = Array.from({ length: n }, (_, i) => leafFor(i));
        const store = await buildStore(leaves, batches);
        const roots = Array.from({ length: n + 1 }, (_, size) => rootFromLeaves(leaves.slice(0, size)));
        const newSize = Math.min(other, n);

        for (let oldSize = 1; oldSize <= newSize; oldSize++) {
          const oldRoot = roots[oldSize] as Buffer;
          const newRoot = roots[newSize] as Buffer;
          const proof = await consistencyProof(store, oldSize, newSize);
          verifyConsistency(oldSize, newSize, proof, oldRoot, newRoot);
          if (proof.length === 0) {
            expect(oldSize).toBe(newSize);
            continue;
          }
          const tampered = flipBit(proof, pick % proof.length, bit);
          expect(() => verifyConsistency(oldSize, newSize, tampered, oldRoot, newRoot)).toThrow(TranslogError);
          // The same proof claimed for a neighbouring old size or new size.
          for (const wrongOld of [oldSize - 1, oldSize + 1]) {
            if (wrongOld < 1 || wrongOld > newSize) continue;
            expect(() =>
              verifyConsistency(wrongOld, newSize, proof, roots[wrongOld] as Buffer, newRoot),
            ).toThrow(TranslogError);
          }
          for (const wrongNew of [newSize - 1, newSize + 1]) {
            if (wrongNew < oldSize || wrongNew > n) continue;
            expect(() =>
              verifyConsistency(oldSize, wrongNew, proof, oldRoot, roots[wrongNew] as Buffer),
            ).toThrow(TranslogError);
          }
          expect(() => verifyConsistency(oldSize, newSize, proof, newRoot, oldRoot)).toThrow(TranslogError);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('refuses impossible requests', async () => {
    const store = await buildStore(
      Array.from({ length: 4 }, (_, i) => leafFor(i)),
      [4],
    );
    await expect(inclusionProof(store, 4, 4)).rejects.toThrow(TranslogError);
    await expect(consistencyProof(store, 0, 4)).rejects.toThrow(TranslogError);
    await expect(consistencyProof(store, 3, 2)).rejects.toThrow(TranslogError);
    await expect(inclusionProof(store, 0, 5)).rejects.toMatchObject({ code: 'ERR_TRANSLOG_NODE_MISSING' });
  });
});

/** Counts reads. Its hashes are those of a tree whose every leaf is `leaf`,
 * so it is a consistent tree of any size and proofs from it verify. */
class UniformTreeReader implements NodeReader {
  calls = 0;
  keysRead = 0;
  readonly #byLevel: Buffer[];

  constructor(leaf: Buffer) {
    this.#byLevel = [leaf];
    for (let level = 1; level <= 60; level++) {
      const child = this.#byLevel[level - 1] as Buffer;
      this.#byLevel.push(nodeHash(child, child));
    }
  }

  reset(): void {
    this.calls = 0;
    this.keysRead = 0;
  }

  async getNodes(keys: readonly NodeKey[]): Promise<Buffer[]> {
    this.calls++;
    this.keysRead += keys.length;
    return keys.map(({ level }) => this.#byLevel[level] as Buffer);
  }
}

describe('read cost is O(log n)', () => {
  const leaf = leafFor(0);

  for (const n of [1_000_000, 2 ** 20, 2 ** 20 + 1, 2 ** 40 + 12_345]) {
    const bound = 2 * Math.ceil(Math.log2(n)) + 2;

    it(`size ${n}: one getNodes call of ≤ ${bound} keys per proof, and the proofs verify`, async () => {
      const reader = new UniformTreeReader(leaf);
      const root = await rootAt(reader, n);
      expect(reader.calls).toBe(1);
      expect(reader.keysRead).toBeLessThanOrEqual(Math.ceil(Math.log2(n)) + 1);

      const indexes = [0, 1, n - 2, n - 1, Math.floor(n / 2), Math.floor(n / 3), 2 ** 19 - 1];
      for (const index of indexes) {
        reader.reset();
        const proof = await inclusionProof(reader, index, n);
        expect(reader.calls).toBe(1);
        expect(reader.keysRead).toBeLessThanOrEqual(bound);
        verifyInclusion(leaf, index, n, proof, root);
      }

      for (const oldSize of [1, 2, 3, 7, 2 ** 19, 2 ** 19 + 1, Math.floor(n / 3), n - 1]) {
        reader.reset();
        const proof = await consistencyProof(reader, oldSize, n);
        expect(reader.calls).toBe(1);
        expect(reader.keysRead).toBeLessThanOrEqual(bound);
        verifyConsistency(oldSize, n, proof, await rootAt(reader, oldSize), root);
      }
    });
  }

  // The old tree's peaks are all an append can need: ≤ popcount(n) ≤ log2(n) + 1 reads.
  for (const batchSize of [1, 100, 4096, 50_000]) {
    it(`appendLeaves of ${batchSize} at size 1,000,000 reads at most the old peaks, in one call`, async () => {
      const reader = new UniformTreeReader(leaf);
      const n = 1_000_000;
      const batch = Array.from({ length: batchSize }, () => leaf);
      const { nodes, root, size } = await appendLeaves(reader, n, batch);
      expect(reader.calls).toBe(1);
      expect(reader.keysRead).toBeLessThanOrEqual(popcount(n));
      expect(size).toBe(n + batchSize);
      expect(nodes.length).toBe(completeNodeCount(n + batchSize) - completeNodeCount(n));
      expect(root.equals(await rootAt(reader, n + batchSize))).toBe(true);
    });
  }

  it('an empty tree needs no reads', async () => {
    const reader = new UniformTreeReader(leaf);
    expect((await rootAt(reader, 0)).toString('hex')).toBe(createHash('sha256').digest('hex'));
    expect(reader.calls).toBe(0);
  });
});
