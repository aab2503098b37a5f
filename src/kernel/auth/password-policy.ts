import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * Password policy (NIST SP 800-63B §5.1.1.2): length over composition rules,
 * and refusal of passwords that appear in a list of common ones. The list is
 * zxcvbn-ts's common-password dictionary (≈49,000 entries), shipped as a
 * dependency so the check needs no network.
 */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

let common: Set<string> | undefined;
const commonPasswords = () => (common ??= new Set((dictionary as Record<string, string[]>)['passwords-common'] ?? []));

export type PasswordProblem = 'too-short' | 'too-long' | 'common' | 'repetitive' | 'contains-email';

export function passwordProblem(password: string, context: { email?: string | undefined } = {}): PasswordProblem | null {
  if ([...password].length < PASSWORD_MIN_LENGTH) return 'too-short';
  if (password.length > PASSWORD_MAX_LENGTH) return 'too-long';
  const lower = password.toLowerCase();
  if (commonPasswords().has(lower) || commonPasswords().has(lower.replace(/[\d!?.]+$/, ''))) return 'common';
  if (new Set(lower).size <= 2) return 'repetitive';
  const local = context.email?.split('@')[0]?.toLowerCase();
  if (local && local.length >= 4 && lower.includes(local)) return 'contains-email';
  return null;
}

export const passwordProblemText: Record<PasswordProblem, string> = {
  'too-short': `Passwords must be at least ${PASSWORD_MIN_LENGTH} characters.`,
  'too-long': `Passwords must be at most ${PASSWORD_MAX_LENGTH} characters.`,
  common: 'This password appears in lists of common passwords; choose another.',
  repetitive: 'This password repeats too few characters; choose another.',
  'contains-email': 'Passwords must not contain your email address.',
};
