import { isUuid } from '../ids.ts';
import { isPgTimestamptz } from './timestamptz.ts';

/**
 * A cursor this API did not issue: garbled, forged, cut short, or made for a
 * list of another shape. The HTTP layer answers it with a 400 problem; none of
 * it reaches a query.
 */
export class CursorError extends Error {
  readonly code = 'ERR_CURSOR_INVALID';
}

/** The kinds of value a keyset position is made of, each checked on decode. */
const PARTS = {
  /** PostgreSQL's own text (`created_at::text`): a JS Date would drop the microseconds and skip or repeat rows. */
  timestamptz: isPgTimestamptz,
  uuid: isUuid,
  /** A non-negative integer, e.g. a leaf index. */
  index: (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0,
};

export type CursorPart = keyof typeof PARTS;
type ValueOf<P extends CursorPart> = (typeof PARTS)[P] extends (value: unknown) => value is infer T ? T : never;
export type Position<S extends Record<string, CursorPart>> = { [K in keyof S]: ValueOf<S[K]> };

/** First in every cursor, so a later format can tell this one apart (and read or refuse it). */
const VERSION = 1;
/** Far above any cursor made here; a longer one is refused before it is decoded. */
const MAX_LENGTH = 512;

export interface KeysetCursor<T> {
  encode(position: T): string;
  /** The position, or a CursorError for anything `encode` did not make. */
  decode(cursor: string): T;
  /** The first `limit` of the `limit + 1` rows fetched, and the cursor after the last of them (null on the last page). */
  page<R>(rows: readonly R[], limit: number, positionOf: (row: R) => T): { items: R[]; nextCursor: string | null };
}

export interface KeysetCursorOptions {
  /**
   * Reads the decoded text of a cursor from before the versioned format, so a
   * client paging across the upgrade is not refused; returns the parts in the
   * shape's order (checked like any others), or undefined if it is not one.
   */
  legacy?: (text: string) => unknown[] | undefined;
}

const invalid = () => new CursorError('The cursor is not one this API returned.');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The text a cursor carries: only canonical base64url of UTF-8, which is what `encode` makes, passes. */
function textOf(cursor: string): string {
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (Buffer.from(text).toString('base64url') !== cursor) throw invalid();
  return text;
}

/**
 * The keyset-cursor codec of every list: base64url of the JSON array
 * `[VERSION, ...parts]`, opaque to clients. Decoding is strict (canonical
 * base64url and JSON, the version, the number of parts and each part's kind),
 * so what a query binds is always a value of its column's type.
 */
export function keysetCursor<const S extends Record<string, CursorPart>>(shape: S, options: KeysetCursorOptions = {}): KeysetCursor<Position<S>> {
  const names = Object.keys(shape);
  const checks = names.map((name) => PARTS[shape[name]!] as (value: unknown) => boolean);
  const encode = (position: Position<S>) => Buffer.from(JSON.stringify([VERSION, ...names.map((name) => position[name])])).toString('base64url');
  const decode = (cursor: string): Position<S> => {
    const text = textOf(cursor);
    const value = parseJson(text);
    const parts = Array.isArray(value) && value[0] === VERSION
      ? (JSON.stringify(value) === text ? value.slice(1) : undefined)
      : options.legacy?.(text);
    if (!parts || parts.length !== checks.length || !checks.every((check, i) => check(parts[i]))) throw invalid();
    return Object.fromEntries(names.map((name, i) => [name, parts[i]])) as Position<S>;
  };
  return {
    encode,
    decode,
    page(rows, limit, positionOf) {
      const items = rows.slice(0, limit);
      const last = items.at(-1);
      return { items, nextCursor: rows.length > limit && last !== undefined ? encode(positionOf(last)) : null };
    },
  };
}

/** Before the versioned format the creation cursor was the bare pair `[createdAt, id]` as JSON. */
const unversionedPair = (text: string) => {
  const value = parseJson(text);
  return Array.isArray(value) && JSON.stringify(value) === text ? value : undefined;
};

/**
 * The cursor of a list in creation order, keyset over (created_at, id) with
 * created_at as the query's `created_at::text`.
 */
export const creationCursor = keysetCursor({ createdAt: 'timestamptz', id: 'uuid' }, { legacy: unversionedPair });
