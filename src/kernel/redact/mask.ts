import { scan } from './scan.ts';
import type { Finding, ScanOptions } from './types.ts';

/**
 * Irreversible masking for logs, telemetry and exports: each finding becomes
 * `[redacted:<kind>]`; nothing of the value survives (not even a last-four:
 * combined with other fields it narrows too much).
 */
export function maskText(text: string, options: ScanOptions = {}): string {
  return replaceFindings(text, scan(text, options), (f) => `[redacted:${f.kind}]`);
}

/** Replaces each (sorted, non-overlapping) finding by what `by` returns. */
export function replaceFindings(text: string, findings: readonly Finding[], by: (f: Finding, value: string) => string): string {
  if (findings.length === 0) return text;
  const parts: string[] = [];
  let at = 0;
  for (const f of findings) {
    parts.push(text.slice(at, f.start), by(f, text.slice(f.start, f.end)));
    at = f.end;
  }
  parts.push(text.slice(at));
  return parts.join('');
}
