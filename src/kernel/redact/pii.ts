import { electronicFormatIBAN, countrySpecs, isValidIBAN } from 'ibantools';
import { findPhoneNumbersInText, isSupportedCountry } from 'libphonenumber-js/max';
import { cardSchemeOf, luhnValid } from './checksums.ts';
import { findNationalIds } from './national-ids.ts';
import type { Finding, ScanOptions } from './types.ts';

/**
 * Personal data. Phone numbers come from libphonenumber-js with its full
 * ("max") metadata — Google's libphonenumber rules, so a number must be valid
 * for its region, not just long enough; IBANs from ibantools (ISO 13616
 * mod-97 checksum and each country's BBAN format); cards by Luhn and the
 * schemes' issuer ranges; emails by a bounded pattern of RFC 5322's common form.
 */
const localPart = /[A-Za-z0-9._%+-]{1,64}$/;
const domain = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}\b/;
/**
 * Digit runs that could be phone numbers, at most 32 characters: libphonenumber's matcher runs on
 * each (with the character before, for a `+`), never on the whole text, whose digit-dense stretches
 * would cost it super-linear time.
 */
const phoneCandidate = /[+(]?\d[\d \t().\/-]{4,30}\d/g;
/**
 * libphonenumber costs ~0.2 ms per candidate. A text dense with digit runs gets that many
 * validations; beyond them every candidate of 7–15 digits counts as a phone number unvalidated —
 * over-redaction, never a leak, and linear time on hostile input.
 */
const PHONE_VALIDATIONS = 256;
/** libphonenumber's verdicts on candidates, memoised (a pure function of candidate and region; bounded). */
const phoneVerdicts = new Map<string, Array<{ startsAt: number; endsAt: number }>>();
const MAX_VERDICTS = 4096;
/** 12–19 digits, optionally grouped by single spaces or dashes (how cards are written). */
const cardCandidate = /\b\d(?:[ -]?\d){11,18}\b/g;
/** Country code, check digits, then 11–30 letters/digits in optional groups (the print form has spaces). */
const ibanCandidate = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/g;
/** ISO dates and times that the phone matcher would otherwise take for national numbers. */
const dateLike = /^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$/;

/** Emails are found from each `@` outwards: a pattern anchored at every word start would re-scan each word. */
function findEmails(text: string, out: Finding[]): void {
  let from = 0;
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    if (at < from) continue;
    const local = localPart.exec(text.slice(Math.max(from, at - 64), at));
    if (!local) continue;
    const dom = domain.exec(text.slice(at + 1, at + 1 + 320));
    if (!dom) continue;
    const start = at - local[0].length;
    // The local part must start at a word boundary, as \b would have required.
    if (start > 0 && /[A-Za-z0-9_]/.test(text[start - 1]!) && !/[._%+-]/.test(text[start]!)) continue;
    const end = at + 1 + dom[0].length;
    out.push({ category: 'pii', kind: 'email', start: start + leadingPunctuation(local[0]), end });
    from = end;
  }
}

/** A local part does not start with a dot or dash copied from the prose before it. */
const leadingPunctuation = (local: string) => local.length - local.replace(/^[._%+-]+/, '').length;

function phonesIn(candidate: string, region: string | undefined): Array<{ startsAt: number; endsAt: number }> {
  const key = `${region ?? ''}\u0000${candidate}`;
  const known = phoneVerdicts.get(key);
  if (known) return known;
  const found = findPhoneNumbersInText(candidate, region ? { defaultCountry: region as never } : {})
    .map((f) => ({ startsAt: f.startsAt, endsAt: f.endsAt }))
    .filter((f) => !dateLike.test(candidate.slice(f.startsAt, f.endsAt)));
  if (phoneVerdicts.size >= MAX_VERDICTS) phoneVerdicts.clear();
  phoneVerdicts.set(key, found);
  return found;
}

function findPhones(text: string, region: string | undefined, out: Finding[]): void {
  const defaultCountry = region && isSupportedCountry(region) ? region : undefined;
  // Digit runs already taken by a card, an IBAN or a national id are not phone numbers too.
  const covered = out.map((f) => [f.start, f.end] as const);
  let budget = PHONE_VALIDATIONS;
  for (const m of text.matchAll(phoneCandidate)) {
    const digits = m[0].replace(/\D/g, '').length;
    if (digits < 7 || dateLike.test(m[0].trim())) continue;
    const end = m.index + m[0].length;
    if (covered.some(([s, e]) => s <= m.index && end <= e)) continue;
    if (budget-- <= 0) {
      if (digits <= 15) out.push({ category: 'pii', kind: 'phone', start: m.index, end });
      continue;
    }
    for (const found of phonesIn(m[0], defaultCountry)) {
      out.push({ category: 'pii', kind: 'phone', start: m.index + found.startsAt, end: m.index + found.endsAt });
    }
  }
}

function findCards(text: string, out: Finding[]): void {
  for (const m of text.matchAll(cardCandidate)) {
    const digits = m[0].replace(/[ -]/g, '');
    if (digits.length >= 12 && cardSchemeOf(digits) && luhnValid(digits)) {
      out.push({ category: 'pii', kind: 'card-number', start: m.index, end: m.index + m[0].length });
    }
  }
}

function findIbans(text: string, out: Finding[]): void {
  for (const m of text.matchAll(ibanCandidate)) {
    const spec = countrySpecs[m[0].slice(0, 2)];
    const length = spec?.chars;
    if (!length) continue;
    // The candidate may run into the next word in capitals: keep exactly the country's length.
    let taken = 0;
    let end = 0;
    while (end < m[0].length && taken < length) {
      if (m[0][end] !== ' ') taken++;
      end++;
    }
    if (taken < length) continue;
    const electronic = electronicFormatIBAN(m[0].slice(0, end));
    if (electronic && isValidIBAN(electronic)) out.push({ category: 'pii', kind: 'iban', start: m.index, end: m.index + end });
  }
}

export function findPii(text: string, options: Pick<ScanOptions, 'phoneRegion'> = {}): Finding[] {
  const out: Finding[] = [];
  findEmails(text, out);
  findIbans(text, out);
  findCards(text, out);
  out.push(...findNationalIds(text));
  findPhones(text, options.phoneRegion, out);
  return out;
}
