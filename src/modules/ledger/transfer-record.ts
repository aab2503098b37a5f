import { createHash } from 'node:crypto';
import { canonicalJson } from '../../kernel/audit/leaf.ts';
import { decimal } from './amount.ts';

/** The stored columns of a transfer (ledger_transfers), as selected by TRANSFER_COLUMNS. */
export interface TransferRow {
  id: string;
  kind: TransferKind;
  debit_account_id: string;
  credit_account_id: string;
  amount: string;
  asset: string;
  scale: number;
  pending_id: string | null;
  timeout_seconds: number | null;
  expires_at: Date | string | null;
  reverses: string | null;
  chain_id: string;
  chain_index: number;
  chain_size: number;
  code: number;
  reference: string | null;
  created_at: Date | string;
  audit_event_id: string;
  request_hash?: string;
  cursor_ts?: string;
}

export type TransferKind = 'posted' | 'pending' | 'post_pending' | 'void_pending' | 'expire_pending';

const iso = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString();

/** A transfer as the API returns it and as its leaf commits to it: immutable fields only. */
export function transferView(r: TransferRow) {
  return {
    id: r.id,
    kind: r.kind,
    debitAccountId: r.debit_account_id,
    creditAccountId: r.credit_account_id,
    amount: decimal(r.amount),
    asset: r.asset,
    scale: Number(r.scale),
    pendingId: r.pending_id,
    timeoutSeconds: r.timeout_seconds === null ? null : Number(r.timeout_seconds),
    expiresAt: r.expires_at === null ? null : iso(r.expires_at),
    reverses: r.reverses,
    chainId: r.chain_id,
    chainIndex: Number(r.chain_index),
    chainSize: Number(r.chain_size),
    code: Number(r.code),
    reference: r.reference,
    createdAt: iso(r.created_at),
  };
}
export type TransferView = ReturnType<typeof transferView>;

export const LEDGER_LEAF_FORMAT = 'ocsuite.ledger.transfer.v1';

/**
 * The transfer's digest: SHA-256 of its canonical JSON (RFC 8785-style, as the
 * audit leaf) under the log of its tenant. A counterparty holding the transfer
 * recomputes it and finds it in the leaf's metadata.
 */
export function transferDigest(tenantId: string, t: TransferView): string {
  return createHash('sha256').update(canonicalJson({ format: LEDGER_LEAF_FORMAT, log: tenantId, transfer: t }), 'utf8').digest('hex');
}

/** What the transfer's audit event (its leaf) records: the whole transfer and its digest. */
export function transferLeafMetadata(tenantId: string, t: TransferView): Record<string, unknown> {
  return { format: LEDGER_LEAF_FORMAT, digest: transferDigest(tenantId, t), transfer: t };
}

export const transferAction = (kind: TransferKind) => `ledger.transfer.${kind}`;

export const TRANSFER_ACTIONS = ['posted', 'pending', 'post_pending', 'void_pending', 'expire_pending'].map((k) => transferAction(k as TransferKind));
