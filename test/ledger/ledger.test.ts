import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner, withTenant } from '../../src/db/transaction.ts';
import { recordAuditEvents } from '../../src/kernel/audit/events.ts';
import { addMember, bearer, enableMfa, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { ledgerClient } from './helpers.ts';

let t: TestApp;
let owner: Account;
let admin: Account;
let member: Account;
let L: ReturnType<typeof ledgerClient>;

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Ledger');
  admin = await addMember(t.app, owner, 'admin');
  member = await addMember(t.app, owner, 'member');
  L = ledgerClient(t, owner);
});
afterAll(() => t?.close());

const count = async (table: string) => {
  const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${sql.identifier(table)} WHERE tenant_id = ${owner.tenantId}`));
  return row!.n;
};
const snapshot = async () => ({ transfers: await count('ledger_transfers'), entries: await count('ledger_entries'), events: await count('audit_events') });

describe('accounts', () => {
  it('opens accounts with ISO 4217 and custom assets, and returns balances as decimal strings', async () => {
    const res = await L.call('POST', '/accounts', { code: 'cash-eur', name: 'Cash', asset: 'EUR' });
    expect(res.statusCode).toBe(201);
    const a = json(res);
    expect(a).toMatchObject({ code: 'cash-eur', asset: 'EUR', scale: 2, flags: { closed: false } });
    expect(a.balances).toEqual({ debitsPending: '0', debitsPosted: '0', creditsPending: '0', creditsPosted: '0', asOf: null });
    expect(json(await L.call('POST', '/accounts', { code: 'yen', name: 'Yen', asset: 'JPY' })).scale).toBe(0);
    expect(json(await L.call('POST', '/accounts', { code: 'pts', name: 'Points', asset: 'points', scale: 0 })).scale).toBe(0);
  });

  it('refuses bad accounts with stable codes', async () => {
    const cases: [object, number, string][] = [
      [{ code: 'x1', name: 'X', asset: 'ZZZ' }, 400, 'asset_unknown'],
      [{ code: 'x2', name: 'X', asset: 'EUR', scale: 3 }, 400, 'asset_scale_mismatch'],
      [{ code: 'x3', name: 'X', asset: 'points' }, 400, 'asset_scale_required'],
      [{ code: 'x4', name: 'X', asset: 'EUR', flags: { debits_must_not_exceed_credits: true, credits_must_not_exceed_debits: true } }, 400, 'flags_are_mutually_exclusive'],
      [{ code: 'cash-eur', name: 'Again', asset: 'EUR' }, 409, 'account_code_exists'],
    ];
    for (const [body, status, code] of cases) {
      const res = await L.call('POST', '/accounts', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(status);
      expect(json(res).ledgerCode).toBe(code);
    }
  });

  it('lets admins read but not write, members nothing, owners both', async () => {
    const a = await L.account();
    const asAdmin = ledgerClient(t, admin);
    expect((await asAdmin.call('GET', `/accounts/${a.id}`)).statusCode).toBe(200);
    expect((await asAdmin.call('POST', '/accounts', { code: 'adm', name: 'A', asset: 'EUR' })).statusCode).toBe(403);
    expect((await ledgerClient(t, member).call('GET', '/accounts')).statusCode).toBe(403);
  });

  it('lets an API key holding ledger:write post (machine postings, actor api_key), and a custom role grant writing', async () => {
    const keyOwner = await enableMfa(t.app, await signup(t.app, 'Ledger keys'));
    const K = ledgerClient(t, keyOwner);
    const a = await K.account();
    const b = await K.account();
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(keyOwner), payload: { name: 'poster', scopes: ['ledger:write'] } });
    expect(created.statusCode, created.body).toBe(201);
    const key = { accessToken: json(created).key as string };
    const posted = await t.app.inject({ method: 'POST', url: '/api/v1/ledger/transfers', headers: bearer(key), payload: { id: randomUUID(), debitAccountId: a.id, creditAccountId: b.id, amount: '3' } });
    expect(posted.statusCode, posted.body).toBe(201);
    // Writing is not reading: the key was given no ledger:read.
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/ledger/transfers/${json(posted).id}`, headers: bearer(key) })).statusCode).toBe(403);
    const [event] = await withOwner(t.platform.db, (tx) => tx.query<{ actor_type: string }>(sql`
      SELECT actor_type FROM audit_events WHERE tenant_id = ${keyOwner.tenantId} AND target_id = ${json(posted).id}`));
    expect(event?.actor_type).toBe('api_key');

    const role = json(await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(owner), payload: { name: 'bookkeeper', permissions: ['ledger:write', 'ledger:read'] } }));
    const set = await t.app.inject({ method: 'PUT', url: `/api/v1/members/${member.userId}/roles`, headers: bearer(owner), payload: { roles: ['member', role.id] } });
    expect(set.statusCode, set.body).toBe(200);
    const M = ledgerClient(t, member);
    const x = await M.account();
    expect((await M.call('GET', `/accounts/${x.id}`)).statusCode).toBe(200);
  });
});

describe('transfers', () => {
  it('posts a transfer, moves both balances and keeps debits = credits', async () => {
    const a = await L.account();
    const b = await L.account();
    const res = await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: '1250', code: 7, reference: 'invoice 42' });
    expect(res.statusCode).toBe(201);
    expect(json(res)).toMatchObject({ kind: 'posted', amount: '1250', asset: 'EUR', scale: 2, chainSize: 1, code: 7, reference: 'invoice 42' });
    expect(await L.balances(a.id)).toMatchObject({ debitsPosted: '1250', creditsPosted: '0' });
    expect(await L.balances(b.id)).toMatchObject({ debitsPosted: '0', creditsPosted: '1250' });
  });

  it('carries 128-bit amounts exactly', async () => {
    const a = await L.account('points', {}, { scale: 0 });
    const b = await L.account('points', {}, { scale: 0 });
    const max = ((1n << 128n) - 1n).toString();
    expect((await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: max })).statusCode).toBe(201);
    expect((await L.balances(b.id)).creditsPosted).toBe(max);
    const before = await snapshot();
    const over = await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: '1' });
    expect(over.statusCode).toBe(409);
    expect(json(over).ledgerCode).toBe('balance_overflow');
    expect(await snapshot()).toEqual(before);
  });

  it('replays the first result for the same id and body, 409 for the same id with another body', async () => {
    const a = await L.account();
    const b = await L.account();
    const body = { id: randomUUID(), debitAccountId: a.id, creditAccountId: b.id, amount: '500' };
    const first = await L.call('POST', '/transfers', body);
    const again = await L.call('POST', '/transfers', body);
    expect(again.statusCode).toBe(first.statusCode);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(json(again)).toEqual(json(first));
    expect(await L.balances(a.id)).toMatchObject({ debitsPosted: '500' });
    const other = await L.call('POST', '/transfers', { ...body, amount: '501' });
    expect(other.statusCode).toBe(409);
    expect(json(other).ledgerCode).toBe('id_already_used');
    expect(await L.balances(a.id)).toMatchObject({ debitsPosted: '500' });
  });

  it('refuses bad input with a stable code and writes nothing', async () => {
    const a = await L.account();
    const b = await L.account();
    const usd = await L.account('USD');
    const limited = await L.account('EUR', { debits_must_not_exceed_credits: true });
    const closed = await L.account();
    expect((await L.call('POST', `/accounts/${closed.id}/close`)).statusCode).toBe(200);
    const cases: [object, number, string][] = [
      [{ debitAccountId: a.id, creditAccountId: b.id, amount: '0' }, 400, 'amount_must_be_positive'],
      [{ debitAccountId: a.id, creditAccountId: b.id, amount: '-5' }, 400, 'amount_must_be_positive'],
      [{ debitAccountId: a.id, creditAccountId: b.id, amount: '12.50' }, 400, 'amount_must_be_a_decimal_integer'],
      [{ debitAccountId: a.id, creditAccountId: b.id, amount: '1e3' }, 400, 'amount_must_be_a_decimal_integer'],
      [{ debitAccountId: a.id, creditAccountId: b.id, amount: (1n << 128n).toString() }, 400, 'amount_overflow'],
      [{ debitAccountId: a.id, creditAccountId: a.id, amount: '1' }, 400, 'accounts_must_be_different'],
      [{ debitAccountId: a.id, creditAccountId: usd.id, amount: '1' }, 400, 'accounts_must_have_the_same_asset'],
      [{ debitAccountId: randomUUID(), creditAccountId: b.id, amount: '1' }, 404, 'debit_account_not_found'],
      [{ debitAccountId: a.id, creditAccountId: randomUUID(), amount: '1' }, 404, 'credit_account_not_found'],
      [{ debitAccountId: closed.id, creditAccountId: b.id, amount: '1' }, 409, 'account_closed'],
      [{ debitAccountId: a.id, creditAccountId: closed.id, amount: '1' }, 409, 'account_closed'],
      [{ debitAccountId: limited.id, creditAccountId: b.id, amount: '1' }, 409, 'exceeds_credits'],
      [{ kind: 'post_pending', pendingId: randomUUID() }, 404, 'pending_transfer_not_found'],
      [{ debitAccountId: a.id, creditAccountId: b.id, amount: '1', reference: 'Bearer abcdefghijklmnop' }, 400, 'reference_invalid'],
    ];
    const before = await snapshot();
    for (const [body, status, code] of cases) {
      const res = await L.transfer(body);
      expect(res.statusCode, `${JSON.stringify(body)} → ${res.body}`).toBe(status);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(json(res).ledgerCode, JSON.stringify(body)).toBe(code);
    }
    // A JSON number is not an amount: it is refused like any non-decimal string or coerced exactly.
    const float = await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: 1.5 });
    expect(float.statusCode).toBe(400);
    expect(await snapshot()).toEqual(before);
    expect(await L.balances(a.id)).toMatchObject({ debitsPosted: '0', creditsPosted: '0' });
  });

  it('reverses a transfer with one that names it, never beyond what it moved', async () => {
    const a = await L.account();
    const b = await L.account();
    const original = json(await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: '100' }));
    const wrongWay = await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: '10', reverses: original.id });
    expect(json(wrongWay).ledgerCode).toBe('reversal_must_swap_the_accounts');
    expect((await L.transfer({ debitAccountId: b.id, creditAccountId: a.id, amount: '60', reverses: original.id })).statusCode).toBe(201);
    const tooMuch = await L.transfer({ debitAccountId: b.id, creditAccountId: a.id, amount: '41', reverses: original.id });
    expect(tooMuch.statusCode).toBe(400);
    expect(json(tooMuch).ledgerCode).toBe('exceeds_reversible_amount');
    expect(json(await L.call('GET', `/transfers/${original.id}`)).reversedAmount).toBe('60');
  });

  it('lists transfers by account, time range and cursor, and balances as of a past time', async () => {
    const a = await L.account();
    const b = await L.account();
    for (const amount of ['1', '2', '3']) await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount });
    const first = json(await L.call('GET', `/transfers?accountId=${a.id}&limit=2`));
    expect(first.items.map((x: { amount: string }) => x.amount)).toEqual(['3', '2']);
    const second = json(await L.call('GET', `/transfers?accountId=${a.id}&limit=2&cursor=${first.nextCursor}`));
    expect(second.items.map((x: { amount: string }) => x.amount)).toEqual(['1']);
    expect(second.nextCursor).toBeNull();
    const oldest = second.items[0];
    const asOf = json(await L.call('GET', `/accounts/${a.id}?asOf=${encodeURIComponent(oldest.createdAt)}`));
    expect(BigInt(asOf.balances.debitsPosted)).toBeGreaterThanOrEqual(1n);
    expect(BigInt(asOf.balances.debitsPosted)).toBeLessThanOrEqual(6n);
    const before = json(await L.call('GET', `/accounts/${a.id}?asOf=2000-01-01T00:00:00Z`));
    expect(before.balances).toMatchObject({ debitsPosted: '0', asOf: '2000-01-01T00:00:00.000Z' });
    const none = json(await L.call('GET', `/transfers?accountId=${a.id}&to=2000-01-01T00:00:00Z`));
    expect(none.items).toEqual([]);
  });

  it('records every write as an audit event', async () => {
    const a = await L.account();
    const b = await L.account();
    const tr = json(await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: '9' }));
    const events = await withOwner(t.platform.db, (tx) => tx.query<{ action: string; target_id: string }>(sql`
      SELECT action, target_id FROM audit_events WHERE tenant_id = ${owner.tenantId} AND target_id IN (${a.id}, ${tr.id})`));
    expect(events.map((e) => e.action).sort()).toEqual(['ledger.account.created', 'ledger.transfer.posted']);
  });
});

describe('the database enforces it too', () => {
  it('refuses UPDATE, DELETE and TRUNCATE as the runtime role, and as the owner', async () => {
    const a = await L.account();
    const b = await L.account();
    await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: '5' });
    const ctx = { tenantId: owner.tenantId };
    const opts = { statementTimeoutMs: 5000 };
    for (const statement of [
      sql`UPDATE ledger_transfers SET amount = 1`,
      sql`DELETE FROM ledger_transfers`,
      sql`UPDATE ledger_balances SET credits_posted = 0`,
      sql`DELETE FROM ledger_entries`,
      sql`UPDATE ledger_accounts SET name = 'x'`,
      sql`INSERT INTO ledger_entries (tenant_id, transfer_id, account_id, side, bucket, amount, created_at) SELECT tenant_id, id, debit_account_id, 'debit', 'posted', 1, now() FROM ledger_transfers LIMIT 1`,
      sql`TRUNCATE ledger_transfers CASCADE`,
    ]) {
      await expect(withTenant(t.platform.db, ctx, opts, (tx) => tx.query(statement))).rejects.toMatchObject({ code: '42501' });
    }
    for (const statement of [sql`UPDATE ledger_transfers SET amount = 1`, sql`DELETE FROM ledger_entries`, sql`DELETE FROM ledger_balances`, sql`TRUNCATE ledger_transfers CASCADE`]) {
      await expect(withOwner(t.platform.db, (tx) => tx.query(statement))).rejects.toMatchObject({ code: 'OC002' });
    }
    expect(await L.balances(b.id)).toMatchObject({ creditsPosted: '5' });
  });

  it('refuses an unbalanced or unlogged transfer even from code that bypasses the service', async () => {
    const a = await L.account();
    const b = await L.account();
    const ctx = { tenantId: owner.tenantId };
    // No leaf in the log for it: the deferred foreign key refuses the commit.
    const id = randomUUID();
    const insert = withTenant(t.platform.db, ctx, { statementTimeoutMs: 5000 }, (tx) => tx.query(sql`
      INSERT INTO ledger_transfers (tenant_id, id, kind, debit_account_id, credit_account_id, amount, asset, scale, chain_id, chain_index, chain_size, request_hash, audit_event_id)
      VALUES (${owner.tenantId}, ${id}, 'posted', ${a.id}, ${b.id}, 10, 'EUR', 2, ${id}, 0, 1, sha256('x'), gen_random_uuid())`));
    await expect(insert).rejects.toMatchObject({ code: '23503' });
    expect(await L.balances(a.id)).toMatchObject({ debitsPosted: '0' });
  });

  it('refuses a linked chain that is not written whole in one statement (the commit check covers chains by their head)', async () => {
    const a = await L.account();
    const b = await L.account();
    const ctx = { tenantId: owner.tenantId };
    const row = (id: string, chain: string, index: number, size: number) => sql`(${owner.tenantId}::uuid, ${id}::uuid, 'posted', ${a.id}::uuid, ${b.id}::uuid, 10, 'EUR', 2, ${chain}::uuid, ${index}, ${size}, sha256('x'), gen_random_uuid())`;
    const insert = (...rows: ReturnType<typeof row>[]) => withTenant(t.platform.db, ctx, { statementTimeoutMs: 5000 }, (tx) => tx.query(sql`
      INSERT INTO ledger_transfers (tenant_id, id, kind, debit_account_id, credit_account_id, amount, asset, scale, chain_id, chain_index, chain_size, request_hash, audit_event_id)
      VALUES ${sql.join(rows, sql`, `)}`));
    const [h, x] = [randomUUID(), randomUUID()];
    // A head whose id is not the chain id, a chain missing a leg, a leg appended to another chain, a repeated index.
    await expect(insert(row(h, x, 0, 1))).rejects.toMatchObject({ code: 'OCL09' });
    await expect(insert(row(h, h, 0, 2))).rejects.toMatchObject({ code: 'OCL09' });
    await expect(insert(row(h, h, 0, 2), row(x, h, 0, 2))).rejects.toMatchObject({ code: 'OCL09' });
    const done = json(await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: '1' })) as { id: string };
    await expect(insert(row(x, done.id, 1, 2))).rejects.toMatchObject({ code: 'OCL09' });
    expect(await L.balances(a.id)).toMatchObject({ debitsPosted: '1' });
  });

  it('refuses at COMMIT a chain with a leg whose entries are missing, even when its head balances', async () => {
    const a = await L.account();
    const b = await L.account();
    const [h, x] = [randomUUID(), randomUUID()];
    // As the owner, with the trigger that writes entries switched off for this transaction only (DDL rolls back).
    const attempt = withOwner(t.platform.db, async (tx) => {
      await tx.query(sql`SELECT set_config('app.tenant_id', ${owner.tenantId}, true)`);
      await tx.exec('ALTER TABLE ledger_transfers DISABLE TRIGGER ledger_transfers_apply');
      const events = await recordAuditEvents(tx, [h, x].map((id) => ({ tenantId: owner.tenantId, actor: { type: 'system' as const, id: 'test' }, action: 'ledger.transfer.posted', target: { type: 'ledger_transfer', id }, outcome: 'success' as const })));
      await tx.query(sql`
        INSERT INTO ledger_transfers (tenant_id, id, kind, debit_account_id, credit_account_id, amount, asset, scale, chain_id, chain_index, chain_size, request_hash, audit_event_id)
        VALUES (${owner.tenantId}, ${h}, 'posted', ${a.id}, ${b.id}, 10, 'EUR', 2, ${h}, 0, 2, sha256('x'), ${events[0]!.id}),
               (${owner.tenantId}, ${x}, 'posted', ${a.id}, ${b.id}, 10, 'EUR', 2, ${h}, 1, 2, sha256('x'), ${events[1]!.id})`);
      await tx.query(sql`
        INSERT INTO ledger_entries (tenant_id, transfer_id, account_id, side, bucket, amount, created_at)
        VALUES (${owner.tenantId}, ${h}, ${a.id}, 'debit', 'posted', 10, now()), (${owner.tenantId}, ${h}, ${b.id}, 'credit', 'posted', 10, now())`);
    });
    await expect(attempt).rejects.toMatchObject({ code: 'OCL08', detail: x });
    expect(await L.balances(a.id)).toMatchObject({ debitsPosted: '0' });
  });
});
