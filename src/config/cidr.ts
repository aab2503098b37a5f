import ipaddr from 'ipaddr.js';

/** `10.0.0.0/8`, `fd00::/8` or a bare address (a /32 or /128). */
export function isCidr(value: string): boolean {
  try {
    if (value.includes('/')) ipaddr.parseCIDR(value);
    else ipaddr.parse(value);
    return true;
  } catch {
    return false;
  }
}
