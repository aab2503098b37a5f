import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { auditCommand } from '../../src/cli/audit.ts';
import { verifyCommand, verifyLogCmd } from '../../src/cli/verify.ts';
import { loadConfig } from '../../src/config/config.ts';
import { buildServer } from '../../src/server.ts';
import { openWithMasterKey } from '../../src/kernel/crypto/index.ts';
import { recordAuditEvents, type AuditEventInput } from '../../src/kernel/audit/events.ts';
import { trustedKeys, verifyWithKeys } from '../../src/kernel/audit/key-history.ts';
import { rotateLogKey } from '../../src/kernel/audit/log-key.ts';
import { auditKernel } from '../../src/kernel/audit/service.ts';
import { storedKeyHistory, verifyStoredLog } from '../../src/kernel/audit/verify-db.ts';
import { parseCheckpoint, signCheckpoint, verifyCheckpoint, parseVerifierKey } from '../../src/kernel/translog/index.ts';
import { bearer, json, signup, startApp, usingPostgres, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
let a: Account;
let dir: string;
const notes: { before?: string; after?: string; forged?: string } = {};
const keys: { old?: string; new?: string } = {};
const sizes = { before: 0, after: 0 };

const event = (tenantId: string, i: number): AuditEventInput => ({ tenantId, actor: { type: 'system' }, action: 'test.appended', outcome: 'success', metadata: { i } });
const append = (tenantId: string, n: number, start = 0) =>
  t.platform.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, Array.from({ length: n }, (_, i) => event(tenantId, start + i))));
const checkpoint = async () => json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(a) }));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};
function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logkey-'));
  t = await startApp();
  a = await signup(t.app, 'A');
  await append(a.tenantId, 3);
  ({ checkpoint: notes.before, size: sizes.before } = await checkpoint());
  keys.old = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey;
  // The old private key, read through the vault as the kernel reads it (before the rotation retires it).
  const oldId = parseVerifierKey(keys.old!).keyId.toString('hex');
  const [row] = await t.platform.withIdentity((tx) => tx.query<{ private_key_sealed: string }>(sql`SELECT private_key_sealed FROM translog_keys WHERE key_id = ${oldId}`));
  const oldPrivate = createPrivateKey({ key: openWithMasterKey(t.platform.keyring, `translog_keys|private_key_sealed|${oldId}`, row!.private_key_sealed).toString('utf8'), format: 'pem' });

  // Rotated as another process would (the CLI, the yearly job): this server's cached signer is not told.
  await t.platform.withMaintenance((tx) => rotateLogKey(tx, t.platform.keyring, t.platform.config.publicUrl, { type: 'operator', id: 'test' }));
  await append(a.tenantId, 2, 3);
  ({ checkpoint: notes.after, size: sizes.after } = await checkpoint());
  keys.new = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey;
  // What a leaked old key or a stale process would sign after the retirement.
  const head = parseCheckpoint(notes.after!);
  notes.forged = signCheckpoint({ origin: head.origin, size: head.size, root: head.root }, { keyName: parseVerifierKey(keys.old!).keyName, privateKey: oldPrivate });
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('log key rotation (issue #22 §3)', () => {
  it('the running server signs its next checkpoint with the new key, same origin', () => {
    expect(keys.new).not.toBe(keys.old);
    const before = verifyCheckpoint(notes.before!, parseVerifierKey(keys.old!));
    const after = verifyCheckpoint(notes.after!, parseVerifierKey(keys.new!));
    expect(after.origin).toBe(before.origin);
    expect(after.size).toBe(sizes.before + 2);
    expect(before.size).toBe(sizes.before);
    // Each checkpoint verifies with its own key only.
    expect(() => verifyCheckpoint(notes.before!, parseVerifierKey(keys.new!))).toThrow(/no signature/);
    expect(() => verifyCheckpoint(notes.after!, parseVerifierKey(keys.old!))).toThrow(/no signature/);
  });

  it('publishes the key history with validity periods', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/translog/keys' });
    expect(res.statusCode).toBe(200);
    const [old, current, ...rest] = json(res).keys;
    expect(rest).toEqual([]);
    expect([old.verifierKey, current.verifierKey]).toEqual([keys.old, keys.new]);
    expect(old.validUntil).toBe(current.validFrom);
    expect(Date.parse(old.validFrom)).toBeLessThanOrEqual(Date.parse(old.validUntil));
    expect(current.validUntil).toBeNull();
    // The public history names no tenant.
    expect(Object.keys(old.lastSizes)).not.toContain(a.tenantId);
    // The tenant's own history carries the size its log had when the old key retired.
    const mine = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key-history', headers: bearer(a) }));
    expect(mine.keys[0].lastSizes).toEqual({ [a.tenantId]: sizes.before });
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/translog/key-history' })).statusCode).toBe(401);
  });

  it('the rotation is an event of the platform log', async () => {
    const rows = await t.platform.withMaintenance((tx) => tx.query<{ action: string; target_id: string }>(sql`
      SELECT action, target_id FROM platform_audit_events WHERE action = 'audit.log_key.rotated'`));
    expect(rows.map((r) => r.target_id)).toEqual([parseVerifierKey(keys.new!).keyId.toString('hex')]);
  });

  it('ocsuite verify picks the key by its id among several', async () => {
    for (const note of [notes.before!, notes.after!]) {
      const r = io();
      expect(await verifyCommand(['checkpoint', file('cp.txt', note), '--key', keys.new!, '--key', keys.old!], r.io)).toBe(0);
      expect(r.out.join('\n')).toMatch(/^OK checkpoint/);
    }
    const r = io();
    expect(await verifyCommand(['checkpoint', file('cp.txt', notes.before!), '--key', keys.new!], r.io)).toBe(1);
  });

  it('refuses a checkpoint the retired key signed after its retirement', async () => {
    const history = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key-history', headers: bearer(a) }));
    const trusted = trustedKeys(history.keys);
    expect(verifyWithKeys(notes.before!, trusted).size).toBe(sizes.before);
    expect(verifyWithKeys(notes.after!, trusted).size).toBe(sizes.after);
    expect(() => verifyWithKeys(notes.forged!, trusted)).toThrow(/after its retirement/);
    // The CLI with the history file: the old checkpoint passes, the forged one does not.
    const h = file('history.json', JSON.stringify(history));
    const ok = io();
    expect(await verifyCommand(['checkpoint', file('old.txt', notes.before!), '--keys', h], ok.io)).toBe(0);
    const bad = io();
    expect(await verifyCommand(['checkpoint', file('forged.txt', notes.forged!), '--keys', h], bad.io)).toBe(1);
    expect(bad.err.join('\n')).toMatch(/retired/);
  });

  it('re-verifies the whole log from the database with the stored history, and finds the forged checkpoint', async () => {
    const timeout = t.platform.config.statementTimeoutMs;
    const history = await storedKeyHistory(t.platform.db, timeout, a.tenantId);
    expect(history).toHaveLength(2);
    const good = await verifyStoredLog(t.platform.db, timeout, a.tenantId, history);
    expect(good.ok).toBe(true);
    expect(good.checkpointsVerified).toBe(2);
    const bad = await verifyStoredLog(t.platform.db, timeout, a.tenantId, history, [notes.forged!]);
    expect(bad.ok).toBe(false);
    expect(bad.findings.map((f) => f.detail).join('\n')).toMatch(/after its retirement/);
  });

  it('rotating again through the kernel switches this process at once', async () => {
    const r = await auditKernel(t.platform).rotateKey({ type: 'operator', id: 'test' });
    expect(r.retiredKeyId).toBe(parseVerifierKey(keys.new!).keyId.toString('hex'));
    await append(a.tenantId, 1, 5);
    const cp = await checkpoint();
    expect(cp.size).toBeGreaterThan(sizes.after);
    expect(verifyCheckpoint(cp.checkpoint, parseVerifierKey(r.verifierKey)).size).toBe(cp.size);
  });
});

describe('ocsuite audit rotate-key and ocsuite verify log across a rotation', () => {
  it('rotates from the CLI; the database history and both keys verify the log, the old key alone does not', async () => {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'logkey-cli-'));
    const env: Record<string, string> = {
      OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!,
      OCSUITE_DATA_DIR: data,
      PUBLIC_URL: 'https://audit.example',
      LOG_LEVEL: 'silent',
      OCSUITE_RATE_LIMIT: '100000',
      OCSUITE_TENANT_RATE_LIMIT: '100000', OCSUITE_USER_RATE_LIMIT: '100000', OCSUITE_WRITE_RATE_LIMIT: '100000', OCSUITE_EXPENSIVE_RATE_LIMIT: '100000',
      OCSUITE_AUTH_RATE_LIMIT: '100000',
      ...(usingPostgres ? { DATABASE_URL: process.env.OCSUITE_TEST_DATABASE_URL! } : {}),
    };
    const config = loadConfig(env);
    const run = async <T>(fn: (p: Awaited<ReturnType<typeof bootPlatform>>, app: Awaited<ReturnType<typeof buildServer>>) => Promise<T>) => {
      const p = await bootPlatform(config, { logDestination: { write: () => {} } as never });
      const app = await buildServer(p);
      try {
        return await fn(p, app);
      } finally {
        await app.close();
        await shutdownPlatform(p);
      }
    };
    try {
      const { tenantId, oldKey } = await run(async (p, app) => {
        const acc = await signup(app, 'C');
        await p.withTenant({ tenantId: acc.tenantId }, (tx) => recordAuditEvents(tx, [event(acc.tenantId, 0), event(acc.tenantId, 1)]));
        await auditKernel(p).tenantCheckpoint(acc.tenantId);
        return { tenantId: acc.tenantId, oldKey: json(await app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey as string };
      });
      const r = io();
      expect(await auditCommand(config, ['rotate-key'], r.io)).toBe(0);
      expect(r.out[0]).toMatch(/^retired [0-9a-f]{8}; [1-9][0-9]* log\(s\) recorded/);
      const newKey = r.out[1]!;
      expect(newKey).not.toBe(oldKey);
      expect(newKey.split('+')[0]).toBe(oldKey.split('+')[0]);
      await run(async (p) => {
        await p.withTenant({ tenantId }, (tx) => recordAuditEvents(tx, [event(tenantId, 2)]));
        await auditKernel(p).tenantCheckpoint(tenantId);
      });
      const k = io();
      expect(await auditCommand(config, ['key'], k.io)).toBe(0);
      expect(k.out[0]).toBe(newKey);
      // The stored history: each checkpoint under the key its id names, sizes of the retirement enforced.
      const stored = io();
      expect(await verifyLogCmd(['--tenant', tenantId], stored.io, env)).toBe(0);
      expect(stored.out[0]).toMatch(/2 signed checkpoint\(s\) reproduced/);
      expect(await verifyLogCmd(['--tenant', tenantId, '--key', oldKey, '--key', newKey], io().io, env)).toBe(0);
      const only = io();
      expect(await verifyLogCmd(['--tenant', tenantId, '--key', oldKey], only.io, env)).toBe(1);
      expect(only.err.join('\n')).toMatch(/checkpoint-invalid/);
    } finally {
      fs.rmSync(data, { recursive: true, force: true });
    }
  });
});
