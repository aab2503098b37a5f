/**
 * Audit metadata must never carry a secret: it is kept forever, exported and
 * hashed into a public log. Sensitive keys are dropped; token-shaped values are
 * replaced wherever they appear; the result is plain JSON (what jsonb stores and
 * gives back unchanged), so the leaf hash of an event can be recomputed from its
 * stored row.
 */

export const REDACTED = '[redacted]';

/** Keys whose values are secrets by name, whatever they hold. */
const SECRET_KEY = /pass(word|wd|phrase)?$|^pwd$|token|secret|authori[sz]ation|cookie|api[-_]?key|private[-_]?key|credential|^otp$|totp|signature/i;

/** Our own bearer formats (ocs_rt_…, ocs_inv_…, ocs_sk_…), JWT/JWS compact serialisations, Bearer/Basic credentials. */
const SECRET_VALUE = [
  /\bocs_[a-z]+_[A-Za-z0-9_-]{16,}/g,
  /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/-]{8,}=*/gi,
];

const MAX_DEPTH = 6;
const MAX_STRING = 2_000;
const MAX_ENTRIES = 100;

function redactString(value: string): string {
  // Well-formed and NUL-free: jsonb rejects both, and the leaf must round-trip.
  let out = value.toWellFormed().replaceAll('\u0000', '');
  for (const pattern of SECRET_VALUE) out = out.replace(pattern, REDACTED);
  return out.length > MAX_STRING ? `${cut(out, MAX_STRING)}…` : out;
}

/** The first `max` UTF-16 units, never ending on half a surrogate pair (the leaf hash covers what is stored). */
function cut(value: string, max: number): string {
  const end = max > 0 && /[\uD800-\uDBFF]/.test(value[max - 1] ?? '') ? max - 1 : max;
  return value.slice(0, end);
}

function redactValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return redactString(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (depth >= MAX_DEPTH) return REDACTED;
  if (Array.isArray(value)) return value.slice(0, MAX_ENTRIES).map((v) => redactValue(v, depth + 1) ?? null);
  if (typeof value === 'object') return redactObject(value as Record<string, unknown>, depth + 1);
  return undefined; // functions, symbols, undefined: not data
}

function redactObject(input: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [key, value] of Object.entries(input)) {
    if (n++ >= MAX_ENTRIES) break;
    if (SECRET_KEY.test(key)) continue;
    const v = redactValue(value, depth);
    if (v !== undefined) out[redactString(key)] = v;
  }
  return out;
}

/** Metadata safe to keep: secret-named keys dropped, token-shaped values replaced, plain JSON only. */
export function redactMetadata(metadata: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!metadata) return {};
  return redactObject(metadata, 0);
}

/** Free text (reasons, user agents) passes through the value rules only. */
export function redactText(value: string | undefined, max = 500): string | undefined {
  if (value === undefined) return undefined;
  const out = redactString(value);
  return out.length > max ? cut(out, max) : out;
}
