import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { isUuid } from '../../kernel/ids.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { decimal } from './amount.ts';
import { resolveAsset } from './assets.ts';
import { ledgerConflict, ledgerNotFound, ledgerProblem } from './errors.ts';

interface AccountRow {
  id: string;
  code: string;
  name: string;
  asset: string;
  scale: number;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
  created_at: Date;
  cursor_ts: string;
  debits_pending: string;
  debits_posted: string;
  credits_pending: string;
  credits_posted: string;
  closed_at: Date | null;
}

export interface AccountInput {
  code: string;
  name: string;
  asset: string;
  scale?: number | undefined;
  flags?: { debits_must_not_exceed_credits?: boolean | undefined; credits_must_not_exceed_debits?: boolean | undefined } | undefined;
}

const accountColumns = sql`a.id, a.code, a.name, a.asset, a.scale, a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits,
  a.created_at, a.created_at::text AS cursor_ts, b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted, b.closed_at`;

const accountView = (r: AccountRow, asOf?: string) => ({
  id: r.id,
  code: r.code,
  name: r.name,
  asset: r.asset,
  scale: Number(r.scale),
  flags: {
    debits_must_not_exceed_credits: r.debits_must_not_exceed_credits,
    credits_must_not_exceed_debits: r.credits_must_not_exceed_debits,
    closed: r.closed_at !== null,
  },
  balances: {
    debitsPending: decimal(r.debits_pending),
    debitsPosted: decimal(r.debits_posted),
    creditsPending: decimal(r.credits_pending),
    creditsPosted: decimal(r.credits_posted),
    asOf: asOf ?? null,
  },
  closedAt: r.closed_at === null ? null : r.closed_at.toISOString(),
  createdAt: r.created_at.toISOString(),
});
export type AccountView = ReturnType<typeof accountView>;

/** Ledger accounts: created once, never edited; closing is an appended fact (ledger_account_closures). */
export function createAccountsService(platform: Platform) {
  async function read(tx: Session, id: string): Promise<AccountRow | undefined> {
    const [row] = await tx.query<AccountRow>(sql`
      SELECT ${accountColumns} FROM ledger_accounts a JOIN ledger_balances b ON b.tenant_id = a.tenant_id AND b.account_id = a.id
      WHERE a.id = ${id}`);
    return row;
  }

  return {
    async create(principal: Principal, input: AccountInput) {
      const { asset, scale } = resolveAsset(input.asset, input.scale);
      const debitsLimited = input.flags?.debits_must_not_exceed_credits === true;
      const creditsLimited = input.flags?.credits_must_not_exceed_debits === true;
      if (debitsLimited && creditsLimited) {
        throw ledgerProblem('flags_are_mutually_exclusive', 'An account limits its debits or its credits, not both.');
      }
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [clash] = await tx.query(sql`SELECT 1 FROM ledger_accounts WHERE code = ${input.code}`);
        if (clash) throw ledgerConflict('account_code_exists', `An account with code "${input.code}" exists already.`);
        const [created] = await tx.query<{ id: string }>(sql`
          INSERT INTO ledger_accounts (tenant_id, code, name, asset, scale, debits_must_not_exceed_credits, credits_must_not_exceed_debits)
          VALUES (${principal.tenantId}, ${input.code}, ${input.name}, ${asset}, ${scale}, ${debitsLimited}, ${creditsLimited})
          RETURNING id`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'ledger.account.created',
          target: { type: 'ledger_account', id: created!.id }, outcome: 'success',
          metadata: { code: input.code, asset, scale, debits_must_not_exceed_credits: debitsLimited, credits_must_not_exceed_debits: creditsLimited },
        });
        return accountView((await read(tx, created!.id))!);
      });
    },

    /** With `asOf`, the balances are recomputed from the entries up to that instant. */
    async get(principal: Principal, id: string, asOf?: string) {
      if (!isUuid(id)) throw ledgerNotFound('account_not_found', 'ledger account');
      return platform.withTenant(contextOf(principal), async (tx) => {
        const row = await read(tx, id.toLowerCase());
        if (!row) throw ledgerNotFound('account_not_found', 'ledger account');
        if (asOf === undefined) return accountView(row);
        const [sums] = await tx.query<Record<'debits_pending' | 'debits_posted' | 'credits_pending' | 'credits_posted', string>>(sql`
          SELECT
            coalesce(sum(amount) FILTER (WHERE side = 'debit' AND bucket = 'pending'), 0)::text AS debits_pending,
            coalesce(sum(amount) FILTER (WHERE side = 'debit' AND bucket = 'posted'), 0)::text AS debits_posted,
            coalesce(sum(amount) FILTER (WHERE side = 'credit' AND bucket = 'pending'), 0)::text AS credits_pending,
            coalesce(sum(amount) FILTER (WHERE side = 'credit' AND bucket = 'posted'), 0)::text AS credits_posted
          FROM ledger_entries WHERE account_id = ${row.id} AND created_at <= ${asOf}::timestamptz`);
        const closed = row.closed_at !== null && row.closed_at.getTime() <= new Date(asOf).getTime() ? row.closed_at : null;
        return accountView({ ...row, ...sums!, closed_at: closed }, new Date(asOf).toISOString());
      });
    },

    async list(principal: Principal, q: { limit?: number | undefined; cursor?: string | undefined; asset?: string | undefined }) {
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const rows = await platform.queryAsTenant<AccountRow>(contextOf(principal), sql`
        SELECT ${accountColumns} FROM ledger_accounts a JOIN ledger_balances b ON b.tenant_id = a.tenant_id AND b.account_id = a.id
        WHERE true
        ${after ? sql`AND (a.created_at, a.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ${q.asset ? sql`AND a.asset = ${q.asset}` : sql``}
        ORDER BY a.created_at DESC, a.id DESC LIMIT ${limit + 1}`);
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
      return { items: items.map((r) => accountView(r)), nextCursor };
    },

    /** Closing is final: the account takes no new debit or credit; pending amounts may still be released. */
    async close(principal: Principal, id: string) {
      if (!isUuid(id)) throw ledgerNotFound('account_not_found', 'ledger account');
      return platform.withTenant(contextOf(principal), async (tx) => {
        const row = await read(tx, id.toLowerCase());
        if (!row) throw ledgerNotFound('account_not_found', 'ledger account');
        if (row.closed_at !== null) throw ledgerConflict('account_already_closed', 'The account is closed already.');
        // The balance row's lock orders the closure against transfers in flight.
        await tx.query(sql`SELECT ledger_lock_accounts(${sql.param([row.id])}::uuid[], '{}'::uuid[])`);
        await tx.query(sql`INSERT INTO ledger_account_closures (tenant_id, account_id) VALUES (${principal.tenantId}, ${row.id})`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'ledger.account.closed',
          target: { type: 'ledger_account', id: row.id }, outcome: 'success', metadata: { code: row.code },
        });
        return accountView((await read(tx, row.id))!);
      });
    },
  };
}
