import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCommand } from '../../src/cli/verify.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { recordAuditEvents } from '../../src/kernel/audit/events.ts';
import { auditLeafHash } from '../../src/kernel/audit/leaf.ts';
import { parseVerifierKey, verifierKeyString, verifyCheckpoint } from '../../src/kernel/translog/index.ts';
import { generateWebhookSecret, verifyWebhook } from '../../src/kernel/webhooks/index.ts';
import { recordFromJsonLine } from '../../src/modules/audit/format.ts';
import { bearer, enableMfa, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
let a: Account;
let b: Account;
let dir: string;
let key: string;
let witness: http.Server;
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
const witnessSecret = generateWebhookSecret();

const get = (who: Account, url: string) => t.app.inject({ method: 'GET', url, headers: bearer(who) });
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
};
function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-export-'));
  witness = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => witness.listen(0, '127.0.0.1', resolve));
  const port = (witness.address() as AddressInfo).port;
  t = await startApp({
    OCSUITE_EXPORT_RATE_LIMIT: '3', OCSUITE_WITNESS_URL: `http://127.0.0.1:${port}/witness`, OCSUITE_WITNESS_SECRET: witnessSecret,
    // The witness is reached through the egress guard: a loopback witness must be allowlisted.
    OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32', OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1',
  });
  a = await signup(t.app, 'Exporter');
  // Exports need a second factor proven within the step-up window.
  await enableMfa(t.app, a);
  b = await signup(t.app, 'Other');
  await t.platform.withTenant({ tenantId: a.tenantId }, (tx) => recordAuditEvents(tx, [
    { tenantId: a.tenantId, actor: { type: 'system' }, action: 'test.csv', outcome: 'failure', reason: '=HYPERLINK("http://evil")', metadata: { note: 'comma, "quote"\nnewline', password: 'hunter2' } },
    ...Array.from({ length: 20 }, (_, i) => ({ tenantId: a.tenantId, actor: { type: 'user' as const, id: a.userId }, action: 'test.bulk', outcome: 'success' as const, metadata: { i } })),
  ]));
  key = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey;
});
afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => witness?.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('export', () => {
  it('is refused without a fresh second factor, and the refusal is audited', async () => {
    const res = await get(b, '/api/v1/audit-events/export');
    expect(res.statusCode).toBe(403);
    expect(json(res).type).toBe('urn:ocsuite:problem:step-up-required');
    let denied: unknown[] = [];
    for (let i = 0; i < 200 && denied.length === 0; i++) {
      denied = await withOwner(t.platform.db, (tx) => tx.query(sql`
        SELECT 1 FROM audit_events WHERE tenant_id = ${b.tenantId} AND action = 'access.denied' AND target_id = 'GET /api/v1/audit-events/export'`));
      if (denied.length === 0) await new Promise((r) => setTimeout(r, 25));
    }
    expect(denied).toHaveLength(1);
  });

  it('exports JSON Lines that re-verify offline against a signed checkpoint, and records the export', async () => {
    const cp = json(await get(a, '/api/v1/translog/checkpoint'));
    const res = await get(a, '/api/v1/audit-events/export?format=jsonl');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/x-ndjson');
    expect(res.headers['cache-control']).toBe('no-store');
    const lines = res.body.trim().split('\n');
    expect(lines).toHaveLength(cp.size);
    for (const line of lines) {
      const r = recordFromJsonLine(line);
      expect(auditLeafHash(r).equals(r.leafHash)).toBe(true);
    }
    expect(res.body).not.toContain('hunter2');
    expect(res.body).not.toContain(b.tenantId);

    const events = file('a.jsonl', res.body);
    const cpFile = file('a.cp', cp.checkpoint);
    const ok = io();
    expect(await verifyCommand(['log', '--events', events, '--checkpoint', cpFile, '--key', key], ok.io)).toBe(0);
    expect(ok.out[0]).toContain(`${cp.size} leaves re-hashed`);

    // One byte of history changed in the file: found.
    const tampered = file('tampered.jsonl', res.body.replace('"test.bulk"', '"test.bulx"'));
    const bad = io();
    expect(await verifyCommand(['log', '--events', tampered, '--checkpoint', cpFile, '--key', key], bad.io)).toBe(1);
    expect(bad.err.join('\n')).toMatch(/leaf-altered/);
    // A line dropped from the export: found.
    const dropped = file('dropped.jsonl', lines.filter((_, i) => i !== 5).join('\n'));
    expect(await verifyCommand(['log', '--events', dropped, '--checkpoint', cpFile, '--key', key], io().io)).toBe(1);
    // Another key: the checkpoint does not verify.
    const stranger = verifierKeyString(parseVerifierKey(key).keyName, generateKeyPairSync('ed25519').publicKey);
    const s = io();
    expect(await verifyCommand(['log', '--events', events, '--checkpoint', cpFile, '--key', stranger], s.io)).toBe(1);
    expect(s.err.join('\n')).toMatch(/checkpoint-invalid/);

    const [recorded] = await withOwner(t.platform.db, (tx) => tx.query<{ actor_id: string; metadata: { format: string; upToSize: number } }>(sql`
      SELECT actor_id, metadata FROM audit_events WHERE tenant_id = ${a.tenantId} AND action = 'audit.exported'`));
    expect(recorded).toMatchObject({ actor_id: a.userId, metadata: { format: 'jsonl', upToSize: cp.size } });
  });

  it('exports CSV with quoting and formula cells neutralised', async () => {
    const res = await get(a, '/api/v1/audit-events/export?format=csv&action=test.csv');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/csv');
    const [header, row] = res.body.split('\r\n');
    expect(header).toBe('leaf_index,id,occurred_at,actor_type,actor_id,action,target_type,target_id,outcome,reason,ip,user_agent,request_id,metadata,leaf_hash');
    expect(row).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(row).toContain('comma, \\""quote\\""\\nnewline');
    expect(res.body).not.toContain('hunter2');
  });

  // The limiter runs before authentication (issue #10: every answer counts): the refused request
  // above and the two exports drew on this client's export budget of 3.
  it('is rate limited, refused requests included', async () => {
    const limited = await get(a, '/api/v1/audit-events/export?action=test.csv');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Other routes keep their own budget.
    expect((await get(a, '/api/v1/audit-events?limit=1')).statusCode).toBe(200);
  });
});

describe('ocsuite verify with files and the public key', () => {
  it('checks a checkpoint, an inclusion proof (recomputing the leaf from the event) and a consistency proof', async () => {
    const older = json(await get(a, '/api/v1/translog/checkpoint'));
    await t.platform.withTenant({ tenantId: a.tenantId }, (tx) => recordAuditEvents(tx, [{ tenantId: a.tenantId, actor: { type: 'system' }, action: 'test.later', outcome: 'success' }]));
    const newer = json(await get(a, '/api/v1/translog/checkpoint'));
    const [event] = json(await get(a, '/api/v1/audit-events?action=test.bulk&limit=1')).items;
    const inclusion = (await get(a, `/api/v1/translog/proof/inclusion?eventId=${event.id}`)).body;
    const consistency = (await get(a, `/api/v1/translog/proof/consistency?from=${older.size}&to=${newer.size}`)).body;
    const keyFile = file('key.txt', `${key}\n`);

    const c = io();
    expect(await verifyCommand(['checkpoint', file('newer.json', JSON.stringify(newer)), '--key', keyFile], c.io)).toBe(0);
    expect(c.out[0]).toBe(`OK checkpoint ${newer.origin} size ${newer.size} root ${newer.rootHash}`);
    expect(newer.origin).toBe(`${parseVerifierKey(key).keyName}/${a.tenantId}`);
    expect(await verifyCommand(['inclusion', '--key', key, '--checkpoint', file('n.cp', newer.checkpoint), '--proof', file('inc.json', inclusion), '--event', file('e.json', JSON.stringify(event))], io().io)).toBe(0);
    expect(await verifyCommand(['consistency', '--key', key, '--old', file('o.cp', older.checkpoint), '--new', file('n2.cp', newer.checkpoint), '--proof', file('con.json', consistency)], io().io)).toBe(0);

    // Tampered inputs fail with exit 1.
    const forgedEvent = file('e2.json', JSON.stringify({ ...event, outcome: 'failure' }));
    expect(await verifyCommand(['inclusion', '--key', key, '--checkpoint', file('n3.cp', newer.checkpoint), '--proof', file('inc2.json', inclusion), '--event', forgedEvent], io().io)).toBe(1);
    const forgedNote = newer.checkpoint.replace(`\n${newer.size}\n`, `\n${newer.size + 1}\n`);
    expect(await verifyCommand(['checkpoint', file('forged.cp', forgedNote), '--key', key], io().io)).toBe(1);
    // B's checkpoint is not a continuation of A's.
    const bCp = json(await get(b, '/api/v1/translog/checkpoint'));
    expect(await verifyCommand(['consistency', '--key', key, '--old', file('o2.cp', older.checkpoint), '--new', file('b.cp', bCp.checkpoint), '--proof', file('con2.json', consistency)], io().io)).toBe(1);
    // Proof files are read strictly: a fudged index or size, or base64 with junk in it, is a usage error.
    const inc = JSON.parse(inclusion) as { index: number; size: number; proof: string[] };
    for (const [name, body] of [
      ['index-null', { ...inc, index: null }], ['index-string', { ...inc, index: String(inc.index) }], ['size-array', { ...inc, size: [inc.size] }],
      ['junk-b64', { ...inc, proof: inc.proof.map((h) => `!!${h}**`) }], ['spaced-b64', { ...inc, proof: inc.proof.map((h) => ` ${h} `) }],
    ] as const) {
      expect(await verifyCommand(['inclusion', '--key', key, '--checkpoint', file(`s-${name}.cp`, newer.checkpoint), '--proof', file(`s-${name}.json`, JSON.stringify(body))], io().io), name).toBe(2);
    }
    expect(await verifyCommand(['inclusion', '--key', key], io().io)).toBe(2);
  });
});

describe('witness', () => {
  it('receives each new checkpoint as a Standard Webhooks message it can verify', async () => {
    const cp = json(await get(b, '/api/v1/translog/checkpoint'));
    let push: (typeof received)[number] | undefined;
    for (let i = 0; i < 200 && !push; i++) {
      push = received.find((r) => JSON.parse(r.body).checkpoint === cp.checkpoint);
      if (!push) await new Promise((r) => setTimeout(r, 25));
    }
    expect((push?.headers as Record<string, string> | undefined)?.['webhook-id'], 'a checkpoint push arrived').toMatch(/^cp_/);
    const headers = push!.headers as Record<string, string>;
    expect(verifyWebhook(headers, push!.body, witnessSecret).msgId).toMatch(/^cp_/);
    expect(() => verifyWebhook(headers, push!.body, generateWebhookSecret())).toThrow();
    const body = JSON.parse(push!.body);
    expect(body).toMatchObject({ type: 'ocsuite.checkpoint', origin: cp.origin, size: cp.size });
    expect(verifyCheckpoint(body.checkpoint, parseVerifierKey(key)).size).toBe(cp.size);
  });
});
