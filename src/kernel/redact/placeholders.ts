import { replaceFindings } from './mask.ts';
import { scan } from './scan.ts';
import type { Finding, ScanOptions } from './types.ts';

/** What a prompt redaction did, without the values (safe to log, audit or show). */
export interface RedactionSummary {
  secrets: number;
  pii: number;
  kinds: Record<string, number>;
}

/** Text a secret leaves behind in a prompt: never restored, never numbered. */
export const SECRET_REMOVED = '[secret removed]';

const OPEN = '\u27E6'; // ⟦
const CLOSE = '\u27E7'; // ⟧
const placeholderPattern = /\u27E6([A-Z_]{2,24})_(\d{1,6})\u27E7/g;

/**
 * Reversible placeholders for prompts. One session covers every part of one
 * model call (instructions, the tenant's data, the user's request), so the same
 * address gets the same placeholder everywhere and the model can refer to it;
 * the session keeps the values in memory only and puts them back in the
 * model's output with `restore`.
 *
 * Secrets are removed, not numbered: they never go to the model and are never
 * put back. Text that already looks like a placeholder is defused on the way in,
 * so tenant content cannot ask `restore` for a value it never held.
 */
export class PlaceholderSession {
  readonly #byValue = new Map<string, string>();
  readonly #byPlaceholder = new Map<string, string>();
  readonly #counters = new Map<string, number>();
  readonly summary: RedactionSummary = { secrets: 0, pii: 0, kinds: {} };
  /** The kinds of personal data found (those that got placeholders). */
  readonly piiKinds = new Set<string>();

  readonly #options: ScanOptions;

  constructor(options: ScanOptions = {}) {
    this.#options = options;
  }

  /** The prompt-safe form of `text`: secrets removed, personal data (unless `keepPii`) as placeholders. */
  redact(text: string, { keepPii = false }: { keepPii?: boolean } = {}): string {
    const defused = text.replaceAll(OPEN, '[').replaceAll(CLOSE, ']');
    const findings = scan(defused, { ...this.#options, pii: keepPii ? false : this.#options.pii });
    return replaceFindings(defused, findings, (f, value) => this.#substitute(f, value));
  }

  /** The model's output with this session's placeholders put back; unknown placeholders stay as they are. */
  restore(output: string): string {
    return output.replace(placeholderPattern, (whole) => this.#byPlaceholder.get(whole) ?? whole);
  }

  /** How many distinct personal values have placeholders. */
  get size(): number {
    return this.#byValue.size;
  }

  #substitute(f: Finding, value: string): string {
    this.summary.kinds[f.kind] = (this.summary.kinds[f.kind] ?? 0) + 1;
    if (f.category === 'secret') {
      this.summary.secrets++;
      return SECRET_REMOVED;
    }
    this.summary.pii++;
    this.piiKinds.add(f.kind);
    const known = this.#byValue.get(`${f.kind}\u0000${value}`);
    if (known) return known;
    const label = f.kind.toUpperCase().replaceAll('-', '_');
    const n = (this.#counters.get(label) ?? 0) + 1;
    this.#counters.set(label, n);
    const placeholder = `${OPEN}${label}_${n}${CLOSE}`;
    this.#byValue.set(`${f.kind}\u0000${value}`, placeholder);
    this.#byPlaceholder.set(placeholder, value);
    return placeholder;
  }
}
