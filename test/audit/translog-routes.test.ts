import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAuditEvents, type AuditEventInput } from '../../src/kernel/audit/events.ts';
import { auditLeafHash } from '../../src/kernel/audit/leaf.ts';
import { parseVerifierKey, verifyCheckpoint, verifyConsistency, verifyInclusion, TranslogError } from '../../src/kernel/translog/index.ts';
import { recordFromJsonLine } from '../../src/modules/audit/format.ts';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
let a: Account;
let b: Account;
let aViewer: Account;

const event = (tenantId: string, i: number): AuditEventInput => ({
  tenantId, actor: { type: 'system' }, action: 'test.appended', outcome: 'success', metadata: { i },
});
const append = (tenantId: string, n: number, start = 0) =>
  t.platform.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, Array.from({ length: n }, (_, i) => event(tenantId, start + i))));
const get = (who: Account, url: string) => t.app.inject({ method: 'GET', url, headers: bearer(who) });
const b64 = (s: string) => Buffer.from(s, 'base64');

beforeAll(async () => {
  t = await startApp();
  a = await signup(t.app, 'A');
  b = await signup(t.app, 'B');
  aViewer = await addMember(t.app, a, 'viewer');
  await append(a.tenantId, 7);
  await append(b.tenantId, 40);
});
afterAll(() => t?.close());

async function verifier() {
  const res = await t.app.inject({ method: 'GET', url: '/api/v1/translog/key' });
  expect(res.statusCode).toBe(200);
  return { ...json(res), parsed: parseVerifierKey(json(res).verifierKey) };
}

describe('checkpoints and proofs served from storage', () => {
  it('publishes a verifier key and a checkpoint that verifies with it alone', async () => {
    const key = await verifier();
    // The key name is fixed when the key is created (the first PUBLIC_URL host): origins derive from it.
    expect(key.originTemplate).toBe(`${key.keyName}/{tenantId}`);
    const cp = json(await get(a, '/api/v1/translog/checkpoint'));
    const head = verifyCheckpoint(cp.checkpoint, key.parsed);
    expect(head.origin).toBe(`${key.keyName}/${a.tenantId}`);
    expect(head.size).toBe(cp.size);
    expect(head.root.toString('base64')).toBe(cp.rootHash);
  });

  it('proves every event of the tenant into the checkpoint, by index and by event id', async () => {
    const key = await verifier();
    const cp = json(await get(a, '/api/v1/translog/checkpoint'));
    const head = verifyCheckpoint(cp.checkpoint, key.parsed);
    const events = json(await get(a, '/api/v1/audit-events?limit=200')).items;
    expect(events.length).toBe(head.size);
    for (const e of events) {
      // The leaf is recomputed from the event as served, not taken from the server.
      const record = recordFromJsonLine(JSON.stringify({ log: a.tenantId, ...e }));
      const leaf = auditLeafHash(record);
      expect(leaf.toString('base64')).toBe(e.leafHash);
      const byIndex = json(await get(a, `/api/v1/translog/proof/inclusion?index=${e.leafIndex}&size=${head.size}`));
      verifyInclusion(leaf, e.leafIndex, head.size, byIndex.proof.map(b64), head.root);
      const byId = json(await get(a, `/api/v1/translog/proof/inclusion?eventId=${e.id}`));
      expect(byId.index).toBe(e.leafIndex);
      expect(byId.checkpoint).toBe(cp.checkpoint);
      verifyInclusion(leaf, e.leafIndex, head.size, byId.proof.map(b64), head.root);
    }
  });

  it('rejects a proof for an altered event', async () => {
    const key = await verifier();
    const head = verifyCheckpoint(json(await get(a, '/api/v1/translog/checkpoint')).checkpoint, key.parsed);
    const [e] = json(await get(a, '/api/v1/audit-events?limit=1')).items;
    const proof = json(await get(a, `/api/v1/translog/proof/inclusion?index=${e.leafIndex}`)).proof.map(b64);
    const altered = recordFromJsonLine(JSON.stringify({ log: a.tenantId, ...e, outcome: e.outcome === 'success' ? 'failure' : 'success' }));
    expect(() => verifyInclusion(auditLeafHash(altered), e.leafIndex, head.size, proof, head.root)).toThrow(TranslogError);
  });

  it('proves a checkpoint from before more appends consistent with the one after, and refuses a fork', async () => {
    const key = await verifier();
    const before = verifyCheckpoint(json(await get(a, '/api/v1/translog/checkpoint')).checkpoint, key.parsed);
    await append(a.tenantId, 13, 100);
    const after = verifyCheckpoint(json(await get(a, '/api/v1/translog/checkpoint')).checkpoint, key.parsed);
    expect(after.size).toBe(before.size + 13);
    const c = json(await get(a, `/api/v1/translog/proof/consistency?from=${before.size}&to=${after.size}`));
    expect(c).toMatchObject({ from: before.size, to: after.size });
    verifyConsistency(before.size, after.size, c.proof.map(b64), before.root, after.root);
    // Defaults: from 1 to the current checkpoint.
    const d = json(await get(a, '/api/v1/translog/proof/consistency'));
    expect(d.to).toBe(after.size);

    // A fork: another history of the same size (B's log cut at that size) is not proven consistent.
    const forkRoot = verifyCheckpoint(json(await get(b, '/api/v1/translog/checkpoint')).checkpoint, key.parsed);
    expect(() => verifyConsistency(before.size, after.size, c.proof.map(b64), forkRoot.root, after.root)).toThrow(TranslogError);
    const flipped = Buffer.from(before.root);
    flipped[0] = flipped[0]! ^ 1;
    expect(() => verifyConsistency(before.size, after.size, c.proof.map(b64), flipped, after.root)).toThrow(TranslogError);
  });

  it('refuses out-of-range proofs with 400 and an unknown event with 404', async () => {
    const cp = json(await get(a, '/api/v1/translog/checkpoint'));
    expect((await get(a, `/api/v1/translog/proof/inclusion?index=${cp.size}&size=${cp.size}`)).statusCode).toBe(400);
    expect((await get(a, `/api/v1/translog/proof/inclusion?size=${cp.size + 1}`)).statusCode).toBe(400);
    expect((await get(a, `/api/v1/translog/proof/consistency?from=${cp.size}&to=${cp.size - 1}`)).statusCode).toBe(400);
    expect((await get(a, `/api/v1/translog/proof/inclusion?eventId=${randomUUID()}`)).statusCode).toBe(404);
    expect((await get(a, '/api/v1/translog/proof/inclusion?index=1&eventId=' + randomUUID())).statusCode).toBe(400);
  });
});

describe("tenant A cannot read B's events or proofs", () => {
  it("sees only its own log: B's larger tree sizes and B's event ids are out of reach", async () => {
    const aCp = json(await get(a, '/api/v1/translog/checkpoint'));
    const bCp = json(await get(b, '/api/v1/translog/checkpoint'));
    expect(bCp.size).toBeGreaterThan(aCp.size);
    expect(aCp.origin).not.toBe(bCp.origin);
    // Indexes and sizes that exist only in B's log.
    for (const url of [
      `/api/v1/translog/proof/inclusion?index=${bCp.size - 1}&size=${bCp.size}`,
      `/api/v1/translog/proof/inclusion?size=${bCp.size}`,
      `/api/v1/translog/proof/consistency?from=1&to=${bCp.size}`,
    ]) {
      const res = await get(a, url);
      expect(res.statusCode, url).toBe(400);
      expect(res.body).not.toContain(b.tenantId);
    }
    const bEvents = json(await get(b, '/api/v1/audit-events?limit=5')).items;
    for (const e of bEvents) {
      const res = await get(a, `/api/v1/translog/proof/inclusion?eventId=${e.id}`);
      expect(res.statusCode).toBe(404);
      expect(json(await get(a, `/api/v1/audit-events?actor=${encodeURIComponent(e.actor.id ?? 'x')}`)).items.map((x: { id: string }) => x.id)).not.toContain(e.id);
    }
    // A proof A receives for a shared index is against A's tree, never B's root.
    const key = await verifier();
    const bHead = verifyCheckpoint(bCp.checkpoint, key.parsed);
    const aProof = json(await get(a, `/api/v1/translog/proof/inclusion?index=0&size=${aCp.size}`));
    expect(() => verifyInclusion(b64(bEvents[bEvents.length - 1]?.leafHash ?? aProof.leafHash), 0, aCp.size, aProof.proof.map(b64), bHead.root)).toThrow();
  });

  it('lists only own events, and refuses viewers', async () => {
    const aEvents = json(await get(a, '/api/v1/audit-events?limit=200')).items;
    const bEvents = json(await get(b, '/api/v1/audit-events?limit=200')).items;
    const bIds = new Set(bEvents.map((e: { id: string }) => e.id));
    expect(aEvents.some((e: { id: string }) => bIds.has(e.id))).toBe(false);
    expect(JSON.stringify(aEvents)).not.toContain(b.tenantId);
    for (const url of ['/api/v1/audit-events', '/api/v1/translog/checkpoint', '/api/v1/translog/proof/inclusion', '/api/v1/translog/proof/consistency', '/api/v1/audit-events/export']) {
      expect((await get(aViewer, url)).statusCode, url).toBe(403);
    }
  });
});
