import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeAad, isWellFormed } from '../../src/kernel/crypto/aad.ts';
import { formatToken, parseToken } from '../../src/kernel/crypto/token.ts';

/**
 * The seal/open hot path was made cheaper (one allocation for the AAD, no
 * second encoding to check a blob is canonical, the built-in well-formedness
 * check). These properties pin each shortcut to the slow definition it replaced.
 */
const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('');

describe('hot-path shortcuts equal their definitions', () => {
  it('a blob is accepted exactly when re-encoding its decoding gives the same text', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet, '=', '+', '/', '.', ' ', '!', '\n', '\u00e9'), { maxLength: 40 }).map((cs) => cs.join('')), (encoded) => {
        const canonical = /^[A-Za-z0-9_-]+$/.test(encoded) && Buffer.from(encoded, 'base64url').toString('base64url') === encoded;
        expect(parseToken(`osv1.1.${encoded}`, 'osv1') !== undefined).toBe(canonical);
      }),
      { numRuns: 3000 },
    );
  });

  it('every encoding of random bytes parses back to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }).filter((b) => b.length > 0), (bytes) => {
        const parsed = parseToken(formatToken('osv1', '7', bytes), 'osv1');
        expect(parsed?.label).toBe('7');
        expect(parsed?.blob.equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  it('the AAD is the length-prefixed concatenation of its UTF-8 fields', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 30 }), { maxLength: 8 }), (fields) => {
        const slow = Buffer.concat(fields.flatMap((f) => {
          const bytes = Buffer.from(f, 'utf8');
          const length = Buffer.alloc(4);
          length.writeUInt32BE(bytes.length);
          return [length, bytes];
        }));
        expect(encodeAad(fields).equals(slow)).toBe(true);
      }),
    );
  });

  it('well-formed means surviving a UTF-8 round trip', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('', '\uD800', '\uDC00', '\uD83D\uDE00'), (s, extra) => {
        const value = s + extra;
        expect(isWellFormed(value)).toBe(Buffer.from(value, 'utf8').toString('utf8') === value);
      }),
      { numRuns: 300 },
    );
  });
});
