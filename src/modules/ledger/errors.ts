import { ProblemError, type ProblemKind } from '../../http/problem.ts';

/**
 * Ledger refusals: a problem of a standard kind with a stable `ledgerCode`
 * (TigerBeetle-style result names) and, for a linked chain, the `index` of the
 * transfer that failed. The database raises the same codes (SQLSTATE OCL01–OCL09,
 * migrations 0020 and 0125) when the service did not catch a case first.
 */
const statusOf: Record<string, [ProblemKind, number]> = {
  OCL01: ['conflict', 409], // a balance flag
  OCL02: ['conflict', 409], // a closed account
  OCL04: ['not-found', 404],
  OCL05: ['validation-failed', 400],
  OCL06: ['conflict', 409], // the pending transfer is not pending any more
  OCL07: ['conflict', 409], // the pending transfer expired
  OCL08: ['internal', 500], // unbalanced entries: a bug, never the client's fault
  OCL09: ['internal', 500], // a chain written in parts or without its head: a bug too
};

const details: Record<string, string> = {
  exceeds_credits: 'The transfer would take the debit account\'s debits past its posted credits (debits_must_not_exceed_credits).',
  exceeds_debits: 'The transfer would take the credit account\'s credits past its posted debits (credits_must_not_exceed_debits).',
  account_closed: 'An account of the transfer is closed.',
  balance_overflow: 'A balance would exceed 128 bits.',
  debit_account_not_found: 'No such ledger account (debitAccountId).',
  credit_account_not_found: 'No such ledger account (creditAccountId).',
  pending_transfer_not_found: 'No such pending transfer (pendingId).',
  reversed_transfer_not_found: 'No such transfer to reverse (reverses).',
  pending_transfer_not_pending: 'pendingId names a transfer that is not a pending one.',
  pending_transfer_has_different_accounts: 'The accounts differ from the pending transfer\'s.',
  pending_transfer_has_different_amount: 'A void or expiry releases exactly the pending amount.',
  exceeds_pending_transfer_amount: 'A post may take at most the pending amount.',
  pending_transfer_not_expired: 'The pending transfer has not reached its timeout.',
  pending_transfer_expired: 'The pending transfer expired: it can no longer be posted or voided.',
  pending_transfer_already_resolved: 'The pending transfer was already posted, voided or expired.',
  accounts_must_have_the_same_asset: 'Both accounts of a transfer must hold the same asset (no conversion).',
  reversed_transfer_not_posted: 'Only a posted transfer can be reversed.',
  reversal_must_swap_the_accounts: 'A reversal debits the account the reversed transfer credited, and credits the one it debited.',
  exceeds_reversible_amount: 'Reversals of a transfer add up to more than it moved.',
  unbalanced_transfer: 'The ledger refused unbalanced entries.',
  chain_incomplete: 'The ledger refused a linked chain that was not written whole in one statement.',
};

export function ledgerProblem(code: string, detail: string, index?: number, status: [ProblemKind, number] = ['validation-failed', 400]): ProblemError {
  return new ProblemError(status[0], status[1], detail, { extensions: { ledgerCode: code, ...(index === undefined ? {} : { index }) } });
}

export const ledgerNotFound = (code: string, what: string, index?: number) => ledgerProblem(code, `No such ${what}.`, index, ['not-found', 404]);
export const ledgerConflict = (code: string, detail: string, index?: number) => ledgerProblem(code, detail, index, ['conflict', 409]);

interface DbError { code?: string; message?: string; detail?: string; constraint?: string }

/**
 * A database refusal of a transfer statement as the ledger problem it stands
 * for; `indexOf` finds the chain position of the transfer the error names.
 * Anything else is returned as is.
 */
export function fromLedgerDatabaseError(err: unknown, indexOf: (transferId: string | undefined) => number | undefined): unknown {
  const e = err as DbError;
  if (typeof e?.code !== 'string') return err;
  const status = statusOf[e.code];
  if (status) {
    const code = e.message ?? 'ledger_refused';
    return ledgerProblem(code, details[code] ?? code, indexOf(e.detail), status);
  }
  if (e.code === '23514' && (e.constraint === 'ledger_balances_u128' || e.message?.includes('ledger_balances_u128'))) {
    return ledgerConflict('balance_overflow', details.balance_overflow!, indexOf(undefined));
  }
  if (e.code === '23505' && (e.constraint === 'ledger_transfers_resolution_key' || e.message?.includes('ledger_transfers_resolution_key'))) {
    return ledgerConflict('pending_transfer_already_resolved', details.pending_transfer_already_resolved!, indexOf(undefined));
  }
  return err;
}
