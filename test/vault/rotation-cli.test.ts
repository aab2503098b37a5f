import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keysCommand } from '../../src/cli/keys.ts';
import { tenantsCommand } from '../../src/cli/tenants.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { Database } from '../../src/db/client.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { createConnectorsService } from '../../src/modules/connectors/service.ts';
import { useConnectorSecret } from '../../src/modules/connectors/secret-use.ts';
import { enqueueMail, MAIL_QUEUE } from '../../src/kernel/mail/delivery.ts';
import { eventually } from '../jobs/support.ts';
import { adminPrincipal, bootOn, createTenants, isolatedDatabase, newMasterKey, newSecret, type IsolatedDatabase } from './support.ts';

/**
 * `ocsuite keys rotate-*` as an operator runs it: a separate process, killed
 * with SIGKILL in the middle of a rotation (the pause between batches makes
 * "the middle" deterministic: the kill lands after the first batch committed
 * and before the second starts), then run again. Every secret must end up
 * readable, exactly once encrypted under the new key.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');
const nodeBin = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : path.join(root, 'node_modules/.bin/node');

const t1 = newMasterKey('t1');
const k2 = newMasterKey('k2');
let iso: IsolatedDatabase;
const children = new Set<ChildProcess>();
const plain = new Map<string, { tenantId: string; secret: string }>();
let tenants: string[] = [];
/** Everything the CLI printed, to prove no secret is among it. */
const printed: string[] = [];

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function cli(args: string[], masterKeys: string, killWhen?: RegExp): Promise<Run> {
  const child = spawn(nodeBin, [main, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...iso.env, OCSUITE_MASTER_KEYS: masterKeys },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
    if (killWhen && killWhen.test(stdout) && child.exitCode === null) child.kill('SIGKILL');
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 50_000);
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(guard);
    printed.push(stdout, stderr);
    resolve({ code, signal, stdout, stderr });
  }));
}

/**
 * Commands that are not killed run in this process (the spawned runs prove the
 * wiring of main.ts; this saves starting Node and PGlite for each).
 */
async function command(args: string[], masterKeys: string): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const config = loadConfig({ LOG_LEVEL: 'warn', ...iso.env, OCSUITE_MASTER_KEYS: masterKeys });
    const code = await (args[0] === 'tenants' ? tenantsCommand(config, args.slice(1)) : keysCommand(config, args.slice(1)));
    const run = { code, signal: null, stdout: `${out.join('\n')}\n`, stderr: err.join('\n') };
    printed.push(run.stdout, run.stderr);
    return run;
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

async function withDb<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await iso.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const owner = <T>(db: Database, fn: Parameters<typeof withOwner<T>>[1]) => withOwner(db, fn);

beforeAll(async () => {
  iso = await isolatedDatabase('cli');
  const booted = await bootOn(iso, t1);
  try {
    tenants = await createTenants(booted.platform, 8, 'cli');
    const service = createConnectorsService(booted.platform);
    for (const [i, tenantId] of tenants.entries()) {
      for (let n = 0; n < (i === 0 ? 3 : 2); n++) {
        const secret = newSecret();
        const c = await service.create(adminPrincipal(tenantId), { name: `c${n}`, provider: 'slack', kind: 'api_key', secret });
        plain.set(c.id, { tenantId, secret });
      }
    }
  } finally {
    await booted.close();
  }
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await iso?.drop();
});

async function expectEverySecretReadable(masterKeys: string) {
  const booted = await bootOn(iso, masterKeys);
  try {
    for (const [id, v] of plain) expect((await useConnectorSecret(booted.platform, v.tenantId, id, 'test.verify')).secret).toBe(v.secret);
  } finally {
    await booted.close();
  }
}

describe('ocsuite keys rotate-master, killed mid-way and run again', () => {
  it('leaves a partial state after SIGKILL, completes on the second run, and the old key can then be retired', async () => {
    const killed = await cli(['keys', 'rotate-master', '--batch-size', '2', '--throttle-ms', '60000'], `${t1},${k2}`, /rewrap tenant data keys under k2: 2\/8/);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const midway = await withDb((db) => owner(db, async (tx) => ({
      keys: await tx.query<{ master: string; n: number }>(sql`SELECT split_part(wrapped_key, '.', 2) AS master, count(*)::int AS n FROM tenant_data_keys GROUP BY 1 ORDER BY 1`),
      signing: await tx.query<{ master: string }>(sql`SELECT split_part(private_key_sealed, '.', 2) AS master FROM signing_keys`),
      runs: await tx.query<{ outcome: string; finished_at: Date | null }>(sql`SELECT outcome, finished_at FROM key_rotation_runs WHERE kind = 'master'`),
    })));
    expect(midway.keys).toEqual([{ master: 'k2', n: 2 }, { master: 't1', n: 6 }]);
    expect(midway.signing.every((s) => s.master === 't1')).toBe(true);
    expect(midway.runs).toEqual([{ outcome: 'running', finished_at: null }]);

    // Still needed: the retire command says by what, and refuses.
    const refused = await command(['keys', 'retire', 't1'], `${t1},${k2}`);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('refused: master key t1 is still needed by:');
    expect(refused.stdout).toMatch(/tenant_data_keys\.wrapped_key: 6 row\(s\)/);
    expect(refused.stdout).toMatch(/signing_keys\.private_key_sealed: 1 row\(s\)/);

    const resumed = await cli(['keys', 'rotate-master', '--batch-size', '2'], `${t1},${k2}`);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resumed run/);
    expect(resumed.stdout).toContain('rewrapped 6 tenant data key(s)');
    expect(resumed.stdout).toMatch(/verified: 8 data key\(s\) and \d+ platform secret\(s\) open under k2/);

    // Mail sealed under t1 before the switch still waits in the job queue: kept until it is delivered.
    const sender = await bootOn(iso, `*${t1},${k2}`);
    try {
      await enqueueMail(sender.platform.jobs, sender.platform.keyring, { to: 'late@example.com', subject: 'Invitation', text: 'one-time link' });
    } finally {
      await sender.close();
    }
    const waiting = await command(['keys', 'retire', 't1'], `${t1},${k2}`);
    expect(waiting.code, waiting.stdout + waiting.stderr).toBe(1);
    expect(waiting.stdout).toMatch(/jobs:mail\.send\.payload: 1 row\(s\)/);
    expect(waiting.stdout).toContain('let the mail queue drain');
    const worker = await bootOn(iso, `${t1},${k2}`);
    try {
      await worker.platform.jobs.startWorkers();
      await eventually('the queued mail is delivered', async () => (await worker.platform.jobs.pendingData(MAIL_QUEUE.name)).length === 0);
    } finally {
      await worker.close();
    }

    const retired = await command(['keys', 'retire', 't1'], `${t1},${k2}`);
    expect(retired.code, retired.stdout + retired.stderr).toBe(0);
    expect(retired.stdout).toContain('master key t1 retired');
    const after = await withDb((db) => owner(db, async (tx) => ({
      keys: await tx.query<{ master: string; n: number }>(sql`SELECT split_part(wrapped_key, '.', 2) AS master, count(*)::int AS n FROM tenant_data_keys GROUP BY 1`),
      runs: await tx.query<{ outcome: string }>(sql`SELECT outcome FROM key_rotation_runs WHERE kind = 'master'`),
      events: await tx.query<{ action: string; outcome: string }>(sql`SELECT action, outcome FROM platform_audit_events WHERE action LIKE 'keys.%' ORDER BY leaf_index`),
    })));
    expect(after.keys).toEqual([{ master: 'k2', n: 8 }]);
    expect(after.runs).toEqual([{ outcome: 'completed' }]);
    expect(after.events).toEqual([
      { action: 'keys.retired', outcome: 'failure' },
      { action: 'keys.master_rotated', outcome: 'success' },
      { action: 'keys.retired', outcome: 'failure' },
      { action: 'keys.retired', outcome: 'success' },
    ]);
    // t1 is gone from the configuration: every secret opens with k2 alone.
    await expectEverySecretReadable(k2);
  }, 240_000);
});

describe('ocsuite keys rotate-tenant --all, killed mid-way and run again', () => {
  it('resumes the same run: the interrupted tenant is finished, none is rotated twice, every value opens under v2', async () => {
    const killed = await cli(['keys', 'rotate-tenant', '--all', '--batch-size', '1', '--throttle-ms', '60000'], k2, /re-encrypt connectors\.secret_sealed with data key v2: 1\//);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const midway = await withDb((db) => owner(db, (tx) => tx.query<{ tenant_id: string; states: string }>(sql`
      SELECT tenant_id::text, string_agg(version || ':' || state, ',' ORDER BY version) AS states FROM tenant_data_keys GROUP BY tenant_id`)));
    const inProgress = midway.filter((m) => m.states === '1:previous,2:active');
    expect(inProgress).toHaveLength(1);
    expect(midway.filter((m) => m.states === '1:active')).toHaveLength(7);

    const resumed = await cli(['keys', 'rotate-tenant', '--all'], k2);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resumed run [0-9a-f-]+: rotated 8 tenant\(s\)/);

    const after = await withDb((db) => owner(db, async (tx) => ({
      keys: await tx.query<{ states: string }>(sql`
        SELECT string_agg(version || ':' || state, ',' ORDER BY version) AS states FROM tenant_data_keys GROUP BY tenant_id`),
      values: await tx.query<{ label: string; n: number }>(sql`SELECT split_part(secret_sealed, '.', 2) AS label, count(*)::int AS n FROM connectors GROUP BY 1`),
    })));
    expect(after.keys.map((k) => k.states)).toEqual(Array(8).fill('1:destroyed,2:active'));
    expect(after.values).toEqual([{ label: '2', n: plain.size }]);
    await expectEverySecretReadable(k2);

    // Nothing left to do: a new run rotates only keys older than its own start.
    const verify = await command(['keys', 'verify'], k2);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toContain(`opened 8 tenant data key(s)`);
    expect(verify.stdout).toContain(`${plain.size} tenant value(s)`);
  }, 240_000);
});

describe('ocsuite tenants delete', () => {
  it('deletes a tenant by crypto-shredding, audits it as the operator, and status shows what is left', async () => {
    const victim = tenants[1]!;
    const [row] = await withDb((db) => owner(db, (tx) => tx.query<{ name: string }>(sql`SELECT name FROM tenants WHERE id = ${victim}`)));
    const done = await command(['tenants', 'delete', victim, '--confirm', row!.name], k2);
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(done.stdout).toContain(`tenant ${victim} deleted`);
    expect(done.stdout).toContain('destroyed 1 data key version(s)');
    const after = await withDb((db) => owner(db, async (tx) => ({
      keys: await tx.query(sql`SELECT 1 FROM tenant_data_keys WHERE tenant_id = ${victim}`),
      others: await tx.query(sql`SELECT 1 FROM tenant_data_keys WHERE tenant_id <> ${victim} AND state = 'active'`),
      events: await tx.query<{ actor_type: string; target_id: string }>(sql`SELECT actor_type, target_id FROM platform_audit_events WHERE action = 'tenant.deleted'`),
    })));
    expect(after.keys).toEqual([]);
    expect(after.others).toHaveLength(7);
    expect(after.events).toEqual([{ actor_type: 'operator', target_id: victim }]);

    const status = await command(['keys', 'status'], `${t1},${k2}`);
    expect(status.code, status.stdout).toBe(0);
    expect(status.stdout).toMatch(/^\s+t1\s+retired\s.*needed by: nothing$/m);
    expect(status.stdout).toMatch(/^\s+k2\s+primary\s.*needed by: tenant_data_keys\.wrapped_key 7, signing_keys\.private_key_sealed 1/m);
    expect(status.stdout).toMatch(/tenant data keys: 7 tenant\(s\)/);

    // Rotating a deleted or unknown tenant is an operator error, said as such.
    const shredded = await command(['keys', 'rotate-tenant', '--tenant', victim], k2);
    expect(shredded.code).toBe(1);
    expect(shredded.stdout).toContain(`tenant ${victim} was deleted`);
    const unknown = '00000000-0000-4000-8000-000000000000';
    const missing = await command(['keys', 'rotate-tenant', '--tenant', unknown], k2);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(`no tenant ${unknown}`);

    const all = printed.join('\n');
    expect(all).toContain('rewrap tenant data keys');
    for (const { secret } of plain.values()) expect(all).not.toContain(secret.slice(0, -4));
  }, 240_000);
});

describe('ocsuite keys usage errors', () => {
  it('exit 2 and change nothing: an empty --tenant beside --all, numbers that are not plain digits, unknown options', async () => {
    const emptyTenant = await command(['keys', 'rotate-tenant', '--tenant', '', '--all'], k2);
    expect(emptyTenant.code).toBe(2);
    for (const value of ['1e2', '0x10', ' 5 ', '0', '-1']) {
      await expect(command(['keys', 'rotate-tenant', '--all', `--batch-size=${value}`], k2)).rejects.toMatchObject({ code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
    }
    const runs = () => withDb((db) => owner(db, (tx) => tx.query(sql`SELECT id FROM key_rotation_runs`)));
    const before = (await runs()).length;
    for (const args of [['keys', 'rotate-tenant', '--all', '--batch-size', '1e2'], ['keys', 'status', '--bogus']]) {
      const run = await cli(args, k2);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
    }
    expect(await runs()).toHaveLength(before);
  }, 240_000);
});
