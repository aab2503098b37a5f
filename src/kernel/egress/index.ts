import { addressPolicy } from './address-policy.ts';
import { resolvePermitted } from './resolve.ts';
import { sendPinned, type EgressRequest, type EgressResponse } from './request.ts';
import { parseTarget } from './target.ts';

export { EgressFailedError, EgressRefusedError, type EgressFailure, type EgressRefusal } from './errors.ts';
export type { EgressRequest, EgressResponse } from './request.ts';

/**
 * The one way the platform reaches a URL a tenant (or an operator) chose:
 * webhook deliveries, model providers, connectors. SSRF guard of DESIGN.md §5.
 */
export interface Egress {
  /** Checks the URL, resolves it, connects to the checked address, returns the answer (3xx included: redirects are not followed). */
  request(url: string | URL, req?: EgressRequest): Promise<EgressResponse>;
  /** The same checks without sending: for a URL at the moment it is configured. */
  check(url: string | URL): Promise<void>;
}

export interface EgressOptions {
  allowCidrs: readonly string[];
  allowHttpHosts: readonly string[];
}

export function createEgress(options: EgressOptions): Egress {
  const policy = addressPolicy(options.allowCidrs);
  const hosts = options.allowHttpHosts.map((h) => h.toLowerCase());
  return {
    async request(url, req = {}) {
      const target = parseTarget(url, hosts);
      const pinned = await resolvePermitted(target.host, policy);
      return sendPinned(target, pinned, req);
    },
    async check(url) {
      const target = parseTarget(url, hosts);
      await resolvePermitted(target.host, policy);
    },
  };
}
