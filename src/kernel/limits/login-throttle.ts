import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { KernelError } from '../errors.ts';

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

/** The lock a key earns at `failures` (≥ maxFailures): doubling from baseLockSeconds, capped. */
const lockSeconds = (failures: number, policy: ThrottlePolicy) =>
  Math.min(policy.maxLockSeconds, policy.baseLockSeconds * 2 ** Math.max(0, failures - policy.maxFailures));

const lockedOut = (wait: number) =>
  new KernelError('locked-out', `Too many failed attempts; try again in ${wait} s.`, { retryAfterSeconds: wait });

/**
 * One upsert: counts an attempt on `key` unless it is locked now; returns the
 * count, any lock left, and whether a lock was ever set in this window.
 */
async function countAttempt(tx: Session, key: string, policy: ThrottlePolicy): Promise<{ failures: number; wait: number; wasLocked: boolean }> {
  const expired = sql`t.window_started_at < now() - make_interval(secs => ${policy.windowSeconds}) AND (t.locked_until IS NULL OR t.locked_until < now())`;
  const [row] = await tx.query<{ failures: number; wait: number | null; was_locked: boolean }>(sql`
    INSERT INTO auth_throttle AS t (key, failures, window_started_at, updated_at) VALUES (${key}, 1, now(), now())
    ON CONFLICT (key) DO UPDATE SET
      failures = CASE WHEN t.locked_until > now() THEN t.failures WHEN ${expired} THEN 1 ELSE t.failures + 1 END,
      window_started_at = CASE WHEN t.locked_until > now() THEN t.window_started_at WHEN ${expired} THEN now() ELSE t.window_started_at END,
      updated_at = now()
    RETURNING failures, CASE WHEN locked_until > now() THEN ceil(extract(epoch FROM locked_until - now()))::int END AS wait,
      locked_until IS NOT NULL AS was_locked`);
  return { failures: row?.failures ?? 1, wait: Math.max(0, row?.wait ?? 0), wasLocked: row?.was_locked === true };
}

/** Locks `key` for the lock its `failures` earn, never shortening one already set; returns the seconds. */
async function armLock(tx: Session, key: string, failures: number, policy: ThrottlePolicy): Promise<number> {
  const lock = lockSeconds(failures, policy);
  await tx.query(sql`UPDATE auth_throttle SET locked_until = greatest(locked_until, now() + make_interval(secs => ${lock})) WHERE key = ${key}`);
  return lock;
}

export interface ThrottleClaim {
  key: string;
  policy: ThrottlePolicy;
}

/**
 * Claims one credential check on every key before the check runs, in one
 * transaction: the attempt is counted as it arrives, so a burst of parallel
 * guesses is counted before any of them is checked — at most `maxFailures`
 * are ever checked, the rest are refused (429, Retry-After). Past the budget,
 * one check is let through per expired lock, and it re-arms a doubled lock at
 * once, so parallel requests behind it are refused. Afterwards the caller
 * reports the outcome: recordFailure, or recordSuccess / releaseAttempt.
 */
export async function claimAttempt(run: <T>(fn: (tx: Session) => Promise<T>) => Promise<T>, claims: ThrottleClaim[]): Promise<void> {
  const wait = await run(async (tx) => {
    // A refused attempt is not a check: it counts against no key.
    const locked = await secondsLocked(tx, claims.map((c) => c.key));
    if (locked > 0) return locked;
    let longest = 0;
    const counted: string[] = [];
    for (const { key, policy } of claims) {
      const { failures, wait: left, wasLocked } = await countAttempt(tx, key, policy);
      if (left > 0) {
        longest = Math.max(longest, left); // locked by a concurrent request since the check above
      } else if (failures > policy.maxFailures) {
        // Past the budget: lock at once. After an expired lock this one attempt still runs;
        // within a burst that outran the budget before any lock was set, it is refused.
        const lock = await armLock(tx, key, failures, policy);
        if (wasLocked) counted.push(key);
        else longest = Math.max(longest, lock);
      } else {
        counted.push(key);
      }
    }
    if (longest > 0) for (const key of counted) await releaseAttempt(tx, key);
    return longest;
  });
  if (wait > 0) throw lockedOut(wait);
}

/** A claimed check failed: locks the key once its attempts are spent; returns the lock in seconds (0 when none). */
export async function recordFailure(tx: Session, key: string, policy: ThrottlePolicy): Promise<number> {
  const [row] = await tx.query<{ failures: number }>(sql`SELECT failures FROM auth_throttle WHERE key = ${key}`);
  const failures = row?.failures ?? 0;
  return failures < policy.maxFailures ? 0 : armLock(tx, key, failures, policy);
}

/** A claimed check succeeded on the key of the account (or factor) it proved: its count starts over. */
export async function recordSuccess(tx: Session, key: string): Promise<void> {
  await tx.query(sql`DELETE FROM auth_throttle WHERE key = ${key}`);
}

/** A claimed check succeeded on a shared key (an IP): only this attempt is taken back. */
export async function releaseAttempt(tx: Session, key: string): Promise<void> {
  await tx.query(sql`UPDATE auth_throttle SET failures = greatest(failures - 1, 0) WHERE key = ${key} AND (locked_until IS NULL OR locked_until < now())`);
}

/**
 * Counts a request that is not a credential check (a reset mail asked for):
 * past `maxFailures` in the window the key is locked; returns the lock in
 * seconds it caused (0 when none).
 */
export async function countRequest(tx: Session, key: string, policy: ThrottlePolicy): Promise<number> {
  const { failures } = await countAttempt(tx, key, policy);
  return failures < policy.maxFailures ? 0 : armLock(tx, key, failures, policy);
}

/**
 * Takes back claimed attempts whose check ended neither in success nor in a
 * wrong credential (a 409, a suspended tenant, a ticket used concurrently):
 * they must not count toward a lock.
 */
export async function releaseClaims(run: <T>(fn: (tx: Session) => Promise<T>) => Promise<T>, keys: string[]): Promise<void> {
  await run(async (tx) => {
    for (const key of keys) await releaseAttempt(tx, key);
  });
}

/** Runs the step after a claimed check; if it throws, the claims are taken back (it was no wrong credential). */
export async function releasingClaimsOnThrow<T>(run: <R>(fn: (tx: Session) => Promise<R>) => Promise<R>, keys: string[], step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    await releaseClaims(run, keys).catch(() => {});
    throw err;
  }
}
