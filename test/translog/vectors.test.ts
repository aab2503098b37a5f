// Conformance: transparency-dev/merkle test vectors for RFC 6962 / RFC 9162.

import { describe, it, expect } from 'vitest';
import {
  MemoryNodeStore,
  TranslogError,
  appendLeaves,
  leafHash,
  rootAt,
  rootFromLeaves,
  verifyConsistency,
  verifyInclusion,
} from '../../src/kernel/translog/index.ts';
import { listVectors, readVector } from '../vectors.ts';

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface TreeRoots {
  leafInputsHex: string[];
  rootHashHexBySize: string[];
}

const b64 = (text: string): Buffer => Buffer.from(text, 'base64');
const proofOf = (proof: string[] | null): Buffer[] => (proof ?? []).map(b64);

const inclusionFiles = listVectors('rfc6962/testdata/inclusion');
const consistencyFiles = listVectors('rfc6962/testdata/consistency');

describe('RFC 6962 inclusion vectors', () => {
  it('finds the vector files', () => {
    expect(inclusionFiles.length).toBeGreaterThan(0);
    expect(inclusionFiles.some((f) => readVector<InclusionVector>(f).wantErr === false)).toBe(true);
  });

  it.each(inclusionFiles)('%s', (file) => {
    const v = readVector<InclusionVector>(file);
    const check = () => verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, proofOf(v.proof), b64(v.root));
    if (v.wantErr) expect(check, v.desc).toThrow(TranslogError);
    else expect(check, v.desc).not.toThrow();
  });
});

describe('RFC 6962 consistency vectors', () => {
  it('finds the vector files', () => {
    expect(consistencyFiles.length).toBeGreaterThan(0);
    expect(consistencyFiles.some((f) => readVector<ConsistencyVector>(f).wantErr === false)).toBe(true);
  });

  it.each(consistencyFiles)('%s', (file) => {
    const v = readVector<ConsistencyVector>(file);
    const check = () => verifyConsistency(v.size1, v.size2, proofOf(v.proof), b64(v.root1), b64(v.root2));
    if (v.wantErr) expect(check, v.desc).toThrow(TranslogError);
    else expect(check, v.desc).not.toThrow();
  });
});

describe('RFC 6962 reference tree roots', () => {
  const vector = readVector<TreeRoots>('rfc6962/tree-roots.json');
  const leaves = vector.leafInputsHex.map((hex) => leafHash(Buffer.from(hex, 'hex')));
  const sizes = vector.rootHashHexBySize.map((_, size) => size);

  it('covers sizes 0..8', () => {
    expect(sizes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it.each(sizes)('rootFromLeaves matches at size %i', (size) => {
    expect(rootFromLeaves(leaves.slice(0, size)).toString('hex')).toBe(vector.rootHashHexBySize[size]);
  });

  it.each(sizes)('rootAt after one-by-one appends matches at size %i', async (size) => {
    const store = new MemoryNodeStore();
    for (let i = 0; i < size; i++) {
      const { nodes, root } = await appendLeaves(store, i, [leaves[i] as Buffer]);
      store.put(nodes);
      expect(root.toString('hex')).toBe(vector.rootHashHexBySize[i + 1]);
    }
    expect((await rootAt(store, size)).toString('hex')).toBe(vector.rootHashHexBySize[size]);
  });

  it('rootAt for every size after one batch append of all leaves', async () => {
    const store = new MemoryNodeStore();
    const { nodes, root } = await appendLeaves(store, 0, leaves);
    store.put(nodes);
    expect(root.toString('hex')).toBe(vector.rootHashHexBySize[leaves.length]);
    for (const size of sizes) {
      expect((await rootAt(store, size)).toString('hex')).toBe(vector.rootHashHexBySize[size]);
    }
  });
});
