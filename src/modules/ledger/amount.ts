import { ledgerProblem } from './errors.ts';

/** The largest amount or balance: an unsigned 128-bit integer (TigerBeetle's u128). */
export const U128_MAX = (1n << 128n) - 1n;

const DECIMAL = /^-?[0-9]+$/;

/**
 * An amount in minor units, carried in JSON as a decimal string (a float would
 * lose cents above 2^53). Refused with a stable code: not a decimal integer,
 * zero or negative, more than 128 bits.
 */
export function parseAmount(value: string, field = 'amount', index?: number): bigint {
  if (typeof value !== 'string' || value.length > 80 || !DECIMAL.test(value)) {
    throw ledgerProblem('amount_must_be_a_decimal_integer', `${field} must be a string of decimal digits (minor units), e.g. "1250".`, index);
  }
  const n = BigInt(value);
  if (n <= 0n) throw ledgerProblem('amount_must_be_positive', `${field} must be greater than zero.`, index);
  if (n > U128_MAX) throw ledgerProblem('amount_overflow', `${field} must fit in 128 bits (at most ${U128_MAX}).`, index);
  return n;
}

/** A numeric(39,0) as the database returns it (string) in canonical decimal form. */
export const decimal = (v: unknown): string => BigInt(String(v)).toString();
