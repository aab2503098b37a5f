import type { Finding } from './types.ts';

/**
 * National identifiers we detect, each with its own validity rule so a random
 * number of the right length is not enough:
 * - `us-ssn`: US Social Security number, written 123-45-6789 (area ≠ 000/666/9xx, group ≠ 00, serial ≠ 0000);
 *   undashed nine digits are not matched (too many order and invoice numbers look like that);
 * - `uk-nino`: UK National Insurance number (two prefix letters as HMRC allocates them, six digits, suffix A–D);
 * - `es-dni`: Spanish DNI (8 digits + check letter, mod 23) and NIE (X/Y/Z + 7 digits + check letter);
 * - `fr-nir`: French social security number (NIR/INSEE, 13 digits + 2-digit key = 97 − n mod 97; Corsica 2A/2B).
 */
const usSsn = /\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b/g;
const ukNino = /\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b/g;
const esDni = /\b([XYZ]\d{7}|\d{8})-?([A-Z])\b/g;
const frNir = /\b([12]) ?(\d{2}) ?(0[1-9]|1[0-2]|[2-9]\d) ?(\d{2}|2[AB]) ?(\d{3}) ?(\d{3}) ?(\d{2})\b/g;

const DNI_LETTERS = 'TRWAGMYFPDXBNJZSQVHLCKE';

function dniValid(number: string, letter: string): boolean {
  const digits = number.replace(/^X/, '0').replace(/^Y/, '1').replace(/^Z/, '2');
  return DNI_LETTERS[Number(digits) % 23] === letter;
}

function nirValid(m: RegExpMatchArray): boolean {
  const dept = m[4]!;
  // Corsica: 2A counts as 19, 2B as 18 in the key (INSEE).
  const body = `${m[1]}${m[2]}${m[3]}${dept === '2A' ? '19' : dept === '2B' ? '18' : dept}${m[5]}${m[6]}`;
  const key = Number(m[7]);
  return 97 - Number(BigInt(body) % 97n) === key;
}

export function findNationalIds(text: string): Finding[] {
  const out: Finding[] = [];
  const push = (kind: string, m: RegExpMatchArray) => out.push({ category: 'pii', kind, start: m.index!, end: m.index! + m[0].length });
  for (const m of text.matchAll(usSsn)) push('us-ssn', m);
  for (const m of text.matchAll(ukNino)) push('uk-nino', m);
  for (const m of text.matchAll(esDni)) if (dniValid(m[1]!, m[2]!)) push('es-dni', m);
  for (const m of text.matchAll(frNir)) if (nirValid(m)) push('fr-nir', m);
  return out;
}
