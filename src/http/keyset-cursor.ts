import { ProblemError } from './problem.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** timestamptz as PostgreSQL prints it (what encodeCursor is given): anything else was not made here. */
const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;

/**
 * Keyset cursor over (created_at, id), for every list that pages by creation:
 * the timestamp is PostgreSQL's own text so no precision is lost.
 */
export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string'
      && UUID.test(value[1]) && PG_TIMESTAMP.test(value[0])) {
      return { createdAt: value[0], id: value[1] };
    }
  } catch {
    /* fall through */
  }
  throw new ProblemError('validation-failed', 400, 'The cursor is not one this API returned.');
}
