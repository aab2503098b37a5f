import { sql, type SQL } from 'drizzle-orm';
import { forbidden, ProblemError } from '../../http/problem.ts';
import type { Principal } from '../../kernel/auth/principal.ts';

/**
 * Who may see a room, as SQL over `chat_rooms r`: public rooms to every reader
 * of the tenant, private and direct rooms to their members; nobody under an
 * active ban (of the room or of the whole tenant's chat). The tenant itself is
 * RLS's: these fragments only narrow within it.
 */
export const isMember = (userId: string): SQL =>
  sql`EXISTS (SELECT 1 FROM chat_members cm WHERE cm.tenant_id = r.tenant_id AND cm.room_id = r.id AND cm.user_id = ${userId})`;

export const sanctioned = (userId: string, kind: 'ban' | 'mute'): SQL =>
  sql`EXISTS (SELECT 1 FROM chat_sanctions s WHERE s.tenant_id = r.tenant_id AND s.user_id = ${userId} AND s.kind = ${kind}
        AND (s.room_id IS NULL OR s.room_id = r.id) AND (s.until IS NULL OR s.until > now()))`;

export const visibleTo = (userId: string): SQL =>
  sql`((r.kind = 'public' OR ${isMember(userId)}) AND NOT ${sanctioned(userId, 'ban')})`;

/** Chat speaks for a person: API keys and external tokens without a user are refused. */
export function userOf(principal: Principal): string {
  if (!principal.userId) throw forbidden('Chat acts for a person: use a user session, not an API key.');
  return principal.userId;
}

export const invalidText = (detail: string) => new ProblemError('validation-failed', 400, detail);

/** Text as stored: well-formed Unicode, no NUL, not blank, within the bound. */
export function checkText(text: unknown, max: number): string {
  if (typeof text !== 'string') throw invalidText('The text must be a string.');
  if (text.length > max) throw new ProblemError('payload-too-large', 413, `A message holds at most ${max} characters.`);
  if (!text.isWellFormed() || text.includes('\u0000')) throw invalidText('The text is not well-formed Unicode.');
  if (text.trim().length === 0) throw invalidText('The text is empty.');
  return text;
}

/** PostgreSQL's foreign-key violation (a user who is not a member of the tenant, a room gone meanwhile). */
export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code === '23503' || e?.cause?.code === '23503';
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code === '23505' || e?.cause?.code === '23505';
}
