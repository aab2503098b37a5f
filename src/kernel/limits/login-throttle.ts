import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { ProblemError } from '../../http/problem.ts';

/**
 * Brute-force protection for credential checks (login, MFA, reset, invitation
 * acceptance): failures are counted per key in PostgreSQL, so every API node
 * sees them; past `maxFailures` within the window the key is locked, and each
 * further failure doubles the lock up to `maxLockSeconds`. Account keys hash
 * the normalised email, so an unknown address is throttled exactly like a known
 * one and reveals nothing.
 */
export interface ThrottlePolicy {
  maxFailures: number;
  windowSeconds: number;
  baseLockSeconds: number;
  maxLockSeconds: number;
}

export const ACCOUNT_POLICY: ThrottlePolicy = { maxFailures: 5, windowSeconds: 900, baseLockSeconds: 30, maxLockSeconds: 3600 };
export const IP_POLICY: ThrottlePolicy = { maxFailures: 50, windowSeconds: 900, baseLockSeconds: 60, maxLockSeconds: 3600 };

const digest = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 40);

export const throttleKey = {
  account: (email: string) => `acct:${digest(email.trim().toLowerCase())}`,
  ip: (ip: string) => `ip:${ip.slice(0, 64)}`,
  mfa: (userId: string) => `mfa:${userId}`,
  reset: (email: string) => `reset:${digest(email.trim().toLowerCase())}`,
  invitation: (ip: string) => `inv:${ip.slice(0, 64)}`,
};

/** Seconds until the first of `keys` unlocks, or 0 when none is locked. */
export async function secondsLocked(tx: Session, keys: string[]): Promise<number> {
  const [row] = await tx.query<{ wait: number | null }>(sql`
    SELECT ceil(extract(epoch FROM max(locked_until) - now()))::int AS wait
    FROM auth_throttle WHERE key IN (${sql.join(keys.map((k) => sql`${k}`), sql`, `)}) AND locked_until > now()`);
  return Math.max(0, row?.wait ?? 0);
}

/** Counts a failure; returns the lock in seconds it caused (0 when none). */
export async function recordFailure(tx: Session, key: string, policy: ThrottlePolicy): Promise<number> {
  const [row] = await tx.query<{ failures: number }>(sql`
    INSERT INTO auth_throttle AS t (key, failures, window_started_at, updated_at) VALUES (${key}, 1, now(), now())
    ON CONFLICT (key) DO UPDATE SET
      failures = CASE WHEN t.window_started_at < now() - make_interval(secs => ${policy.windowSeconds}) AND (t.locked_until IS NULL OR t.locked_until < now())
                      THEN 1 ELSE t.failures + 1 END,
      window_started_at = CASE WHEN t.window_started_at < now() - make_interval(secs => ${policy.windowSeconds}) AND (t.locked_until IS NULL OR t.locked_until < now())
                      THEN now() ELSE t.window_started_at END,
      updated_at = now()
    RETURNING failures`);
  const failures = row?.failures ?? 1;
  if (failures < policy.maxFailures) return 0;
  const lock = Math.min(policy.maxLockSeconds, policy.baseLockSeconds * 2 ** (failures - policy.maxFailures));
  await tx.query(sql`UPDATE auth_throttle SET locked_until = now() + make_interval(secs => ${lock}) WHERE key = ${key}`);
  return lock;
}

export async function recordSuccess(tx: Session, key: string): Promise<void> {
  await tx.query(sql`DELETE FROM auth_throttle WHERE key = ${key}`);
}

/** Refuses with 429 and Retry-After while any of `keys` is locked; `run` opens the (identity) transaction. */
export async function assertNotLocked(run: <T>(fn: (tx: Session) => Promise<T>) => Promise<T>, keys: string[]): Promise<void> {
  const wait = await run((tx) => secondsLocked(tx, keys));
  if (wait > 0) {
    throw new ProblemError('locked-out', 429, `Too many failed attempts; try again in ${wait} s.`, { headers: { 'retry-after': String(wait) } });
  }
}
