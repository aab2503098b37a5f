import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { verifyCommand, verifyLogCmd } from '../../src/cli/verify.ts';
import { loadConfig } from '../../src/config/config.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { recordAuditEvents } from '../../src/kernel/audit/events.ts';
import { auditLeafHash } from '../../src/kernel/audit/leaf.ts';
import { tenantLog } from '../../src/kernel/audit/logs.ts';
import { scanEvents } from '../../src/kernel/audit/read.ts';
import { auditKernel } from '../../src/kernel/audit/service.ts';
import type { Platform } from '../../src/platform.ts';
import { buildServer } from '../../src/server.ts';
import { bearer, json, signup, usingPostgres, type Account } from '../support/app.ts';

/**
 * The platform runs on a database the CLI can open afterwards (a PGlite data
 * folder, or the run's PostgreSQL database), so `ocsuite verify log` is run
 * exactly as an operator would, after the server has stopped.
 */
let dir: string;
let env: Record<string, string>;
let platform: Platform;
let app: FastifyInstance;
let a: Account;
let b: Account;
let key: string;

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

const append = (tenantId: string, n: number) =>
  platform.withTenant({ tenantId }, (tx) =>
    recordAuditEvents(tx, Array.from({ length: n }, (_, i) => ({ tenantId, actor: { type: 'system' as const }, action: 'test.appended', outcome: 'success' as const, metadata: { i } }))));

/** What an attacker with the owner role does: switch the guard off, change history, switch it back on. */
const tamper = (statement: ReturnType<typeof sql>) =>
  withOwner(platform.db, async (tx) => {
    await tx.exec('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
    await tx.query(statement);
    await tx.exec('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
  });

async function startPlatform() {
  const config = loadConfig(env);
  platform = await bootPlatform(config, { logDestination: { write: () => {} } as never });
  app = await buildServer(platform);
}
async function stopPlatform() {
  await app.close();
  await shutdownPlatform(platform);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-verify-'));
  env = {
    OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!,
    OCSUITE_DATA_DIR: dir,
    PUBLIC_URL: 'https://audit.example',
    LOG_LEVEL: 'silent',
    OCSUITE_RATE_LIMIT: '100000',
    OCSUITE_AUTH_RATE_LIMIT: '100000',
    ...(usingPostgres ? { DATABASE_URL: process.env.OCSUITE_TEST_DATABASE_URL! } : {}),
  };
  await startPlatform();
  a = await signup(app, 'A');
  b = await signup(app, 'B');
  await append(a.tenantId, 30);
  await append(b.tenantId, 5);
  key = json(await app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey;
  // Checkpoints at two sizes: the log must reproduce both.
  await auditKernel(platform).tenantCheckpoint(a.tenantId);
  await append(a.tenantId, 9);
  await auditKernel(platform).tenantCheckpoint(a.tenantId);
  await auditKernel(platform).tenantCheckpoint(b.tenantId);
  await stopPlatform();
});

afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('ocsuite verify log (database)', () => {
  it('re-verifies an untouched log from its leaves against every signed checkpoint', async () => {
    const r = io();
    expect(await verifyLogCmd(['--tenant', a.tenantId, '--key', key], r.io, env)).toBe(0);
    expect(r.out.join('\n')).toMatch(new RegExp(`OK log audit\\.example/${a.tenantId}: \\d+ leaves re-hashed, .* 2 signed checkpoint`));
    const p = io();
    expect(await verifyLogCmd(['--platform', '--key', key], p.io, env)).toBe(0);
  });

  it('detects a row altered directly in the database by the owner role', async () => {
    await startPlatform();
    try {
      const [victim] = await platform.withTenant({ tenantId: a.tenantId }, (tx) => scanEvents(tx, tenantLog(a.tenantId), { fromIndex: 3 }, 1));
      await tamper(sql`UPDATE audit_events SET outcome = 'failure', metadata = '{"i": 999}' WHERE tenant_id = ${a.tenantId} AND leaf_index = 3`);
      expect(victim?.leafIndex).toBe(3);
    } finally {
      await stopPlatform();
    }
    const r = io();
    expect(await verifyLogCmd(['--tenant', a.tenantId, '--key', key], r.io, env)).toBe(1);
    const report = r.err.join('\n');
    expect(report).toContain('FAILED log');
    expect(report).toMatch(/leaf-altered: leaf 3 /);
    expect(report).toMatch(/checkpoint-mismatch/);
    // B's log is untouched and still verifies.
    expect(await verifyLogCmd(['--tenant', b.tenantId, '--key', key], io().io, env)).toBe(0);
  });

  it('detects a row altered together with its stored leaf hash, and a removed row', async () => {
    await startPlatform();
    try {
      const log = tenantLog(a.tenantId);
      const [row] = await platform.withTenant({ tenantId: a.tenantId }, (tx) => scanEvents(tx, log, { fromIndex: 10 }, 1));
      const forged = auditLeafHash({ ...row!, action: 'test.rewritten' });
      await tamper(sql`UPDATE audit_events SET action = 'test.rewritten', leaf_hash = decode(${forged.toString('hex')}, 'hex')
        WHERE tenant_id = ${a.tenantId} AND leaf_index = 10`);
    } finally {
      await stopPlatform();
    }
    const r = io();
    expect(await verifyLogCmd(['--tenant', a.tenantId, '--key', key], r.io, env)).toBe(1);
    expect(r.err.join('\n')).toMatch(/checkpoint-mismatch/);

    await startPlatform();
    try {
      await tamper(sql`DELETE FROM audit_events WHERE tenant_id = ${b.tenantId} AND leaf_index = 4`);
    } finally {
      await stopPlatform();
    }
    const d = io();
    expect(await verifyLogCmd(['--tenant', b.tenantId, '--key', key], d.io, env)).toBe(1);
    expect(d.err.join('\n')).toMatch(/checkpoint-beyond-log|leaf-missing/);
  });

  it('refuses a key the checkpoints were not signed with', async () => {
    const other = key.replace(/^[^+]+/, 'someone.else');
    const r = io();
    // Renaming the key changes its id: the parse itself fails, exit 1.
    expect(await verifyCommand(['log', '--tenant', b.tenantId, '--key', other], r.io)).toBe(1);
    expect(r.err.join('\n')).toMatch(/key ID does not match/);
    expect(await verifyCommand(['log'], io().io)).toBe(2);
  });
});
