import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { ledgerModule } from '../../src/modules/ledger/manifest.ts';
import { expireDuePending } from '../../src/modules/ledger/expiry.ts';
import { json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { ledgerClient } from './helpers.ts';

let t: TestApp;
let owner: Account;
let L: ReturnType<typeof ledgerClient>;

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Two-phase');
  L = ledgerClient(t, owner);
});
afterAll(() => t?.close());

const transfers = async () => (await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM ledger_transfers WHERE tenant_id = ${owner.tenantId}`)))[0]!.n;

describe('two-phase transfers', () => {
  it('holds an amount as pending, then posts less of it and releases the rest', async () => {
    const a = await L.account('EUR', { debits_must_not_exceed_credits: true });
    const funding = await L.account();
    const b = await L.account();
    await L.transfer({ debitAccountId: funding.id, creditAccountId: a.id, amount: '1000' });
    const pending = json(await L.transfer({ kind: 'pending', debitAccountId: a.id, creditAccountId: b.id, amount: '700', timeoutSeconds: 3600 }));
    expect(pending).toMatchObject({ kind: 'pending', amount: '700', timeoutSeconds: 3600 });
    expect(new Date(pending.expiresAt).getTime() - new Date(pending.createdAt).getTime()).toBe(3_600_000);
    expect(await L.balances(a.id)).toMatchObject({ debitsPending: '700', debitsPosted: '0', creditsPosted: '1000' });
    // The pending amount counts against the limit: 400 more would overdraw.
    expect(json(await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: '301' })).ledgerCode).toBe('exceeds_credits');

    const tooMuch = await L.transfer({ kind: 'post_pending', pendingId: pending.id, amount: '701' });
    expect(tooMuch.statusCode).toBe(400);
    expect(json(tooMuch).ledgerCode).toBe('exceeds_pending_transfer_amount');
    const posted = await L.transfer({ kind: 'post_pending', pendingId: pending.id, amount: '650' });
    expect(posted.statusCode).toBe(201);
    expect(json(posted)).toMatchObject({ kind: 'post_pending', amount: '650', pendingId: pending.id, debitAccountId: a.id, creditAccountId: b.id });
    expect(await L.balances(a.id)).toMatchObject({ debitsPending: '0', debitsPosted: '650' });
    expect(await L.balances(b.id)).toMatchObject({ creditsPending: '0', creditsPosted: '650' });
    expect(json(await L.call('GET', `/transfers/${pending.id}`)).resolution).toEqual({ id: json(posted).id, kind: 'post_pending' });

    const before = await transfers();
    const again = await L.transfer({ kind: 'void_pending', pendingId: pending.id });
    expect(again.statusCode).toBe(409);
    expect(json(again).ledgerCode).toBe('pending_transfer_already_resolved');
    expect(await transfers()).toBe(before);
  });

  it('voids a pending transfer (full amount) and refuses to void a posted one', async () => {
    const a = await L.account();
    const b = await L.account();
    const pending = json(await L.transfer({ kind: 'pending', debitAccountId: a.id, creditAccountId: b.id, amount: '40' }));
    expect(json(await L.transfer({ kind: 'void_pending', pendingId: pending.id, amount: '39' })).ledgerCode).toBe('pending_transfer_has_different_amount');
    expect(json(await L.transfer({ kind: 'void_pending', pendingId: pending.id, debitAccountId: b.id })).ledgerCode).toBe('pending_transfer_has_different_accounts');
    const voided = await L.transfer({ kind: 'void_pending', pendingId: pending.id });
    expect(voided.statusCode).toBe(201);
    expect(json(voided)).toMatchObject({ kind: 'void_pending', amount: '40' });
    expect(await L.balances(a.id)).toMatchObject({ debitsPending: '0', debitsPosted: '0' });
    const posted = json(await L.transfer({ debitAccountId: a.id, creditAccountId: b.id, amount: '5' }));
    const voidPosted = await L.transfer({ kind: 'void_pending', pendingId: posted.id });
    expect(voidPosted.statusCode).toBe(409);
    expect(json(voidPosted).ledgerCode).toBe('pending_transfer_not_pending');
  });

  it('expires pending transfers after their timeout by the schedule, and refuses to post them after it', async () => {
    expect(ledgerModule.schedules?.map((s) => s.name)).toContain('ledger.pending.expire');
    const a = await L.account();
    const b = await L.account();
    const pending = json(await L.transfer({ kind: 'pending', debitAccountId: a.id, creditAccountId: b.id, amount: '25', timeoutSeconds: 1 }));
    const later = json(await L.transfer({ kind: 'pending', debitAccountId: a.id, creditAccountId: b.id, amount: '5', timeoutSeconds: 3600 }));
    await new Promise((r) => setTimeout(r, 1_200));
    const before = await transfers();
    const late = await L.transfer({ kind: 'post_pending', pendingId: pending.id });
    expect(late.statusCode).toBe(409);
    expect(json(late).ledgerCode).toBe('pending_transfer_expired');
    expect(await transfers()).toBe(before);
    expect(await L.balances(a.id)).toMatchObject({ debitsPending: '30' });

    const run = await expireDuePending(t.platform);
    expect(run.expired).toBeGreaterThanOrEqual(1);
    expect(await L.balances(a.id)).toMatchObject({ debitsPending: '5', debitsPosted: '0' });
    const detail = json(await L.call('GET', `/transfers/${pending.id}`));
    expect(detail.resolution.kind).toBe('expire_pending');
    expect(json(await L.call('GET', `/transfers/${detail.resolution.id}`))).toMatchObject({ kind: 'expire_pending', amount: '25', pendingId: pending.id });
    expect(json(await L.call('GET', `/transfers/${later.id}`)).resolution).toBeNull();
    // A second run finds nothing more to do for this tenant.
    await expireDuePending(t.platform);
    expect(await L.balances(a.id)).toMatchObject({ debitsPending: '5' });
    const [event] = await withOwner(t.platform.db, (tx) => tx.query<{ actor_type: string }>(sql`
      SELECT actor_type FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'ledger.transfer.expire_pending'`));
    expect(event?.actor_type).toBe('system');
  });

  it('refuses expire_pending from clients', async () => {
    const res = await L.transfer({ kind: 'expire_pending', pendingId: randomUUID() });
    expect(res.statusCode).toBe(400);
  });
});

describe('linked chains', () => {
  it('commits a chain of legs together, in order, each leg able to rely on the one before', async () => {
    const funding = await L.account();
    const wallet = await L.account('EUR', { debits_must_not_exceed_credits: true });
    const shop = await L.account();
    const fee = await L.account();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const chain = [
      { id: ids[0], debitAccountId: funding.id, creditAccountId: wallet.id, amount: '100' },
      { id: ids[1], debitAccountId: wallet.id, creditAccountId: shop.id, amount: '97' },
      { id: ids[2], debitAccountId: wallet.id, creditAccountId: fee.id, amount: '3' },
    ];
    const res = await L.linked(chain);
    expect(res.statusCode).toBe(201);
    const body = json(res);
    expect(body.transfers.map((x: { id: string; chainId: string; chainIndex: number; chainSize: number }) => [x.id, x.chainId, x.chainIndex, x.chainSize]))
      .toEqual(ids.map((id, i) => [id, ids[0], i, 3]));
    expect(await L.balances(wallet.id)).toMatchObject({ debitsPosted: '100', creditsPosted: '100' });
    // Replayed: the first result. One leg changed: 409, nothing written.
    const again = await L.linked(chain);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(json(again)).toEqual(body);
    const changed = await L.linked([chain[0]!, { ...chain[1]!, amount: '96' }, chain[2]!]);
    expect(changed.statusCode).toBe(409);
    expect(json(changed)).toMatchObject({ ledgerCode: 'id_already_used', index: 1 });
    // A leg of that chain sent alone is another request, not a replay.
    expect((await L.transfer(chain[1]!)).statusCode).toBe(409);
  });

  it('commits nothing when one leg fails, and names the failing leg', async () => {
    const a = await L.account();
    const limited = await L.account('EUR', { debits_must_not_exceed_credits: true });
    const b = await L.account();
    const before = await transfers();
    const res = await L.linked([
      { id: randomUUID(), debitAccountId: a.id, creditAccountId: limited.id, amount: '50' },
      { id: randomUUID(), debitAccountId: limited.id, creditAccountId: b.id, amount: '30' },
      { id: randomUUID(), debitAccountId: limited.id, creditAccountId: b.id, amount: '30' },
    ]);
    expect(res.statusCode).toBe(409);
    expect(json(res)).toMatchObject({ ledgerCode: 'exceeds_credits', index: 2 });
    expect(await transfers()).toBe(before);
    for (const acc of [a, limited, b]) expect(await L.balances(acc.id)).toMatchObject({ debitsPosted: '0', creditsPosted: '0' });
    const bad = await L.linked([
      { id: randomUUID(), debitAccountId: a.id, creditAccountId: b.id, amount: '5' },
      { id: randomUUID(), debitAccountId: a.id, creditAccountId: b.id, amount: '0' },
    ]);
    expect(json(bad)).toMatchObject({ ledgerCode: 'amount_must_be_positive', index: 1 });
    const dup = randomUUID();
    const repeated = await L.linked([
      { id: dup, debitAccountId: a.id, creditAccountId: b.id, amount: '5' },
      { id: dup, debitAccountId: a.id, creditAccountId: b.id, amount: '5' },
    ]);
    expect(json(repeated)).toMatchObject({ ledgerCode: 'id_repeated_in_chain', index: 1 });
    expect(await transfers()).toBe(before);
  });

  it('creates and posts a pending transfer in one chain', async () => {
    const a = await L.account();
    const b = await L.account();
    const pendingId = randomUUID();
    const res = await L.linked([
      { id: pendingId, kind: 'pending', debitAccountId: a.id, creditAccountId: b.id, amount: '10' },
      { id: randomUUID(), kind: 'post_pending', pendingId, amount: '8' },
    ]);
    expect(res.statusCode, res.body).toBe(201);
    expect(await L.balances(b.id)).toMatchObject({ creditsPending: '0', creditsPosted: '8' });
  });
});
