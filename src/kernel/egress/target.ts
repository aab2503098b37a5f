import { EgressRefusedError } from './errors.ts';

/** Service ports below 1024 other than HTTP(S) (SMTP, SSH, …) are never webhook targets. */
const ALLOWED_LOW_PORTS = new Set([80, 443]);

export interface EgressTarget {
  url: URL;
  /** Host name or address literal, without IPv6 brackets. */
  host: string;
  port: number;
}

/**
 * The checks a URL passes before any name is resolved. WHATWG URL parsing
 * already turns decimal, octal and hex IPv4 forms (http://2130706433/) into
 * dotted quads, so the address check later sees what the socket would reach.
 */
export function parseTarget(input: string | URL, allowHttpHosts: readonly string[]): EgressTarget {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw new EgressRefusedError('scheme', 'not a valid absolute URL');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowHttpHosts.includes(host))) {
    throw new EgressRefusedError('scheme', 'only https URLs may be reached');
  }
  if (url.username || url.password) throw new EgressRefusedError('credentials', 'URLs with credentials are refused; use a signing secret or a header');
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  if (port < 1024 && !ALLOWED_LOW_PORTS.has(port)) throw new EgressRefusedError('port', `port ${port} may not be reached`);
  if (host === '') throw new EgressRefusedError('address', 'the URL names no host');
  return { url, host, port };
}
