import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { creationCursor, CursorError, keysetCursor } from '../../src/kernel/pagination/keyset-cursor.ts';
import { isPgTimestamptz } from '../../src/kernel/pagination/timestamptz.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64url');
const refused = (decode: () => unknown) => {
  try {
    decode();
  } catch (err) {
    return err instanceof CursorError && err.code === 'ERR_CURSOR_INVALID';
  }
  return false;
};

describe('keyset cursor codec', () => {
  const id = randomUUID();
  const createdAt = '2025-03-04 05:06:07.123456+00';

  it('round-trips a position as versioned base64url JSON', () => {
    const cursor = creationCursor.encode({ createdAt, id });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(cursor, 'base64url').toString())).toEqual([1, createdAt, id]);
    expect(creationCursor.decode(cursor)).toEqual({ createdAt, id });
  });

  it('still reads the cursors issued before the versioned format', () => {
    expect(creationCursor.decode(b64(JSON.stringify([createdAt, id])))).toEqual({ createdAt, id });
    const leaf = keysetCursor({ leafIndex: 'index' }, { legacy: (text) => (/^a(\d+)$/.exec(text) ? [Number(text.slice(1))] : undefined) });
    expect(leaf.decode(b64('a42'))).toEqual({ leafIndex: 42 });
    expect(leaf.decode(leaf.encode({ leafIndex: 0 }))).toEqual({ leafIndex: 0 });
  });

  it('refuses anything it did not encode', () => {
    const good = creationCursor.encode({ createdAt, id });
    // The same bytes in another spelling: the last character's unused low bit set.
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const alias = good.slice(0, -1) + ALPHABET[ALPHABET.indexOf(good.at(-1)!) ^ 1];
    expect(Buffer.from(alias, 'base64url')).toEqual(Buffer.from(good, 'base64url'));
    const forged = [
      '',
      'not*base64',
      `${good}=`,
      alias,
      good.slice(0, 20),
      'A'.repeat(600),
      b64('{"a":1}'),
      b64('null'),
      b64(`[1, "${createdAt}", "${id}"]`), // whitespace: not what encode makes
      b64(JSON.stringify([2, createdAt, id])),
      b64(JSON.stringify([1, createdAt])),
      b64(JSON.stringify([1, createdAt, id, 'extra'])),
      b64(JSON.stringify([1, id, createdAt])),
      b64(JSON.stringify([1, createdAt, 'not-a-uuid'])),
      b64(JSON.stringify([1, "2020-01-01 00:00:00+00'; DROP TABLE x; --", id])),
      b64(JSON.stringify(['+275760-09-13T00:00:00Z', id])),
      b64(JSON.stringify(['2021-02-29 00:00:00+00', id])),
      Buffer.from([0x5b, 0x31, 0xff, 0x5d]).toString('base64url'), // not UTF-8
    ];
    for (const cursor of forged) expect(refused(() => creationCursor.decode(cursor)), cursor).toBe(true);
  });

  it('refuses an index cursor that is not a non-negative safe integer', () => {
    const leaf = keysetCursor({ leafIndex: 'index' });
    for (const value of ['-1', '1.5', '"7"', '9007199254740992', '1e3', '-0']) {
      expect(refused(() => leaf.decode(b64(`[1,${value}]`))), value).toBe(true);
    }
    expect(refused(() => leaf.decode(b64('a42'))), 'no legacy format unless given').toBe(true);
  });

  it('pages: the first `limit` rows and a cursor after the last, none on the last page', () => {
    const leaf = keysetCursor({ leafIndex: 'index' });
    const rows = [{ n: 9 }, { n: 8 }, { n: 7 }];
    const full = leaf.page(rows, 2, (r) => ({ leafIndex: r.n }));
    expect(full.items).toEqual([{ n: 9 }, { n: 8 }]);
    expect(leaf.decode(full.nextCursor!)).toEqual({ leafIndex: 8 });
    expect(leaf.page(rows, 3, (r) => ({ leafIndex: r.n }))).toEqual({ items: rows, nextCursor: null });
    expect(leaf.page([], 3, (r: { n: number }) => ({ leafIndex: r.n }))).toEqual({ items: [], nextCursor: null });
  });
});

describe('timestamptz as PostgreSQL prints it', () => {
  it('accepts what created_at::text looks like, in any offset PostgreSQL takes', () => {
    for (const ok of ['2025-01-31 12:00:00+00', '2024-02-29 23:59:59.999999+00', '0001-01-01 00:00:00+00', '2025-06-01 08:00:00.5+05:30', '1890-01-01 00:00:00+00:53:28', '2025-01-01 00:00:00-15:59:59']) {
      expect(isPgTimestamptz(ok), ok).toBe(true);
    }
  });

  it('refuses dates, times and offsets PostgreSQL would refuse, and other spellings', () => {
    for (const bad of ['0000-01-01 00:00:00+00', '2025-13-01 00:00:00+00', '2025-00-10 00:00:00+00', '2025-04-31 00:00:00+00', '2023-02-29 00:00:00+00',
      '1900-02-29 00:00:00+00', '2025-01-01 24:00:00+00', '2025-01-01 23:60:00+00', '2025-01-01 23:59:60+00', '2025-01-01 00:00:00+16',
      '2025-01-01 00:00:00+00:60', '2025-01-01T00:00:00Z', '2025-01-01 00:00:00', '2025-01-01 00:00:00.1234567+00', ' 2025-01-01 00:00:00+00']) {
      expect(isPgTimestamptz(bad), bad).toBe(false);
    }
  });
});
