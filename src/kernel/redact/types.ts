/** What a detector found: a span of the input, its category and the rule that matched. */
export interface Finding {
  category: 'secret' | 'pii';
  /** Stable rule name, e.g. `github-token`, `email`, `iban`, `us-ssn`. */
  kind: string;
  /** UTF-16 offsets into the scanned text, `end` exclusive. */
  start: number;
  end: number;
}

export interface ScanOptions {
  /** Look for secrets (default true). */
  secrets?: boolean;
  /** Look for personal data (default true). */
  pii?: boolean;
  /**
   * ISO 3166-1 region for numbers written without `+country` (e.g. `DE` finds `030 12345678`).
   * Without one only international numbers are phone numbers: a national-format run of digits is
   * too often an order number.
   */
  phoneRegion?: string | undefined;
}
