import type { Platform } from '../../kernel/platform.ts';

/**
 * A hook for modules that mirror sign-ins elsewhere (the Discourse provider's
 * logout sync): told, after the commit, when a member was removed or an
 * administrator ended a member's sessions. A listener must be quick (enqueue a
 * job) and never throws into identity: its failure is logged, not propagated.
 */
export interface MemberSessionsEnded {
  tenantId: string;
  userId: string;
  reason: 'membership-removed' | 'admin-revoked';
}

type Listener = (platform: Platform, event: MemberSessionsEnded) => Promise<void>;

const listeners = new Set<Listener>();

export function onMemberSessionsEnded(listener: Listener): void {
  listeners.add(listener);
}

export async function signalMemberSessionsEnded(platform: Platform, event: MemberSessionsEnded): Promise<void> {
  for (const listener of listeners) {
    try {
      await listener(platform, event);
    } catch (err) {
      platform.log.warn({ err, reason: event.reason, tenantId: event.tenantId }, 'member-sessions-ended listener failed');
    }
  }
}
