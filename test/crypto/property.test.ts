import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateDataKey, openValue, sealValue, unwrapDataKey, wrapDataKey } from '../../src/kernel/crypto/index.ts';
import { cellContext, newKeyring } from './fixtures.ts';

describe('properties', () => {
  const dataKey = generateDataKey();

  it('seal/open round-trips arbitrary Unicode strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ minLength: 1, maxLength: 40 }), (plaintext, rowId) => {
        const ctx = cellContext({ rowId });
        expect(openValue(dataKey, ctx, sealValue(dataKey, ctx, plaintext)).toString('utf8')).toBe(plaintext);
      }),
      { numRuns: 300 },
    );
  });

  it('seal/open round-trips arbitrary binary', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (plaintext) => {
        const ctx = cellContext();
        expect(openValue(dataKey, ctx, sealValue(dataKey, ctx, plaintext)).equals(Buffer.from(plaintext))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('a value sealed for one cell never opens in a different cell', () => {
    const field = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(fc.tuple(field, field, field, field), fc.tuple(field, field, field, field), ([t1, a1, c1, r1], [t2, a2, c2, r2]) => {
        fc.pre(t1 !== t2 || a1 !== a2 || c1 !== c2 || r1 !== r2);
        const token = sealValue(dataKey, cellContext({ tenantId: t1, table: a1, column: c1, rowId: r1 }), 'v');
        expect(() => openValue(dataKey, cellContext({ tenantId: t2, table: a2, column: c2, rowId: r2 }), token)).toThrow();
      }),
      { numRuns: 200 },
    );
  });

  it('wrap/unwrap round-trips for arbitrary tenants and versions', () => {
    const keyring = newKeyring(['p1', 'p2']);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 2 ** 31 }), (tenantId, version) => {
        const key = generateDataKey();
        const ctx = { tenantId, version };
        expect(unwrapDataKey(keyring, ctx, wrapDataKey(keyring, ctx, key)).equals(key)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
