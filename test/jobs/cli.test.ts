import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { JobSystem } from '../../src/jobs/system.ts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { jobsCommand } from '../../src/cli/jobs.ts';
import { bootPlatform, shutdownPlatform } from '../../src/boot.ts';
import { loadConfig } from '../../src/config/config.ts';
import { purgePrefix } from '../../src/jobs/bullmq.ts';
import { recordPlatformDeadLetter, recordTenantDeadLetter } from '../../src/jobs/dead-letters.ts';
import { enqueueMail } from '../../src/kernel/mail/delivery.ts';
import { modules } from '../../src/modules/index.ts';
import { defineModule, type ModuleManifest } from '../../src/modules/manifest.ts';
import { redisUrl, uniquePrefix, usingPostgres } from './support.ts';

/**
 * `ocsuite jobs …` and `ocsuite worker` as an operator runs them: real
 * processes against the stores of this run's profile.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');
const nodeBin = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : path.join(root, 'node_modules/.bin/node');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-jobs-cli-'));
const prefix = uniquePrefix();
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  HOME: tmp,
  OCSUITE_DATA_DIR: path.join(tmp, 'data'),
  // The run's key: on PostgreSQL every test file shares the database's signing keys.
  OCSUITE_MASTER_KEYS: process.env.OCSUITE_TEST_MASTER_KEYS!,
  LOG_LEVEL: 'silent',
  ...(usingPostgres ? { DATABASE_URL: process.env.OCSUITE_TEST_DATABASE_URL! } : {}),
  ...(redisUrl ? { REDIS_URL: redisUrl, OCSUITE_JOBS_PREFIX: prefix } : {}),
};
const children = new Set<ChildProcess>();
/** A module with a schedule of its own, as a service module declares one in its manifest. */
const sweeps: string[] = [];
const scheduled = defineModule({
  name: 'clisweeper',
  description: 'test module with a schedule',
  permissions: [],
  tables: [],
  // 29 February on a Monday: declared and applied, never due during a test run.
  schedules: [{ name: 'clisweeper.sweep', cron: '0 4 29 2 1', description: 'sweep expired test things', handler: () => async () => void sweeps.push('swept') }],
});
const composed = [...modules, scheduled];
// Unique per run: on PostgreSQL the database outlives the run.
const pagingQueue = `cli.paging.${randomBytes(4).toString('hex')}`;
let platformDl: string;
let tenantDl: string;

function run(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(nodeBin, [main, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code, out, err });
  }));
}

/** The same command in this process (the spawned run above proves the wiring; this saves a boot of Node per call). */
async function cli(args: string[], composition: readonly ModuleManifest[] = composed): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = await jobsCommand(loadConfig(env), args, composition);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

beforeAll(async () => {
  // The state an operator finds: one platform and one tenant dead letter, schedules applied by a worker.
  const config = loadConfig(env);
  const platform = await bootPlatform({ ...config, logLevel: 'silent' }, { workers: true, modules: composed });
  try {
    const [t] = await platform.withIdentity((tx) => tx.query<{ id: string }>(sql`INSERT INTO tenants (name) VALUES ('CLI tenant') RETURNING id`));
    const opts = { statementTimeoutMs: 5_000 };
    const jobId = `cli-${randomBytes(4).toString('hex')}`;
    await recordPlatformDeadLetter(platform.db, opts, { queue: 'alerts.deliver', jobId, payload: { id: 'x', type: 'jobs.failure_spike', summary: 's' }, error: 'webhook answered 500', attempts: 7, retryable: true, claimedTenantId: null });
    await recordTenantDeadLetter(platform.db, opts, t!.id, { queue: 'alerts.deliver', jobId: `${jobId}-t`, payload: { n: 1 }, error: 'tenant job failed', attempts: 3, retryable: true });
    for (let i = 0; i < 5; i++) {
      await recordPlatformDeadLetter(platform.db, opts, { queue: pagingQueue, jobId: `${jobId}-p${i}`, payload: {}, error: `paged ${i}`, attempts: 1, retryable: false, claimedTenantId: null });
    }
  } finally {
    await shutdownPlatform(platform);
  }
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
  if (redisUrl) await purgePrefix(redisUrl, prefix);
});

describe('ocsuite jobs', () => {
  it('lists every dead letter, platform and tenant, as JSON (a real `ocsuite` process)', async () => {
    const r = await run(['jobs', 'dead', 'list', '--queue', 'alerts.deliver', '--json']);
    expect(r.code, r.err).toBe(0);
    const items = JSON.parse(r.out) as Array<{ id: string; tenantId: string | null; error: string; status: string }>;
    const platform = items.find((i) => i.error === 'webhook answered 500');
    const tenant = items.find((i) => i.error === 'tenant job failed');
    expect(platform).toMatchObject({ tenantId: null, status: 'dead' });
    expect(tenant?.tenantId).toMatch(/^[0-9a-f-]{36}$/);
    platformDl = platform!.id;
    tenantDl = tenant!.id;
  });

  it('retries one and discards the other; both show up resolved and a second retry fails', async () => {
    const retried = await cli(['dead', 'retry', platformDl]);
    expect(retried.code, retried.err).toBe(0);
    expect(retried.out).toMatch(new RegExp(`retried ${platformDl} as job [0-9a-f-]{36} on alerts.deliver`));
    const discarded = await cli(['dead', 'discard', tenantDl]);
    expect(discarded.code, discarded.err).toBe(0);
    const shown = await cli(['dead', 'show', tenantDl]);
    expect(JSON.parse(shown.out)).toMatchObject({ id: tenantDl, status: 'discarded', resolvedBy: expect.stringMatching(/^operator:cli:/) });
    const again = await cli(['dead', 'retry', platformDl]);
    expect(again.code).toBe(1);
    expect(again.err).toContain('awaiting a retry');
  });

  it('pages dead letters with a cursor, or walks them all (issue #22 §5)', async () => {
    const first = await cli(['dead', 'list', '--queue', pagingQueue, '--limit', '2', '--json']);
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(first.out)).toHaveLength(2);
    const cursor = /--cursor (\S+)/.exec(first.err)?.[1];
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const rest: string[] = [];
    let next: string | undefined = cursor;
    while (next) {
      const page = await cli(['dead', 'list', '--queue', pagingQueue, '--limit', '2', '--cursor', next, '--json']);
      expect(page.code, page.err).toBe(0);
      rest.push(...(JSON.parse(page.out) as Array<{ error: string }>).map((d) => d.error));
      next = /--cursor (\S+)/.exec(page.err)?.[1];
    }
    const all = await cli(['dead', 'list', '--queue', pagingQueue, '--limit', '2', '--all', '--json']);
    expect(all.err).toBe('');
    const every = (JSON.parse(all.out) as Array<{ error: string }>).map((d) => d.error);
    expect([...every].sort()).toEqual(['paged 0', 'paged 1', 'paged 2', 'paged 3', 'paged 4']);
    expect([...(JSON.parse(first.out) as Array<{ error: string }>).map((d) => d.error), ...rest]).toEqual(every);
    const forged = await cli(['dead', 'list', '--cursor', Buffer.from('[1,"yesterday","x"]').toString('base64url')]);
    expect(forged.code).toBe(2);
    expect(forged.err).toContain('--cursor');
  });

  it('refuses bad input before touching anything', async () => {
    expect((await cli(['dead', 'retry', 'not-a-uuid'])).code).toBe(2);
    expect((await cli(['dead', 'list', '--status', 'exploded'])).code).toBe(2);
    expect((await cli(['nonsense'])).code).toBe(2);
  });

  it('shows every schedule entry with its handler and whether the driver has it', async () => {
    const r = await cli(['schedules', '--json']);
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as Array<{ name: string; cron: string; handler: string; scheduled: boolean }>;
    expect(rows.map((x) => x.name)).toEqual(expect.arrayContaining(['keys.rotate', 'access-log.prune', 'translog.checkpoint.publish', 'jobs.completions.prune']));
    for (const row of rows) expect(row.scheduled, row.name).toBe(row.handler === 'registered');
    expect(rows.find((x) => x.name === 'jobs.completions.prune')).toMatchObject({ cron: '15 * * * *', handler: 'registered', scheduled: true });
  });

  it('lists the modules\' manifest schedules after the platform\'s, applied by the worker like them', async () => {
    const r = await cli(['schedules', '--json']);
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as Array<{ name: string; cron: string; handler: string; scheduled: boolean; owner: string; description: string }>;
    const names = rows.map((x) => x.name);
    expect(names.indexOf('clisweeper.sweep')).toBeGreaterThan(names.indexOf('jobs.completions.prune'));
    expect(rows.find((x) => x.name === 'clisweeper.sweep')).toEqual({
      name: 'clisweeper.sweep', cron: '0 4 29 2 1', handler: 'registered', scheduled: true, status: 'ok', owner: 'module clisweeper', description: 'sweep expired test things',
    });
    const text = await cli(['schedules']);
    expect(text.out).toMatch(/^clisweeper\.sweep +0 4 29 2 1 +registered +scheduled +module clisweeper — sweep expired test things$/m);
    // Without the module in the composition, its schedule is not listed.
    const without = await cli(['schedules', '--json'], modules);
    expect((JSON.parse(without.out) as Array<{ name: string }>).map((x) => x.name)).not.toContain('clisweeper.sweep');
    expect(sweeps).toEqual([]);
  });

  it('reports a schedule the driver lost (Redis restarted or flushed) as MISSING and exits 1, until a worker re-asserts it', async () => {
    const config = loadConfig(env);
    const platform = await bootPlatform({ ...config, logLevel: 'silent' }, { modules: composed });
    try {
      await (platform.jobs as JobSystem).raw.unschedule('jobs.completions.prune');
    } finally {
      await shutdownPlatform(platform);
    }
    const r = await cli(['schedules']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^jobs\.completions\.prune +15 \* \* \* \* +registered +MISSING /m);
    expect(r.err).toContain('missing in the driver: jobs.completions.prune');
    const json = JSON.parse((await cli(['schedules', '--json'])).out) as Array<{ name: string; status: string }>;
    expect(json.find((x) => x.name === 'jobs.completions.prune')).toMatchObject({ status: 'missing' });
    // A worker starting applies every schedule again.
    const worker = await bootPlatform({ ...config, logLevel: 'silent' }, { workers: true, modules: composed });
    await shutdownPlatform(worker);
    expect((await cli(['schedules'])).code).toBe(0);
  });
});

describe('ocsuite worker', () => {
  it(usingPostgres ? 'runs the queues in a process of its own' : 'refuses the embedded profile (serve runs its workers)', async () => {
    if (!usingPostgres) {
      const r = await run(['worker']);
      expect(r.code).toBe(2);
      expect(r.err).toContain('inside `ocsuite serve`');
      return;
    }
    // A mail queued by an API process without workers is delivered by the worker process.
    const config = loadConfig(env);
    const api = await bootPlatform({ ...config, logLevel: 'silent' }, { workers: false });
    const outbox = path.join(env.OCSUITE_DATA_DIR!, 'outbox');
    try {
      await enqueueMail(api.jobs, api.keyring, { to: 'worker-test@example.com', subject: 'from the worker', text: 'hello' });
    } finally {
      await shutdownPlatform(api);
    }
    const child = spawn(nodeBin, [main, 'worker'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const deadline = Date.now() + 30_000;
    const delivered = () => fs.existsSync(outbox) && fs.readdirSync(outbox).some((f) => fs.readFileSync(path.join(outbox, f), 'utf8').includes('from the worker'));
    // The banner may follow the first delivery by a moment under load: wait for both.
    while (!(delivered() && out.includes('ocsuite worker:')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(out).toContain('ocsuite worker:');
    expect(delivered()).toBe(true);
    child.kill('SIGTERM');
    expect(await new Promise((r) => child.on('close', r))).toBe(0);
  });
});
