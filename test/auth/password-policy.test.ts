import { describe, expect, it } from 'vitest';
import { passwordProblem } from '../../src/kernel/auth/password-policy.ts';

describe('password policy', () => {
  it('refuses short, common, repetitive and email-derived passwords', () => {
    expect(passwordProblem('short')).toBe('too-short');
    expect(passwordProblem('x'.repeat(257))).toBe('too-long');
    expect(passwordProblem('aaaaaaaaaaaaaaaa')).toBe('repetitive');
    expect(passwordProblem('123456789012')).toBe('common');
    expect(passwordProblem('PASSWORD1234!')).toBe('common');
    expect(passwordProblem('qwerty123456')).toBe('common');
    expect(passwordProblem('jonathan.smith-2024', { email: 'jonathan.smith@example.com' })).toBe('contains-email');
  });

  it('accepts a long uncommon passphrase', () => {
    expect(passwordProblem('correct horse battery staple')).toBeNull();
    expect(passwordProblem('Tr0ub4dor&3 is not enough')).toBeNull();
  });
});
