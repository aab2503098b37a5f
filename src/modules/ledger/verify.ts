import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import { withTenant } from '../../db/transaction.ts';
import { canonicalJson } from '../../kernel/audit/leaf.ts';
import { scanEvents } from '../../kernel/audit/read.ts';
import { redactMetadata } from '../../kernel/audit/redact.ts';
import { tenantLog } from '../../kernel/audit/service.ts';
import type { HistoryKey } from '../../kernel/audit/key-history.ts';
import { verifyStoredLog } from '../../kernel/audit/verify-db.ts';
import { transferAction, transferLeafMetadata, transferView, type TransferRow } from './transfer-record.ts';
import { TRANSFER_COLUMNS } from './transfers.ts';

export interface LedgerFinding {
  kind: 'balance-mismatch' | 'entries-mismatch' | 'leaf-missing' | 'leaf-mismatch' | 'unbalanced' | 'log';
  detail: string;
}

export interface LedgerVerification {
  ok: boolean;
  accounts: number;
  transfers: number;
  findings: LedgerFinding[];
  log: { ok: boolean; size: number; coveredSize: number };
}

type Sides = { debitsPending: bigint; debitsPosted: bigint; creditsPending: bigint; creditsPosted: bigint };
const zero = (): Sides => ({ debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n });
const key = (s: Sides) => `${s.debitsPending}/${s.debitsPosted}/${s.creditsPending}/${s.creditsPosted}`;
const CHUNK = 5_000;

/**
 * `ocsuite ledger verify --tenant ID`: recomputes every balance from the
 * transfers alone (not from the derived entries) and compares it with the
 * stored balances and with the entries; checks every transfer against its leaf
 * (the audit event that commits to it) and every transfer's entries for
 * balance; then re-verifies the tenant's log itself from its leaves. A row
 * edited behind the triggers shows up in at least one of these.
 */
export async function verifyLedger(db: Database, statementTimeoutMs: number, tenantId: string, verifierKey: string | readonly (string | HistoryKey)[]): Promise<LedgerVerification> {
  const opts = { statementTimeoutMs };
  const findings: LedgerFinding[] = [];
  const ctx = { tenantId };
  const transfers = await withTenant(db, ctx, opts, (tx) => tx.query<TransferRow>(sql`SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers ORDER BY created_at, chain_id, chain_index`));
  const byId = new Map(transfers.map((t) => [t.id, t]));
  const fromTransfers = new Map<string, Sides>();
  const move = (account: string, side: keyof Sides, amount: bigint) => {
    const s = fromTransfers.get(account) ?? zero();
    s[side] += amount;
    fromTransfers.set(account, s);
  };
  for (const t of transfers) {
    const amount = BigInt(t.amount);
    if (t.pending_id !== null) {
      const p = byId.get(t.pending_id);
      const released = p ? BigInt(p.amount) : 0n;
      move(t.debit_account_id, 'debitsPending', -released);
      move(t.credit_account_id, 'creditsPending', -released);
    }
    if (t.kind === 'pending') {
      move(t.debit_account_id, 'debitsPending', amount);
      move(t.credit_account_id, 'creditsPending', amount);
    } else if (t.kind === 'posted' || t.kind === 'post_pending') {
      move(t.debit_account_id, 'debitsPosted', amount);
      move(t.credit_account_id, 'creditsPosted', amount);
    }
  }
  const { balances, entries, unbalanced } = await withTenant(db, ctx, opts, async (tx) => ({
    balances: await tx.query<{ account_id: string; dp: string; dd: string; cp: string; cd: string }>(sql`
      SELECT account_id, debits_pending::text AS dp, debits_posted::text AS dd, credits_pending::text AS cp, credits_posted::text AS cd FROM ledger_balances`),
    entries: await tx.query<{ account_id: string; dp: string; dd: string; cp: string; cd: string }>(sql`
      SELECT account_id,
        coalesce(sum(amount) FILTER (WHERE side = 'debit' AND bucket = 'pending'), 0)::text AS dp,
        coalesce(sum(amount) FILTER (WHERE side = 'debit' AND bucket = 'posted'), 0)::text AS dd,
        coalesce(sum(amount) FILTER (WHERE side = 'credit' AND bucket = 'pending'), 0)::text AS cp,
        coalesce(sum(amount) FILTER (WHERE side = 'credit' AND bucket = 'posted'), 0)::text AS cd
      FROM ledger_entries GROUP BY account_id`),
    unbalanced: await tx.query<{ transfer_id: string }>(sql`
      SELECT transfer_id FROM ledger_entries GROUP BY transfer_id, bucket
      HAVING sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END) <> 0`),
  }));
  const sides = (r: { dp: string; dd: string; cp: string; cd: string }): Sides => ({ debitsPending: BigInt(r.dp), debitsPosted: BigInt(r.dd), creditsPending: BigInt(r.cp), creditsPosted: BigInt(r.cd) });
  const fromEntries = new Map(entries.map((e) => [e.account_id, sides(e)]));
  for (const b of balances) {
    const stored = key(sides(b));
    const recomputed = key(fromTransfers.get(b.account_id) ?? zero());
    if (stored !== recomputed) findings.push({ kind: 'balance-mismatch', detail: `account ${b.account_id}: stored ${stored}, from transfers ${recomputed} (debits pending/posted, credits pending/posted)` });
    const entered = key(fromEntries.get(b.account_id) ?? zero());
    if (entered !== recomputed) findings.push({ kind: 'entries-mismatch', detail: `account ${b.account_id}: entries ${entered}, from transfers ${recomputed}` });
  }
  for (const u of unbalanced) findings.push({ kind: 'unbalanced', detail: `transfer ${u.transfer_id}: its entries do not balance` });

  // Every transfer against the leaf that commits to it.
  const log = tenantLog(tenantId);
  const leaves = new Map<string, { action: string; metadata: Record<string, unknown> }>();
  for (let from = 0; ;) {
    const chunk = await withTenant(db, ctx, opts, (tx) => scanEvents(tx, log, { fromIndex: from, action: 'ledger.transfer.*' }, CHUNK));
    for (const e of chunk) leaves.set(e.id, { action: e.action, metadata: e.metadata });
    if (chunk.length < CHUNK) break;
    from = chunk[chunk.length - 1]!.leafIndex + 1;
  }
  for (const t of transfers) {
    const leaf = leaves.get(t.audit_event_id);
    if (!leaf) {
      findings.push({ kind: 'leaf-missing', detail: `transfer ${t.id}: no leaf ${t.audit_event_id} in the log` });
      continue;
    }
    const expected = redactMetadata(transferLeafMetadata(tenantId, transferView(t)));
    if (leaf.action !== transferAction(t.kind) || canonicalJson(leaf.metadata) !== canonicalJson(expected)) {
      findings.push({ kind: 'leaf-mismatch', detail: `transfer ${t.id}: the stored row differs from what its leaf committed to` });
    }
  }

  const logResult = await verifyStoredLog(db, statementTimeoutMs, tenantId, verifierKey);
  if (!logResult.ok) for (const f of logResult.findings) findings.push({ kind: 'log', detail: `${f.kind}: ${f.detail}` });
  return {
    ok: findings.length === 0,
    accounts: balances.length,
    transfers: transfers.length,
    findings,
    log: { ok: logResult.ok, size: logResult.size, coveredSize: logResult.coveredSize },
  };
}
