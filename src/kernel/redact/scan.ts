import { findPii } from './pii.ts';
import { findSecrets } from './secrets.ts';
import type { Finding, ScanOptions } from './types.ts';

/**
 * Every secret and personal datum in `text`, as non-overlapping spans in text
 * order. Where spans overlap, a secret wins over personal data (an email inside
 * a connection string is part of the secret), then the longer span wins (a JWT
 * over the high-entropy run inside it).
 */
export function scan(text: string, options: ScanOptions = {}): Finding[] {
  const found: Finding[] = [];
  if (options.secrets !== false) found.push(...findSecrets(text));
  if (options.pii !== false) found.push(...findPii(text, options));
  found.sort((a, b) => rank(a) - rank(b) || (b.end - b.start) - (a.end - a.start) || a.start - b.start);
  // One mark per character taken: linear in the text, however many findings overlap.
  const taken = new Uint8Array(text.length);
  const kept: Finding[] = [];
  for (const f of found) {
    if (f.end <= f.start || taken.subarray(f.start, f.end).includes(1)) continue;
    taken.fill(1, f.start, f.end);
    kept.push(f);
  }
  return kept.sort((a, b) => a.start - b.start);
}

const rank = (f: Finding) => (f.category === 'secret' ? 0 : 1);

/** Whether `text` holds anything `scan` would report (the cheap question for a filter). */
export function containsSensitive(text: string, options: ScanOptions = {}): boolean {
  return scan(text, options).length > 0;
}
