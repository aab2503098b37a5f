import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerCommand } from '../../src/cli/ledger.ts';
import { verifyCommand } from '../../src/cli/verify.ts';
import type { Database } from '../../src/db/client.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { verifierKeyString } from '../../src/kernel/translog/index.ts';
import { verifyLedger } from '../../src/modules/ledger/verify.ts';
import { json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { ledgerClient } from './helpers.ts';
import { independentlyVerify, type ProofBody } from './independent-verifier.ts';

let t: TestApp;
let a: Account;
let b: Account;
let A: ReturnType<typeof ledgerClient>;
let B: ReturnType<typeof ledgerClient>;
let key: string;
let dir: string;

const io = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
};
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
};
/** The running platform's database for the CLI (PGlite in memory has one connection); closing it is the app's job. */
const shared = (): Database => ({ ...t.platform.db, close: async () => {} }) as Database;
const cli = (args: string[], r = io()) => ledgerCommand(() => t.platform.config, args, r.io, shared);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-ledger-'));
  t = await startApp();
  a = await signup(t.app, 'Ledger A');
  b = await signup(t.app, 'Ledger B');
  A = ledgerClient(t, a);
  B = ledgerClient(t, b);
  key = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey;
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a counterparty verifies a transfer with the public key alone', () => {
  it('serves the leaf, the inclusion proof and a signed checkpoint that every verifier accepts', async () => {
    const x = await A.account();
    const y = await A.account();
    const transfer = json(await A.transfer({ debitAccountId: x.id, creditAccountId: y.id, amount: '4200', reference: 'order 7' }));
    // Later leaves: the proof is not of the last one.
    await A.transfer({ debitAccountId: y.id, creditAccountId: x.id, amount: '1' });
    const res = await A.call('GET', `/transfers/${transfer.id}/proof`);
    expect(res.statusCode).toBe(200);
    const proof = json<ProofBody & { digest: string; leafHash: string }>(res);
    expect(proof.transfer).toEqual(transfer);
    expect(proof.event.metadata.transfer).toEqual(transfer);
    expect(proof.event.metadata.digest).toBe(proof.digest);

    // 1. A verifier written from the specifications, sharing no code with the server.
    expect(independentlyVerify(proof, key)).toBe(a.tenantId);
    // 2. `ocsuite ledger verify-proof` (the same check, with the project's library).
    const proofFile = file('proof.json', res.body);
    const ok = io();
    expect(await cli(['verify-proof', '--key', key, '--proof', proofFile, '--transfer', transfer.id, '--tenant', a.tenantId], ok)).toBe(0);
    expect(ok.out.join('\n')).toContain(`OK transfer ${transfer.id}`);
    // 3. `ocsuite verify inclusion`: the proof body is both --proof and --checkpoint, its event is --event.
    const eventFile = file('event.json', JSON.stringify(proof.event));
    expect(await verifyCommand(['inclusion', '--key', key, '--checkpoint', proofFile, '--proof', proofFile, '--event', eventFile], io().io)).toBe(0);
  });

  it('fails on a changed transfer, a changed leaf, another transfer\'s proof, or a stranger\'s key', async () => {
    const x = await A.account();
    const y = await A.account();
    const transfer = json(await A.transfer({ debitAccountId: x.id, creditAccountId: y.id, amount: '100' }));
    const other = json(await A.transfer({ debitAccountId: x.id, creditAccountId: y.id, amount: '5' }));
    const proof = json<ProofBody>(await A.call('GET', `/transfers/${transfer.id}/proof`));
    const richer = { ...proof, transfer: { ...proof.transfer, amount: '1000000' } };
    const forgedLeaf = { ...proof, transfer: richer.transfer, event: { ...proof.event, metadata: { ...proof.event.metadata, transfer: richer.transfer } } };
    const { publicKey } = generateKeyPairSync('ed25519');
    const stranger = verifierKeyString(key.slice(0, key.indexOf('+')), publicKey);
    for (const [label, body, k] of [['amount', richer, key], ['leaf', forgedLeaf, key], ['stranger', proof, stranger]] as const) {
      expect(() => independentlyVerify(body, k), label).toThrow();
      const r = io();
      expect(await cli(['verify-proof', '--key', k, '--proof', file(`${label}.json`, JSON.stringify(body))], r), label).toBe(1);
      expect(r.err.join('\n'), label).toContain('FAILED');
    }
    expect(await cli(['verify-proof', '--key', key, '--proof', file('p.json', JSON.stringify(proof)), '--transfer', other.id])).toBe(1);
    expect(await cli(['verify-proof', '--key', key])).toBe(2);
  });
});

describe('tenant isolation', () => {
  it('tenant B cannot read, post to, resolve, reverse or prove tenant A\'s accounts and transfers', async () => {
    const x = await A.account();
    const y = await A.account();
    const mine = await B.account();
    const posted = json(await A.transfer({ debitAccountId: x.id, creditAccountId: y.id, amount: '10' }));
    const pending = json(await A.transfer({ kind: 'pending', debitAccountId: x.id, creditAccountId: y.id, amount: '10' }));
    for (const url of [`/accounts/${x.id}`, `/transfers/${posted.id}`, `/transfers/${posted.id}/proof`]) {
      const res = await B.call('GET', url);
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain(a.tenantId);
    }
    expect((await B.call('POST', `/accounts/${x.id}/close`)).statusCode).toBe(404);
    const attempts: [object, string][] = [
      [{ debitAccountId: x.id, creditAccountId: mine.id, amount: '1' }, 'debit_account_not_found'],
      [{ debitAccountId: mine.id, creditAccountId: y.id, amount: '1' }, 'credit_account_not_found'],
      [{ kind: 'post_pending', pendingId: pending.id }, 'pending_transfer_not_found'],
      [{ kind: 'void_pending', pendingId: pending.id }, 'pending_transfer_not_found'],
      [{ debitAccountId: mine.id, creditAccountId: y.id, amount: '1', reverses: posted.id }, 'credit_account_not_found'],
    ];
    for (const [body, code] of attempts) {
      const res = await B.transfer(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(404);
      expect(json(res).ledgerCode).toBe(code);
    }
    // A's id reused by B is B's own, unrelated transfer: ids are per tenant, nothing of A's answers.
    const reuse = await B.call('POST', '/transfers', { id: posted.id, debitAccountId: mine.id, creditAccountId: (await B.account()).id, amount: '3' });
    expect(reuse.statusCode).toBe(201);
    expect(json(reuse).amount).toBe('3');
    const listed = json(await B.call('GET', '/transfers?limit=200'));
    expect(listed.items.map((i: { amount: string }) => i.amount)).toEqual(['3']);
    expect(json(await B.call('GET', '/accounts?limit=200')).items.map((i: { id: string }) => i.id)).not.toContain(x.id);
    expect(await A.balances(x.id)).toMatchObject({ debitsPosted: '10', debitsPending: '10' });
    expect(json(await A.call('GET', `/transfers/${pending.id}`)).resolution).toBeNull();
  });
});

describe('ocsuite ledger verify', () => {
  it('passes an untouched ledger and finds a row changed as the owner with the triggers disabled', async () => {
    const owner = await signup(t.app, 'Tampered');
    const T = ledgerClient(t, owner);
    const x = await T.account();
    const y = await T.account();
    const victim = json(await T.transfer({ debitAccountId: x.id, creditAccountId: y.id, amount: '100' }));
    const pending = json(await T.transfer({ kind: 'pending', debitAccountId: x.id, creditAccountId: y.id, amount: '50' }));
    await T.transfer({ kind: 'post_pending', pendingId: pending.id, amount: '20' });
    const clean = io();
    expect(await cli(['verify', '--tenant', owner.tenantId, '--key', key], clean)).toBe(0);
    expect(clean.out.join('\n')).toContain('OK ledger');

    // The owner edits the amount behind the ledger's back.
    await withOwner(t.platform.db, async (tx) => {
      await tx.exec('ALTER TABLE ledger_transfers DISABLE TRIGGER USER');
      await tx.query(sql`UPDATE ledger_transfers SET amount = 1000 WHERE tenant_id = ${owner.tenantId} AND id = ${victim.id}`);
      await tx.exec('ALTER TABLE ledger_transfers ENABLE TRIGGER USER');
    });
    const found = await verifyLedger(t.platform.db, 5000, owner.tenantId, key);
    expect(found.ok).toBe(false);
    expect(found.findings.map((f) => f.kind)).toEqual(expect.arrayContaining(['balance-mismatch', 'leaf-mismatch']));
    const r = io();
    expect(await cli(['verify', '--tenant', owner.tenantId, '--key', key], r)).toBe(1);
    expect(r.err.join('\n')).toContain(victim.id);

    // Editing the leaf to match as well breaks the log itself.
    await withOwner(t.platform.db, async (tx) => {
      await tx.exec('ALTER TABLE audit_events DISABLE TRIGGER USER');
      await tx.query(sql`UPDATE audit_events SET metadata = jsonb_set(metadata, '{transfer,amount}', '"1000"')
        WHERE tenant_id = ${owner.tenantId} AND target_id = ${victim.id}`);
      await tx.exec('ALTER TABLE audit_events ENABLE TRIGGER USER');
    });
    const log = await verifyLedger(t.platform.db, 5000, owner.tenantId, key);
    expect(log.findings.map((f) => f.kind)).toContain('log');
    expect(log.log.ok).toBe(false);
  });

  it('refuses bad usage', async () => {
    expect(await cli(['verify'])).toBe(2);
    expect(await cli(['verify', '--tenant', 'not-a-uuid'])).toBe(2);
    expect(await cli(['nonsense', '--tenant', randomUUID()])).toBe(2);
  });
});
