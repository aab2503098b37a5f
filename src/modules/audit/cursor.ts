import { ProblemError } from '../../http/problem.ts';

/** Keyset cursor over the leaf index (newest first): `a<index>` in base64url, opaque to clients. */
export function encodeCursor(leafIndex: number): string {
  return Buffer.from(`a${leafIndex}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^a(0|[1-9][0-9]{0,15})$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isSafeInteger(n) || encodeCursor(n) !== cursor) throw new ProblemError('validation-failed', 400, 'The cursor is not one this API returned.');
  return n;
}
