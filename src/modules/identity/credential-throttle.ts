import type { Session } from '../../db/client.ts';
import { ACCOUNT_POLICY, claimAttempt, IP_POLICY, recordFailure, recordSuccess, releaseAttempt, releasingClaimsOnThrow } from '../../kernel/limits/login-throttle.ts';
import type { Platform } from '../../kernel/platform.ts';

/**
 * The throttle every credential check goes through (login, second factor, a
 * signup that proves an existing account's password). keys[0] is the account
 * (or factor) being proved, the others are shared (the client's IP).
 */
export function credentialThrottle(platform: Platform) {
  const claimsOf = (keys: string[]) => keys.map((key, i) => ({ key, policy: i === 0 ? ACCOUNT_POLICY : IP_POLICY }));
  return {
    claim: (keys: string[]) => claimAttempt(platform.withIdentity, claimsOf(keys)),
    async recordFailures(keys: string[]): Promise<void> {
      await platform.withIdentity(async (tx) => {
        for (const { key, policy } of claimsOf(keys)) await recordFailure(tx, key, policy);
      });
    },
    /** Runs the step; claims are released if it throws (a failure that proved nothing about the credential). */
    afterClaim: <T>(keys: string[], step: () => Promise<T>) => releasingClaimsOnThrow(platform.withIdentity, keys, step),
    async recordSuccesses(tx: Session, keys: string[]): Promise<void> {
      await recordSuccess(tx, keys[0]!);
      for (const key of keys.slice(1)) await releaseAttempt(tx, key);
    },
  };
}
