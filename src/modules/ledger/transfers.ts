import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { sentTogether } from '../../db/transaction.ts';
import { appendAuditRecords } from '../../kernel/audit/append.ts';
import { auditActorOf, toAuditRecord, type AuditEventInput } from '../../kernel/audit/events.ts';
import { canonicalJson } from '../../kernel/audit/leaf.ts';
import { redactText } from '../../kernel/audit/redact.ts';
import { currentAuditRequest } from '../../kernel/audit/request-context.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { isUuid } from '../../kernel/ids.ts';
import { creationCursor } from '../../kernel/pagination/keyset-cursor.ts';
import type { Platform } from '../../kernel/platform.ts';
import { parseAmount } from './amount.ts';
import { fromLedgerDatabaseError, ledgerConflict, ledgerNotFound, ledgerProblem } from './errors.ts';
import { transferAction, transferLeafMetadata, transferView, type TransferKind, type TransferRow, type TransferView } from './transfer-record.ts';
import { createWebhookPublisher } from '../webhooks/publish.ts';

/** A transfer as a client sends it (one leg of a chain). */
export interface TransferInput {
  id: string;
  /** `expire_pending` is written by the expiry schedule only. */
  kind?: TransferKind | undefined;
  debitAccountId?: string | undefined;
  creditAccountId?: string | undefined;
  amount?: string | undefined;
  pendingId?: string | undefined;
  timeoutSeconds?: number | undefined;
  reverses?: string | undefined;
  code?: number | undefined;
  reference?: string | undefined;
}

/** The most transfers one linked chain may hold. */
export const MAX_CHAIN = 100;

interface Prepared {
  id: string;
  kind: TransferKind;
  debit: string | null;
  credit: string | null;
  amount: string | null;
  pendingId: string | null;
  timeoutSeconds: number | null;
  reverses: string | null;
  code: number;
  reference: string | null;
  hash: string;
}

export const TRANSFER_COLUMNS = sql`id, kind, debit_account_id, credit_account_id, amount::text AS amount, asset, scale, pending_id,
  timeout_seconds, expires_at, reverses, chain_id, chain_index, chain_size, code, reference, created_at, audit_event_id,
  encode(request_hash, 'hex') AS request_hash, created_at::text AS cursor_ts`;

const lower = (v: string | undefined) => (v === undefined ? null : v.toLowerCase());

/**
 * Static checks of one leg (what needs no database) and its request hash: the
 * body as the server understood it, with its place in the chain, so a replay
 * of the same id with another body — or in another chain — is told apart.
 */
function prepare(input: TransferInput, index: number, chain: { id: string; size: number }, internal: boolean): Prepared {
  const kind: TransferKind = input.kind ?? 'posted';
  if (kind === 'expire_pending' && !internal) throw ledgerProblem('kind_invalid', 'Pending transfers expire by themselves.', index);
  const resolves = kind === 'post_pending' || kind === 'void_pending' || kind === 'expire_pending';
  const at = (field: string, message: string): never => { throw ledgerProblem(`${field}_invalid`, message, index); };
  if (!isUuid(input.id)) at('id', 'id must be a UUID chosen by the client.');
  if (resolves) {
    if (input.pendingId === undefined) throw ledgerProblem('pending_id_required', `A ${kind} transfer names the pending transfer (pendingId).`, index);
    if (input.timeoutSeconds !== undefined) throw ledgerProblem('timeout_only_for_pending', 'Only a pending transfer has a timeout.', index);
    if (input.reverses !== undefined) throw ledgerProblem('reverses_only_for_posted', 'Only a posted transfer can be a reversal.', index);
  } else {
    if (input.pendingId !== undefined) throw ledgerProblem('pending_id_must_not_be_set', 'pendingId is for post_pending and void_pending transfers.', index);
    if (input.debitAccountId === undefined) throw ledgerProblem('debit_account_id_required', 'debitAccountId is required.', index);
    if (input.creditAccountId === undefined) throw ledgerProblem('credit_account_id_required', 'creditAccountId is required.', index);
    if (input.amount === undefined) throw ledgerProblem('amount_required', 'amount is required.', index);
    if (kind !== 'pending' && input.timeoutSeconds !== undefined) throw ledgerProblem('timeout_only_for_pending', 'Only a pending transfer has a timeout.', index);
    if (kind !== 'posted' && input.reverses !== undefined) throw ledgerProblem('reverses_only_for_posted', 'Only a posted transfer can be a reversal.', index);
  }
  for (const [field, v] of [['debitAccountId', input.debitAccountId], ['creditAccountId', input.creditAccountId], ['pendingId', input.pendingId], ['reverses', input.reverses]] as const) {
    if (v !== undefined && !isUuid(v)) at(field, `${field} must be a UUID.`);
  }
  if (input.debitAccountId !== undefined && input.debitAccountId.toLowerCase() === input.creditAccountId?.toLowerCase()) {
    throw ledgerProblem('accounts_must_be_different', 'A transfer debits one account and credits another.', index);
  }
  const amount = input.amount === undefined ? null : parseAmount(input.amount, 'amount', index).toString();
  // The reference is committed to in a public leaf: refuse what audit redaction would alter (token-shaped text).
  if (input.reference !== undefined && redactText(input.reference, 200) !== input.reference) {
    throw ledgerProblem('reference_invalid', 'reference must not hold credentials or token-shaped text (at most 200 characters).', index);
  }
  const p = {
    id: input.id.toLowerCase(), kind, debit: lower(input.debitAccountId), credit: lower(input.creditAccountId), amount,
    pendingId: lower(input.pendingId), timeoutSeconds: input.timeoutSeconds ?? null, reverses: lower(input.reverses),
    code: input.code ?? 0, reference: input.reference ?? null,
  };
  const hash = createHash('sha256').update(canonicalJson({ ...p, chainId: chain.id, chainIndex: index, chainSize: chain.size })).digest('hex');
  return { ...p, hash };
}

/** The webhook event of every recorded transfer (manifest `webhookEvents`); the payload is the transfer as ledger:read shows it. */
export const TRANSFER_EVENT = 'ledger.transfer.created';

const RETRYABLE = new Set(['40001', '40P01']);

/** Transfers: single, linked chains, two-phase; each committed one a leaf of the tenant's log. */
export function createTransfersService(platform: Platform) {
  const webhooks = createWebhookPublisher(platform);

  async function insertChain(tx: Session, tenantId: string, actor: AuditEventInput['actor'], legs: Prepared[]): Promise<TransferView[]> {
    // The insert trigger locks every balance row of the chain in account order before it moves any.
    const eventIds = legs.map(() => randomUUID());
    const col = <K extends keyof Prepared>(k: K) => sql.param(legs.map((l) => l[k]));
    const rows = await tx.query<TransferRow>(sql`
      INSERT INTO ledger_transfers (tenant_id, id, kind, debit_account_id, credit_account_id, amount, asset, scale, pending_id,
        timeout_seconds, reverses, chain_id, chain_index, chain_size, code, reference, request_hash, audit_event_id)
      SELECT ${tenantId}, t.id, t.kind, t.debit, t.credit, t.amount::numeric, NULL, NULL, t.pending, t.timeout, t.reverses,
        ${legs[0]!.id}, t.ord - 1, ${legs.length}, t.code, t.reference, decode(t.hash, 'hex'), t.event
      FROM unnest(${col('id')}::uuid[], ${col('kind')}::text[], ${col('debit')}::uuid[], ${col('credit')}::uuid[], ${col('amount')}::text[],
        ${col('pendingId')}::uuid[], ${col('timeoutSeconds')}::int[], ${col('reverses')}::uuid[], ${col('code')}::int[],
        ${col('reference')}::text[], ${col('hash')}::text[], ${sql.param(eventIds)}::uuid[])
        WITH ORDINALITY AS t(id, kind, debit, credit, amount, pending, timeout, reverses, code, reference, hash, event, ord)
      ORDER BY t.ord
      RETURNING ${TRANSFER_COLUMNS}`);
    const views = rows.sort((a, b) => Number(a.chain_index) - Number(b.chain_index)).map(transferView);
    // The leaves: one audit event per transfer, carrying the whole transfer and its digest, appended in one write.
    const now = new Date();
    const request = currentAuditRequest();
    const records = views.map((v, i) => ({
      ...toAuditRecord({
        tenantId, actor, action: transferAction(v.kind), target: { type: 'ledger_transfer', id: v.id }, outcome: 'success',
        metadata: transferLeafMetadata(tenantId, v), ...(request ? { request } : {}),
      }, now),
      id: eventIds[i]!,
    }));
    // Subscribed endpoints hear of each recorded transfer, in this transaction (outbox: only if the chain commits).
    // The leaves and the messages are independent writes: sent together.
    await sentTogether([appendAuditRecords(tx, records), webhooks.publishManyIn(tx, tenantId, TRANSFER_EVENT, views)]);
    return views;
  }

  /** A request whose ids exist already: the first result if every leg is the same, else 409. */
  async function replay(tenantId: string, legs: Prepared[]): Promise<TransferView[] | undefined> {
    const rows = await platform.withTenant({ tenantId }, (tx) =>
      tx.query<TransferRow>(sql`SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = ANY (${sql.param(legs.map((l) => l.id))}::uuid[])`));
    if (rows.length === 0) return undefined;
    const byId = new Map(rows.map((r) => [r.id, r]));
    const index = legs.findIndex((l) => byId.get(l.id)?.request_hash !== l.hash);
    if (index >= 0) {
      throw ledgerConflict('id_already_used', 'A transfer with this id exists with another body (or in another chain); ids are never reused.', legs.length > 1 ? index : undefined);
    }
    return legs.map((l) => transferView(byId.get(l.id)!));
  }

  async function create(tenantId: string, actor: AuditEventInput['actor'], inputs: TransferInput[], internal = false): Promise<{ transfers: TransferView[]; replayed: boolean }> {
    if (inputs.length === 0 || inputs.length > MAX_CHAIN) throw ledgerProblem('chain_size_invalid', `A linked chain holds 1 to ${MAX_CHAIN} transfers.`);
    const chain = { id: inputs[0]!.id?.toLowerCase(), size: inputs.length };
    const legs = inputs.map((input, i) => prepare(input, i, chain, internal));
    const seen = new Set<string>();
    legs.forEach((l, i) => {
      if (seen.has(l.id)) throw ledgerProblem('id_repeated_in_chain', 'Each transfer of a chain has its own id.', i);
      seen.add(l.id);
    });
    const indexOf = (id: string | undefined) => {
      if (legs.length === 1) return undefined;
      const i = legs.findIndex((l) => l.id === id);
      return i >= 0 ? i : undefined;
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const views = await platform.withTenant({ tenantId }, (tx) => insertChain(tx, tenantId, actor, legs));
        return { transfers: views, replayed: false };
      } catch (err) {
        // Whatever failed, a request whose ids exist already is a replay (or a reuse): its first answer decides.
        const replayed = await replay(tenantId, legs);
        if (replayed) return { transfers: replayed, replayed: true };
        const code = (err as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < 3) continue;
        throw fromLedgerDatabaseError(err, indexOf);
      }
    }
  }

  return {
    create(principal: Principal, inputs: TransferInput[]) {
      return create(principal.tenantId, auditActorOf(principal), inputs);
    },

    /** For the expiry schedule: one expire_pending transfer per due pending transfer, as the system. */
    expire(tenantId: string, pending: { id: string; amount: string }) {
      return create(tenantId, { type: 'system', id: 'ledger.expire' }, [{ id: randomUUID(), pendingId: pending.id, amount: pending.amount, kind: 'expire_pending' }], true);
    },

    async get(principal: Principal, id: string) {
      if (!isUuid(id)) throw ledgerNotFound('transfer_not_found', 'ledger transfer');
      const rows = await platform.queryAsTenant<TransferRow & { resolution_id: string | null; resolution_kind: string | null; reversed: string | null }>(contextOf(principal), sql`
        SELECT ${TRANSFER_COLUMNS},
          (SELECT r.id FROM ledger_transfers r WHERE r.tenant_id = t.tenant_id AND r.pending_id = t.id) AS resolution_id,
          (SELECT r.kind FROM ledger_transfers r WHERE r.tenant_id = t.tenant_id AND r.pending_id = t.id) AS resolution_kind,
          (SELECT sum(r.amount)::text FROM ledger_transfers r WHERE r.tenant_id = t.tenant_id AND r.reverses = t.id) AS reversed
        FROM ledger_transfers t WHERE id = ${id.toLowerCase()}`);
      const row = rows[0];
      if (!row) throw ledgerNotFound('transfer_not_found', 'ledger transfer');
      return {
        ...transferView(row),
        resolution: row.resolution_id ? { id: row.resolution_id, kind: row.resolution_kind! } : null,
        reversedAmount: row.reversed ?? '0',
      };
    },

    async list(principal: Principal, q: { accountId?: string | undefined; from?: string | undefined; to?: string | undefined; kind?: string | undefined; limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 50;
      const after = q.cursor ? creationCursor.decode(q.cursor) : undefined;
      const account = q.accountId?.toLowerCase();
      // History may trail the primary by the standby's lag (DATABASE_READ_URL); one transfer by id stays on the primary.
      const rows = await platform.withTenantRead(contextOf(principal), (tx) => tx.query<TransferRow>(sql`
        SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers
        WHERE true
        ${account ? sql`AND (debit_account_id = ${account} OR credit_account_id = ${account})` : sql``}
        ${q.from ? sql`AND created_at >= ${q.from}::timestamptz` : sql``}
        ${q.to ? sql`AND created_at < ${q.to}::timestamptz` : sql``}
        ${q.kind ? sql`AND kind = ${q.kind}` : sql``}
        ${after ? sql`AND (created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
        ORDER BY created_at DESC, id DESC LIMIT ${limit + 1}`));
      const { items, nextCursor } = creationCursor.page(rows, limit, (r) => ({ createdAt: r.cursor_ts!, id: r.id }));
      return { items: items.map(transferView), nextCursor };
    },
  };
}
