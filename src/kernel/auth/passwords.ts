import { hash, verify } from '@node-rs/argon2';
import { KernelError } from '../errors.ts';
import { passwordProblem, passwordProblemText } from './password-policy.ts';

// argon2id with OWASP's minimum profile (19 MiB, t=2, p=1).
const options = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './password-policy.ts';

export function assertPasswordAcceptable(password: string, context: { email?: string | undefined } = {}): void {
  const problem = passwordProblem(password, context);
  if (problem) throw new KernelError('validation-failed', passwordProblemText[problem], { extensions: { reason: `password-${problem}` } });
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, options);
}

// Verifying against a real hash when the account is unknown keeps the timing of
// "no such user" and "wrong password" the same.
let decoy: Promise<string> | undefined;

export async function verifyPassword(stored: string | null | undefined, password: string): Promise<boolean> {
  if (!stored) {
    decoy ??= hash('decoy password for timing', options);
    await verify(await decoy, password).catch(() => false);
    return false;
  }
  return verify(stored, password).catch(() => false);
}
