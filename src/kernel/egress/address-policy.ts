import ipaddr from 'ipaddr.js';

/**
 * Which resolved addresses an outbound request may connect to. Only public
 * unicast: loopback, private (RFC 1918, RFC 4193), link-local (cloud metadata at
 * 169.254.169.254), CGNAT, multicast, reserved and the IPv6 transition ranges
 * (6to4, Teredo, NAT64) that can smuggle an IPv4 target are refused, unless an
 * operator allowed the range (OCSUITE_EGRESS_ALLOW_CIDRS).
 */
export interface AddressPolicy {
  permits(address: string): boolean;
}

export function addressPolicy(allowCidrs: readonly string[]): AddressPolicy {
  const allowed = allowCidrs.map((c) => (c.includes('/') ? ipaddr.parseCIDR(c) : hostRange(c)));
  return {
    permits(raw) {
      if (!ipaddr.isValid(raw)) return false;
      // ::ffff:127.0.0.1 is 127.0.0.1.
      const address = ipaddr.process(raw);
      if (allowed.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits))) return true;
      return address.range() === 'unicast';
    },
  };
}

function hostRange(address: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  const parsed = ipaddr.process(address);
  return [parsed, parsed.kind() === 'ipv4' ? 32 : 128];
}
