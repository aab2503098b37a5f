import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { AddressPolicy } from './address-policy.ts';
import { EgressRefusedError } from './errors.ts';

/**
 * Resolves the host and returns one address to connect to. Every address the
 * name resolves to must be permitted, not only the first: a name answering both
 * a public and a private address could otherwise be steered to the private one.
 */
export async function resolvePermitted(host: string, policy: AddressPolicy): Promise<{ address: string; family: 4 | 6 }> {
  if (isIP(host)) {
    if (!policy.permits(host)) throw new EgressRefusedError('address', 'the address is not a public one');
    return { address: host, family: isIP(host) as 4 | 6 };
  }
  let answers: { address: string; family: number }[];
  try {
    answers = await lookup(host, { all: true, verbatim: true });
  } catch {
    throw new EgressRefusedError('dns', 'the host name does not resolve');
  }
  if (answers.length === 0) throw new EgressRefusedError('dns', 'the host name does not resolve');
  if (answers.some((a) => !policy.permits(a.address))) throw new EgressRefusedError('address', 'the host name resolves to an address that is not a public one');
  const first = answers[0]!;
  return { address: first.address, family: first.family as 4 | 6 };
}
