import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { verifyCommand, verifyLogCmd } from '../../src/cli/verify.ts';
import { accessLogCommand } from '../../src/cli/access-log.ts';
import { auditCommand } from '../../src/cli/audit.ts';
import { insertAccessLines } from '../../src/kernel/audit/access-log.ts';
import { loadConfig } from '../../src/config/config.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { recordAuditEvents } from '../../src/kernel/audit/events.ts';
import { auditLeafHash } from '../../src/kernel/audit/leaf.ts';
import { tenantLog } from '../../src/kernel/audit/logs.ts';
import { scanEvents } from '../../src/kernel/audit/read.ts';
import { auditKernel } from '../../src/kernel/audit/service.ts';
import type { Platform } from '../../src/kernel/platform.ts';
import { buildServer } from '../../src/server.ts';
import { addMember, bearer, enableMfa, json, PASSWORD, signup, usingPostgres, type Account } from '../support/app.ts';

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
    // Deferred checks (the ledger's foreign key to audit_events) run now, so the trigger can be switched back on.
    await tx.exec('SET CONSTRAINTS ALL IMMEDIATE');
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
    OCSUITE_TENANT_RATE_LIMIT: '100000', OCSUITE_USER_RATE_LIMIT: '100000', OCSUITE_WRITE_RATE_LIMIT: '100000', OCSUITE_EXPENSIVE_RATE_LIMIT: '100000',
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
    expect(r.out.join('\n')).toMatch(new RegExp(`OK log [^ ]+/${a.tenantId}: \\d+ leaves re-hashed, .* 2 signed checkpoint`));
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

  it('a log cut back to an older size, its stored checkpoints with it, fails against a checkpoint kept outside', async () => {
    await startPlatform();
    let kept: string;
    const c = await signup(app, 'C');
    try {
      await append(c.tenantId, 10);
      const older = await auditKernel(platform).tenantCheckpoint(c.tenantId);
      const [head] = await withOwner(platform.db, (tx) => tx.query<{ size: string; root: string; peaks: string }>(sql`
        SELECT size::text, encode(root, 'hex') AS root, encode(peaks, 'hex') AS peaks FROM translog_heads WHERE tenant_id = ${c.tenantId}`));
      await append(c.tenantId, 10);
      kept = (await auditKernel(platform).tenantCheckpoint(c.tenantId)).note;
      // The owner role cuts history back to the older size, consistently: events, checkpoints, head.
      await withOwner(platform.db, async (tx) => {
        for (const table of ['audit_events', 'translog_checkpoints', 'translog_heads']) await tx.exec(`ALTER TABLE ${table} DISABLE TRIGGER USER`);
        await tx.query(sql`DELETE FROM audit_events WHERE tenant_id = ${c.tenantId} AND leaf_index >= ${older.size}`);
        await tx.query(sql`DELETE FROM translog_checkpoints WHERE tenant_id = ${c.tenantId} AND size > ${older.size}`);
        await tx.query(sql`UPDATE translog_heads SET size = ${head!.size}::bigint, root = decode(${head!.root}, 'hex'), peaks = decode(${head!.peaks}, 'hex') WHERE tenant_id = ${c.tenantId}`);
        await tx.exec('SET CONSTRAINTS ALL IMMEDIATE');
        for (const table of ['audit_events', 'translog_checkpoints', 'translog_heads']) await tx.exec(`ALTER TABLE ${table} ENABLE TRIGGER USER`);
      });
    } finally {
      await stopPlatform();
    }
    // What is left is self-consistent: the database alone cannot tell.
    const alone = io();
    expect(await verifyLogCmd(['--tenant', c.tenantId, '--key', key], alone.io, env)).toBe(0);
    // The checkpoint a witness kept can.
    const keptFile = path.join(dir, 'kept.checkpoint');
    fs.writeFileSync(keptFile, kept!);
    const r = io();
    expect(await verifyLogCmd(['--tenant', c.tenantId, '--key', key, '--checkpoint', keptFile], r.io, env)).toBe(1);
    expect(r.err.join('\n')).toMatch(/checkpoint-beyond-log: a checkpoint was signed at size 2\d but only 1\d leaves are present/);
  });

  it('says how much of the log signatures cover, and refuses an unknown or malformed tenant', async () => {
    const r = io();
    expect(await verifyLogCmd(['--platform', '--key', key], r.io, env)).toBe(0);
    expect(r.out.join('\n')).toMatch(/signed checkpoints cover (all \d+ leaves|leaves 0\.\.\d+; \d+ later leaf\(s\) are not covered)|no signed checkpoint covers any of the \d+ leaves/);
    const unknown = io();
    await expect(verifyLogCmd(['--tenant', '00000000-0000-4000-8000-000000000000', '--key', key], unknown.io, env)).rejects.toThrow(/no audit log for tenant/);
    expect(await verifyCommand(['log', '--tenant', 'not-a-tenant', '--key', key], io().io)).toBe(2);
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

describe('ocsuite access-log and audit commands', () => {
  it('reports a week per tenant: logins, failures, admin actions, exports, denied requests', async () => {
    await startPlatform();
    try {
      expect((await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: a.email, password: PASSWORD } })).statusCode).toBe(200);
      expect((await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: a.email, password: 'not the password at all' } })).statusCode).toBe(401);
      await enableMfa(app, a);
      expect((await app.inject({ method: 'GET', url: '/api/v1/audit-events/export', headers: bearer(a) })).statusCode).toBe(200);
      const viewer = await addMember(app, a, 'viewer');
      expect((await app.inject({ method: 'GET', url: '/api/v1/audit-events', headers: bearer(viewer) })).statusCode).toBe(403);
      const old = new Date(Date.now() - 10 * 86_400_000);
      await insertAccessLines(platform.db, 5000, [
        { at: old, tenantId: a.tenantId, userId: null, method: 'GET', route: '/old', status: 200, durationMs: 1, ip: null, requestId: 'cli-old-a' },
        { at: old, tenantId: null, userId: null, method: 'GET', route: '/old', status: 200, durationMs: 1, ip: null, requestId: 'cli-old-p' },
      ]);
      // The failed login and the denial are recorded off the response path: wait for both.
      for (let i = 0; i < 200; i++) {
        const [row] = await withOwner(platform.db, (tx) => tx.query<{ n: number }>(sql`
          SELECT count(*)::int AS n FROM audit_events WHERE tenant_id = ${a.tenantId} AND outcome = 'failure' AND action IN ('auth.login', 'access.denied')`));
        if (row!.n >= 2) break;
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await stopPlatform();
    }
    const config = loadConfig(env);
    const r = io();
    expect(await accessLogCommand(config, ['report', '--period', 'week', '--json'], r.io)).toBe(0);
    const report = JSON.parse(r.out.join('\n'));
    const mine = report.tenants.find((x: { tenantId: string }) => x.tenantId === a.tenantId);
    // Logins run before a tenant is known: their access lines are the platform's; their audit events the tenant's.
    expect(mine).toMatchObject({ logins: 1, loginFailures: 1, exports: 1, deniedRequests: 1 });
    expect(mine.adminActions).toBeGreaterThanOrEqual(1); // the viewer's invitation
    expect(mine.requests).toBeGreaterThanOrEqual(3);
    expect(report.tenants.find((x: { tenantId: string | null }) => x.tenantId === null).requests).toBeGreaterThanOrEqual(2);
    const text = io();
    expect(await accessLogCommand(config, ['report', '--period', 'week'], text.io)).toBe(0);
    expect(text.out[1]).toMatch(/^TENANT\s+LOGINS\s+FAILED\s+THROTTLED\s+ADMIN\s+EXPORTS\s+DENIED/);
    expect(await accessLogCommand(config, ['report', '--period', 'year'], io().io)).toBe(2);
  });

  it('prunes access logs older than the retention, audits the prune, and leaves the audit logs verifiable', async () => {
    const config = loadConfig(env);
    await expect(accessLogCommand(config, ['prune', '--older-than', '0d'], io().io)).rejects.toThrow(/at least 1 day/);
    const r = io();
    expect(await accessLogCommand(config, ['prune', '--older-than', '7d'], r.io)).toBe(0);
    expect(r.out[0]).toMatch(/^pruned [1-9][0-9]* access-log line\(s\) older than/);
    const { openDatabase } = await import('../../src/db/open.ts');
    const db = await openDatabase(config);
    try {
      const rows = await withOwner(db, (tx) => tx.query<{ request_id: string }>(sql`
        SELECT request_id FROM access_logs WHERE request_id LIKE 'cli-old-%' UNION ALL SELECT request_id FROM platform_access_logs WHERE request_id LIKE 'cli-old-%'`));
      expect(rows).toEqual([]);
      const [event] = await withOwner(db, (tx) => tx.query<{ actor_type: string; metadata: { olderThanDays: number } }>(sql`
        SELECT actor_type, metadata FROM platform_audit_events WHERE action = 'access_log.pruned' ORDER BY leaf_index DESC LIMIT 1`));
      expect(event).toMatchObject({ actor_type: 'operator', metadata: { olderThanDays: 7 } });
    } finally {
      await db.close();
    }
    const k = io();
    expect(await auditCommand(config, ['key'], k.io)).toBe(0);
    expect(k.out[0]).toBe(key);
    const c = io();
    await auditCommand(config, ['checkpoint'], c.io);
    expect(c.out[0]).toMatch(/^signed [1-9][0-9]* new checkpoint/);
    expect(await verifyLogCmd(['--platform', '--key', key], io().io, env)).toBe(0);
  });
});
