import { createHash } from 'node:crypto';

/** A stable, non-reversible handle for a typed email address in audit records (never the text itself). */
export function emailHandle(email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 32);
}
