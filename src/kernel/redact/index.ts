/**
 * kernel/redact: secret and personal-data detection shared by prompts, logs,
 * telemetry and exports (DESIGN.md §5). Pure functions over strings: no I/O,
 * no imports above the kernel. Rules and their sources: docs/content.md
 * ("Redaction rules").
 *
 * - `scan(text)` → findings (category, kind, span);
 * - `maskText(text)` → irreversible `[redacted:<kind>]` for logs;
 * - `PlaceholderSession` → reversible `⟦EMAIL_1⟧` placeholders for prompts, `restore` on outputs.
 */
export type { Finding, ScanOptions } from './types.ts';
export { scan, containsSensitive } from './scan.ts';
export { maskText, replaceFindings } from './mask.ts';
export { PlaceholderSession, SECRET_REMOVED, type RedactionSummary } from './placeholders.ts';
export { findSecrets } from './secrets.ts';
export { findPii } from './pii.ts';
export { luhnValid, cardSchemeOf } from './checksums.ts';
export { shannonEntropy } from './entropy.ts';
