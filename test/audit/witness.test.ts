import { randomBytes, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { recordAuditEvents, type AuditEventInput } from '../../src/kernel/audit/events.ts';
import { addCheckpointBody } from '../../src/kernel/audit/witness.ts';
import { cosignatureVerifierKey, parseCosignatureVerifierKey, parseVerifierKey, signCosignature, verifyCheckpoint, verifyCosigned, verifyConsistency } from '../../src/kernel/translog/index.ts';
import { verifyCommand } from '../../src/cli/verify.ts';
import { bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { startWitness, type TestWitness } from './witness-server.ts';

let t: TestApp;
let a: Account;
let w1: TestWitness;
const offline = (() => {
  const k = generateKeyPairSync('ed25519');
  return { name: 'offline.example/w', privateKey: k.privateKey, vkey: cosignatureVerifierKey('offline.example/w', k.publicKey) };
})();
const operatorToken = randomBytes(32).toString('base64url');
const op = { authorization: `Bearer ${operatorToken}` };
const b64 = (s: string) => Buffer.from(s, 'base64');

async function logKeys(): Promise<string[]> {
  const res = await t.app.inject({ method: 'GET', url: '/api/v1/translog/keys' });
  return json(res).keys.map((k: { verifierKey: string }) => k.verifierKey);
}
const logKey = async () => json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey as string;

const event = (tenantId: string | null, i: number): AuditEventInput => ({ tenantId, actor: { type: 'system' }, action: 'test.witnessed', outcome: 'success', metadata: { i } });
const appendTenant = (n: number) => t.platform.withTenant({ tenantId: a.tenantId }, (tx) => recordAuditEvents(tx, Array.from({ length: n }, (_, i) => event(a.tenantId, i))));
const appendPlatform = (n: number) => t.platform.withIdentity((tx) => recordAuditEvents(tx, Array.from({ length: n }, (_, i) => event(null, i))));

async function eventually<T>(what: string, f: () => Promise<T | undefined>, ms = 90_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The tenant checkpoint as served, once it carries a cosignature of `w` for at least `size`. */
const tenantCosigned = (w: TestWitness, size: number) => eventually(`cosignature of size ${size}`, async () => {
  const cp = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(a) }));
  if (cp.size < size) return undefined;
  try {
    verifyCosigned(cp.checkpoint, parseCosignatureVerifierKey(w.vkey));
    return cp;
  } catch {
    return undefined;
  }
});

function cli(args: string[]): { code: Promise<number>; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { code: verifyCommand(args, { out: (l) => out.push(l), err: (l) => err.push(l) }), out, err };
}

beforeAll(async () => {
  w1 = await startWitness('witness.test/w1', logKeys);
  t = await startApp({
    OCSUITE_WITNESSES: `${w1.url} ${w1.vkey}, ${offline.vkey}`,
    OCSUITE_WITNESS_LOGS: 'all',
    OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1',
    OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.0/8',
    OCSUITE_OPERATOR_TOKEN: operatorToken,
  });
  a = await signup(t.app, 'Witnessed');
}, 120_000);
afterAll(async () => {
  await t?.close();
  await w1?.close();
});

describe('witness pushes on the job system (C2SP tlog-witness add-checkpoint)', () => {
  it('retries a witness that is down, then stores and serves its verified cosignature', async () => {
    w1.failNext = 1;
    await appendTenant(3);
    const served = await tenantCosigned(w1, 1);
    const origin = verifyCheckpoint(served.checkpoint, parseVerifierKey(await logKey())).origin;
    const mine = w1.requests.filter((r) => r.origin === origin);
    // The first attempt met a 503: the job system tried again and the second one was cosigned.
    expect(mine[0]!.status).toBe(503);
    expect(mine.some((r) => r.status === 200 && r.size === served.size)).toBe(true);
    // Stored next to the checkpoint, in the tenant's own rows.
    const rows = await t.platform.withTenant({ tenantId: a.tenantId }, (tx) => tx.query<{ witness: string; size: unknown }>(sql`SELECT witness, size FROM translog_cosignatures WHERE tenant_id = ${a.tenantId}`));
    expect(rows.map((r) => [r.witness, Number(r.size)])).toContainEqual(['witness.test/w1', served.size]);
    // The log's own signature still verifies the note with the cosignature appended.
    expect(verifyCheckpoint(served.checkpoint, parseVerifierKey(await logKey())).size).toBe(served.size);
  }, 120_000);

  it('sends a consistency proof from the size the witness last cosigned, which it checks', async () => {
    const before = await tenantCosigned(w1, 1);
    await appendTenant(5);
    const after = await tenantCosigned(w1, before.size + 5);
    const origin = verifyCheckpoint(after.checkpoint, parseVerifierKey(await logKey())).origin;
    const req = w1.requests.find((r) => r.origin === origin && r.size === after.size && r.status === 200)!;
    expect(req.old).toBe(before.size);
    // The same proof as the API's, between the two served checkpoints.
    const p = json(await t.app.inject({ method: 'GET', url: `/api/v1/translog/proof/consistency?from=${before.size}&to=${after.size}`, headers: bearer(a) }));
    verifyConsistency(before.size, after.size, p.proof.map(b64), b64(before.rootHash), b64(after.rootHash));
    expect(p.checkpoint).toBe(after.checkpoint);
  }, 120_000);

  it('follows a 409 to the size the witness holds (its record lost here: it starts again from 0)', async () => {
    const before = await tenantCosigned(w1, 1);
    const origin = verifyCheckpoint(before.checkpoint, parseVerifierKey(await logKey())).origin;
    w1.state.delete(origin);
    await appendTenant(2);
    const after = await tenantCosigned(w1, before.size + 2);
    const asked = w1.requests.filter((r) => r.origin === origin && r.size === after.size);
    expect(asked.map((r) => [r.old, r.status])).toEqual([[before.size, 409], [0, 200]]);
  }, 120_000);

  it('`ocsuite verify checkpoint --witness` passes with the witness key and fails with another', async () => {
    const served = await tenantCosigned(w1, 1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'witness-'));
    const file = path.join(dir, 'checkpoint.json');
    fs.writeFileSync(file, JSON.stringify(served));
    const key = await logKey();
    const ok = cli(['checkpoint', file, '--key', key, '--witness', w1.vkey]);
    expect(await ok.code).toBe(0);
    expect(ok.out.join('\n')).toContain('cosigned by witness.test/w1');
    const other = cosignatureVerifierKey('witness.test/w1', generateKeyPairSync('ed25519').publicKey);
    const bad = cli(['checkpoint', file, '--key', key, '--witness', w1.vkey, '--witness', other]);
    expect(await bad.code).toBe(1);
    expect(bad.err.join('\n')).toMatch(/no cosignature by the witness witness\.test\/w1\+/);
    // The offline witness never cosigned this one.
    expect(await cli(['checkpoint', file, '--key', key, '--witness', offline.vkey]).code).toBe(1);
    // A log key is not a witness key: usage error.
    expect(await cli(['checkpoint', file, '--key', key, '--witness', key]).code).toBe(2);
    // A forged body fails the log key before any witness is asked.
    fs.writeFileSync(file, served.checkpoint.replace(`\n${served.size}\n`, `\n${served.size + 1}\n`));
    expect(await cli(['checkpoint', file, '--key', key, '--witness', w1.vkey]).code).toBe(1);
  }, 120_000);

  it('refuses a cosignature that does not verify: nothing stored, a dead letter, an audit event', async () => {
    w1.forge = true;
    try {
      await appendTenant(1);
      const cp = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(a) }));
      const refused = await eventually('the refusal', async () => {
        const page = json(await t.app.inject({ method: 'GET', url: '/api/v1/operator/translog/events?action=audit.cosignature.refused&limit=200', headers: op }));
        return page.items.find((e: { target: { id: string } }) => e.target.id === `${a.tenantId}/${cp.size}`);
      });
      expect(refused.metadata).toMatchObject({ witness: 'witness.test/w1', via: 'push' });
      const rows = await t.platform.withTenant({ tenantId: a.tenantId }, (tx) => tx.query(sql`SELECT 1 FROM translog_cosignatures WHERE tenant_id = ${a.tenantId} AND size = ${cp.size}`));
      expect(rows).toEqual([]);
      const served = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(a) }));
      expect(() => verifyCosigned(served.checkpoint, parseCosignatureVerifierKey(w1.vkey))).toThrow();
      // The push ended as a dead letter at once (a retry would get the same bad line), for operators to see.
      const dead = await eventually('the dead letter', async () => {
        const list = json(await t.app.inject({ method: 'GET', url: '/api/v1/operator/jobs/dead-letters?queue=translog.witness.push', headers: op }));
        return list.items.find((d: { payload: { log: string; size: number } }) => d.payload?.log === a.tenantId && d.payload?.size === cp.size);
      });
      expect(dead.error).toMatch(/refused/);
    } finally {
      w1.forge = false;
    }
  }, 120_000);
});

describe('the platform log for operators', () => {
  const routes = ['/api/v1/operator/translog/checkpoint', '/api/v1/operator/translog/proof/consistency', '/api/v1/operator/translog/proof/inclusion', '/api/v1/operator/translog/events'];

  it('needs the operator token: 401 without one and with a tenant owner\'s token', async () => {
    for (const url of routes) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBe(401);
      expect((await t.app.inject({ method: 'GET', url, headers: bearer(a) })).statusCode, url).toBe(401);
      expect((await t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${operatorToken}x` } })).statusCode, url).toBe(401);
    }
    const post = { method: 'POST' as const, url: '/api/v1/operator/translog/cosignatures', payload: { log: 'platform', size: 1, cosignatures: 'x' } };
    expect((await t.app.inject(post)).statusCode).toBe(401);
    expect((await t.app.inject({ ...post, headers: bearer(a) })).statusCode).toBe(401);
  });

  it('serves the platform checkpoint, cosigned by the pushed witness, and its proofs', async () => {
    await appendPlatform(2);
    const cp = await eventually('platform cosignature', async () => {
      const body = json(await t.app.inject({ method: 'GET', url: '/api/v1/operator/translog/checkpoint', headers: op }));
      try {
        verifyCosigned(body.checkpoint, parseCosignatureVerifierKey(w1.vkey));
        return body;
      } catch {
        return undefined;
      }
    });
    const head = verifyCheckpoint(cp.checkpoint, parseVerifierKey(await logKey()));
    expect(head.origin.endsWith('/platform')).toBe(true);
    const proof = json(await t.app.inject({ method: 'GET', url: `/api/v1/operator/translog/proof/inclusion?index=0&size=${head.size}`, headers: op }));
    expect(proof.size).toBe(head.size);
    const events = json(await t.app.inject({ method: 'GET', url: '/api/v1/operator/translog/events?limit=5', headers: op }));
    expect(events.items.length).toBeGreaterThan(0);
  }, 120_000);

  it('accepts a configured offline witness\'s cosignature from an operator, refuses a forged one (audited)', async () => {
    const cp = json(await t.app.inject({ method: 'GET', url: '/api/v1/operator/translog/checkpoint', headers: op }));
    const note = verifyCheckpoint(cp.checkpoint, parseVerifierKey(await logKey())) && cp.checkpoint;
    const line = signCosignature(note, offline, Math.floor(Date.now() / 1000));
    const forged = signCosignature(note, { name: offline.name, privateKey: generateKeyPairSync('ed25519').privateKey }, Math.floor(Date.now() / 1000));
    const bad = await t.app.inject({ method: 'POST', url: '/api/v1/operator/translog/cosignatures', headers: op, payload: { log: 'platform', size: cp.size, cosignatures: `${forged}\n` } });
    expect(bad.statusCode).toBe(422);
    // A witness nobody configured is not accepted at all.
    const stranger = generateKeyPairSync('ed25519').privateKey;
    const unknown = await t.app.inject({ method: 'POST', url: '/api/v1/operator/translog/cosignatures', headers: op, payload: { log: 'platform', size: cp.size, cosignatures: signCosignature(note, { name: 'stranger.example/w', privateKey: stranger }, 1) } });
    expect(unknown.statusCode).toBe(422);
    const missing = await t.app.inject({ method: 'POST', url: '/api/v1/operator/translog/cosignatures', headers: op, payload: { log: 'platform', size: cp.size + 1000, cosignatures: line } });
    expect(missing.statusCode).toBe(404);
    const good = await t.app.inject({ method: 'POST', url: '/api/v1/operator/translog/cosignatures', headers: op, payload: { log: 'platform', size: cp.size, cosignatures: `${line}\n` } });
    expect(good.statusCode).toBe(200);
    expect(json(good).stored).toEqual([expect.objectContaining({ witness: offline.name })]);
    const served = json(await t.app.inject({ method: 'GET', url: '/api/v1/operator/translog/checkpoint', headers: op }));
    if (served.size === cp.size) expect(verifyCosigned(served.checkpoint, parseCosignatureVerifierKey(offline.vkey)).name).toBe(offline.name);
    const refused = json(await t.app.inject({ method: 'GET', url: '/api/v1/operator/translog/events?action=audit.cosignature.refused&limit=200', headers: op }));
    expect(refused.items.some((e: { target: { id: string }; metadata: { via: string } }) => e.target.id === `platform/${cp.size}` && e.metadata.via === 'operator')).toBe(true);
  });

  it('builds add-checkpoint bodies as tlog-witness specifies', () => {
    const note = 'o\n1\nAAAA\n\n— o x\n';
    expect(addCheckpointBody(0, [], note)).toBe(`old 0\n\n${note}`);
    expect(addCheckpointBody(3, [Buffer.alloc(32, 1)], note)).toBe(`old 3\n${Buffer.alloc(32, 1).toString('base64')}\n\n${note}`);
    expect(() => addCheckpointBody(0, [Buffer.alloc(32)], note)).toThrow();
    expect(() => addCheckpointBody(5, Array.from({ length: 64 }, () => Buffer.alloc(32)), note)).toThrow();
  });
});

