import { isCryptoError } from './errors.ts';

/** A value rotation could not move or verify; reported, never silently skipped. */
export interface RotationProblem {
  table: string;
  column: string;
  rowId: string;
  tenantId?: string;
  code: string;
}

/** The problem code of an error: a crypto or rotation code, anything else is unexpected. */
export const codeOf = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code;
  return isCryptoError(err) || code === 'ERR_NOT_ROTATED' || code === 'ERR_DATAKEY_MISSING' ? String(code) : 'ERR_UNEXPECTED';
};

export const failure = (code: string, message: string): Error => Object.assign(new Error(message), { code });

/** One problem per row: the first report of a row is the most specific. */
export function dedupe(problems: RotationProblem[]): RotationProblem[] {
  const seen = new Map<string, RotationProblem>();
  for (const p of problems) {
    const key = `${p.table}.${p.column}:${p.rowId}`;
    if (!seen.has(key)) seen.set(key, p);
  }
  return [...seen.values()];
}

/** Counters of one pass over some values. */
export interface Pass {
  moved: number;
  verified: number;
  /** Swaps a concurrent write won: their new value was not opened in this pass. */
  lost: number;
  problems: RotationProblem[];
}

export const newPass = (): Pass => ({ moved: 0, verified: 0, lost: 0, problems: [] });

export function addPass(sum: Pass, p: Pass): void {
  sum.moved += p.moved;
  sum.verified += p.verified;
  sum.lost += p.lost;
  sum.problems.push(...p.problems);
}

const MAX_PASSES = 3;

/**
 * Runs passes until one had no swap lost to a concurrent write (every value
 * was then opened under the target in that pass), at most MAX_PASSES; the
 * value a concurrent write stored is opened by the next pass. Returns how
 * many values were still changing; they are reported by `keptChanging`.
 */
export async function untilSettled(pass: () => Promise<number>): Promise<number> {
  let lost = 0;
  for (let i = 0; i < MAX_PASSES; i++) {
    lost = await pass();
    if (lost === 0) break;
  }
  return lost;
}

export const keptChanging = (lost: number, tenantId?: string): RotationProblem => ({
  table: '*', column: '*', rowId: `${lost} value(s) kept changing during rotation`, ...(tenantId === undefined ? {} : { tenantId }), code: 'ERR_NOT_ROTATED',
});
