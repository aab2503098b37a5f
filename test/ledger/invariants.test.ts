import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { verifyLedger } from '../../src/modules/ledger/verify.ts';
import { json, signup, startApp, usingPostgres, type Account, type TestApp } from '../support/app.ts';
import { ledgerClient } from './helpers.ts';

let t: TestApp;
let key: string;

beforeAll(async () => {
  t = await startApp();
  key = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey;
});
afterAll(() => t?.close());

/** Per asset: debits = credits in both buckets; per account: its flag holds. */
async function assertInvariants(tenantId: string) {
  const perAsset = await withOwner(t.platform.db, (tx) => tx.query<{ asset: string; dp: string; cp: string; dd: string; cd: string }>(sql`
    SELECT a.asset, sum(b.debits_pending)::text AS dp, sum(b.credits_pending)::text AS cp, sum(b.debits_posted)::text AS dd, sum(b.credits_posted)::text AS cd
    FROM ledger_balances b JOIN ledger_accounts a ON a.tenant_id = b.tenant_id AND a.id = b.account_id
    WHERE b.tenant_id = ${tenantId} GROUP BY a.asset`));
  for (const r of perAsset) {
    expect(r.dp, r.asset).toBe(r.cp);
    expect(r.dd, r.asset).toBe(r.cd);
  }
  const broken = await withOwner(t.platform.db, (tx) => tx.query(sql`
    SELECT account_id FROM ledger_balances WHERE tenant_id = ${tenantId} AND (
      (debits_must_not_exceed_credits AND debits_pending + debits_posted > credits_posted) OR
      (credits_must_not_exceed_debits AND credits_pending + credits_posted > debits_posted))`));
  expect(broken).toEqual([]);
  const verified = await verifyLedger(t.platform.db, 10_000, tenantId, key);
  expect(verified.findings).toEqual([]);
}

type Op =
  | { op: 'posted' | 'pending'; from: number; to: number; amount: bigint }
  | { op: 'post' | 'void'; pending: number; amount: bigint | null }
  | { op: 'chain'; legs: { from: number; to: number; amount: bigint }[] };

// Accounts 0–3 hold EUR, 4–5 USD: mostly pairs of one asset, sometimes one account twice or two assets.
const sameAsset: [number, number][] = [];
for (const group of [[0, 1, 2, 3], [4, 5]]) for (const i of group) for (const j of group) if (i !== j) sameAsset.push([i, j]);
const pair = fc.oneof(
  { arbitrary: fc.constantFrom(...sameAsset), weight: 9 },
  { arbitrary: fc.constantFrom<[number, number]>([0, 0], [0, 4], [5, 1]), weight: 1 },
);
// Mostly valid amounts; some zero or negative, some past 128 bits.
const amount = fc.oneof(
  { arbitrary: fc.bigInt({ min: 1n, max: 400n }), weight: 8 },
  { arbitrary: fc.bigInt({ min: -5n, max: 0n }), weight: 1 },
  { arbitrary: fc.constant((1n << 128n) + 1n), weight: 1 },
);
const leg = fc.record({ pair, amount }).map(({ pair: [from, to], amount }) => ({ from, to, amount }));
// Single transfers weigh most and a sequence has at least 4 steps, so that a run always commits some
// (with equal weights and sequences of 1, "committed > 10" below failed by chance about half the time).
const ops = fc.array(fc.oneof(
  { arbitrary: fc.record({ op: fc.constantFrom('posted' as const, 'pending' as const), pair, amount }).map(({ op, pair: [from, to], amount }) => ({ op, from, to, amount })), weight: 3 },
  { arbitrary: fc.record({ op: fc.constantFrom('post' as const, 'void' as const), pending: fc.nat(20), amount: fc.option(fc.bigInt({ min: 0n, max: 400n })) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('chain' as const), legs: fc.array(leg, { minLength: 2, maxLength: 4 }) }), weight: 1 },
), { minLength: 4, maxLength: 14 });

describe('property: any sequence of valid and invalid transfers', () => {
  it('keeps debits = credits per asset, every balance flag, and a ledger that verifies', async () => {
    let run = 0;
    let committed = 0;
    await fc.assert(fc.asyncProperty(ops, async (sequence: Op[]) => {
      const owner: Account = await signup(t.app, `Property ${run++}`);
      const L = ledgerClient(t, owner);
      // Two assets; limited accounts on both sides; accounts 4 and 5 are USD (a leg between assets fails).
      const accounts = [
        await L.account('EUR'),
        await L.account('EUR', { debits_must_not_exceed_credits: true }),
        await L.account('EUR', { credits_must_not_exceed_debits: true }),
        await L.account('EUR', { debits_must_not_exceed_credits: true }),
        await L.account('USD'),
        await L.account('USD', { debits_must_not_exceed_credits: true }),
      ];
      // Funded, so that limited accounts take part and most valid-looking transfers commit.
      for (const [from, to] of [[0, 1], [0, 3], [2, 0], [4, 5]] as const) {
        expect((await L.transfer({ debitAccountId: accounts[from]!.id, creditAccountId: accounts[to]!.id, amount: '1000' })).statusCode).toBe(201);
      }
      const pendings: string[] = [];
      const body = (l: { from: number; to: number; amount: bigint }) => ({ id: randomUUID(), debitAccountId: accounts[l.from]!.id, creditAccountId: accounts[l.to]!.id, amount: l.amount.toString() });
      for (const o of sequence) {
        let res;
        if (o.op === 'posted' || o.op === 'pending') res = await L.call('POST', '/transfers', { ...body(o), kind: o.op, ...(o.op === 'pending' ? { timeoutSeconds: 3600 } : {}) });
        else if (o.op === 'chain') res = await L.linked(o.legs.map(body));
        else {
          const r = o as Extract<Op, { op: 'post' | 'void' }>;
          const pendingId = pendings[r.pending % Math.max(1, pendings.length)] ?? randomUUID();
          res = await L.call('POST', '/transfers', { id: randomUUID(), kind: r.op === 'post' ? 'post_pending' : 'void_pending', pendingId, ...(r.amount === null ? {} : { amount: r.amount.toString() }) });
        }
        expect(res.statusCode, res.body).toBeLessThan(500);
        if (res.statusCode === 201) committed++;
        if (res.statusCode === 201 && o.op === 'pending') pendings.push(json(res).id);
      }
      await assertInvariants(owner.tenantId);
    }), { numRuns: usingPostgres ? 8 : 12 });
    // The sequences exercised the ledger, not only its refusals.
    expect(committed).toBeGreaterThan(10);
  });
});

describe('concurrency', () => {
  it('50 concurrent transfers against one limited account never overdraw it', async () => {
    const owner = await signup(t.app, 'Hot account');
    const L = ledgerClient(t, owner);
    const funding = await L.account();
    const wallet = await L.account('EUR', { debits_must_not_exceed_credits: true });
    const shops = [await L.account(), await L.account(), await L.account()];
    await L.transfer({ debitAccountId: funding.id, creditAccountId: wallet.id, amount: '1000' });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      L.transfer({ debitAccountId: wallet.id, creditAccountId: shops[i % 3]!.id, amount: '30', ...(i % 5 === 0 ? { kind: 'pending' } : {}) })));
    const codes = results.map((r) => r.statusCode);
    expect(codes.every((c) => c === 201 || c === 409), codes.join(',')).toBe(true);
    for (const r of results.filter((x) => x.statusCode === 409)) expect(json(r).ledgerCode).toBe('exceeds_credits');
    // 1000 / 30: exactly 33 fit.
    expect(codes.filter((c) => c === 201)).toHaveLength(33);
    const b = await L.balances(wallet.id);
    expect(BigInt(b.debitsPosted!) + BigInt(b.debitsPending!)).toBe(990n);
    await assertInvariants(owner.tenantId);
  });

  it('chains locking the same accounts in opposite orders do not deadlock; concurrent replays of one id write it once', async () => {
    const owner = await signup(t.app, 'Crossing chains');
    const L = ledgerClient(t, owner);
    const acc = [await L.account(), await L.account(), await L.account(), await L.account()];
    const chain = (order: number[]) => L.linked(order.slice(0, -1).map((from, i) => ({ id: randomUUID(), debitAccountId: acc[from]!.id, creditAccountId: acc[order[i + 1]!]!.id, amount: '1' })));
    const runs = await Promise.all(Array.from({ length: 16 }, (_, i) => chain(i % 2 === 0 ? [0, 1, 2, 3] : [3, 2, 1, 0])));
    expect(runs.map((r) => r.statusCode)).toEqual(Array(16).fill(201));

    const body = { id: randomUUID(), debitAccountId: acc[0]!.id, creditAccountId: acc[1]!.id, amount: '7' };
    const replays = await Promise.all(Array.from({ length: 10 }, () => L.call('POST', '/transfers', body)));
    expect(replays.map((r) => r.statusCode)).toEqual(Array(10).fill(201));
    expect(new Set(replays.map((r) => r.body)).size).toBe(1);
    const [n] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ledger_transfers WHERE tenant_id = ${owner.tenantId} AND id = ${body.id}`));
    expect(n!.n).toBe(1);
    await assertInvariants(owner.tenantId);
  });
});
