import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, uniqueEmail } from '../support/app.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'src/cli/main.ts');
// The CLI runs TypeScript directly, which needs Node >= 22 (type stripping).
const nodeBin = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : path.join(root, 'node_modules/.bin/node');

let tmp: string;
const children = new Set<ChildProcess>();

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-cli-'));
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

const masterKeys = () => `k1:${randomBytes(32).toString('base64')}`;
const dataDir = (label: string) => fs.mkdtempSync(path.join(tmp, `${label}-`));

/** A clean environment: nothing of the test runner's (DATABASE_URL, NODE_ENV=test) leaks in. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmp, LOG_LEVEL: 'info', ...extra };
}

interface Run { code: number | null; stdout: string; stderr: string }

function start(args: string[], extra: Record<string, string>): { child: ChildProcess; out: () => string; err: () => string; done: Promise<Run> } {
  const child = spawn(nodeBin, [main, ...args], { cwd: root, env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, out: () => stdout, err: () => stderr, done };
}

async function run(args: string[], extra: Record<string, string>, timeoutMs = 120_000): Promise<Run> {
  const p = start(args, extra);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  try {
    return await p.done;
  } finally {
    clearTimeout(timer);
  }
}

async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = 40_000 + Math.floor(Math.random() * 20_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port');
}

async function waitHealthy(base: string, proc: { child: ChildProcess; err: () => string }, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`serve exited with ${proc.child.exitCode}: ${proc.err()}`);
    try {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`serve not healthy within ${ms} ms: ${proc.err()}`);
}

describe('ocsuite CLI', () => {
  it('routes --json prints the inventory with policies', async () => {
    const r = await run(['routes', '--json'], { OCSUITE_DATA_DIR: dataDir('routes'), OCSUITE_MASTER_KEYS: masterKeys() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ method: string; path: string; policy: string; rateClass: string; stepUp: boolean }>;
    expect(rows).toContainEqual({ method: 'GET', path: '/api/v1/knowledge/:id', policy: 'knowledge:read', rateClass: 'default', stepUp: false });
    expect(rows).toContainEqual({ method: 'POST', path: '/api/v1/auth/login', policy: 'public', rateClass: 'auth', stepUp: false });
    expect(rows).toContainEqual({ method: 'GET', path: '/metrics', policy: 'operator', rateClass: 'default', stepUp: false });
    // Operations that need a fresh second factor say so.
    expect(rows).toContainEqual({ method: 'POST', path: '/api/v1/api-keys', policy: 'apikeys:manage', rateClass: 'default', stepUp: true });
    expect(rows).toContainEqual({ method: 'DELETE', path: '/api/v1/tenant', policy: 'tenant:delete', rateClass: 'default', stepUp: true });
    expect(rows.length).toBeGreaterThan(15);
    for (const row of rows) expect(Object.keys(row).sort()).toEqual(['method', 'path', 'policy', 'rateClass', 'stepUp']);
    const sorted = [...rows].sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
    expect(rows).toEqual(sorted);
  }, 300_000);

  it('doctor exits 0 and reports ok on a sound embedded configuration', async () => {
    const r = await run(['doctor'], {
      OCSUITE_DATA_DIR: dataDir('doctor'),
      OCSUITE_MASTER_KEYS: masterKeys(),
      OCSUITE_OPERATOR_TOKEN: randomBytes(36).toString('base64url'),
    });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) expect(line).toMatch(/^ok\s/);
    expect(r.stdout).toMatch(/master keys\s+1 key\(s\), primary k1/);
    expect(r.stdout).not.toContain('FAIL');
  }, 300_000);

  it('doctor exits 1 and says FAIL for a broken master key', async () => {
    const r = await run(['doctor'], { OCSUITE_DATA_DIR: dataDir('doctor-bad'), OCSUITE_MASTER_KEYS: 'k1:tooshort', OCSUITE_OPERATOR_TOKEN: randomBytes(36).toString('base64url') });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL\s+master keys/m);
  }, 300_000);

  it('PORT=abc exits 78 and names PORT', async () => {
    const dir = dataDir('badport');
    const r = await run(['serve'], { OCSUITE_DATA_DIR: dir, OCSUITE_MASTER_KEYS: masterKeys(), PORT: 'abc' });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/^\s+- PORT: /m);
    // Refused before touching the data folder.
    expect(fs.readdirSync(dir)).toEqual([]);
  }, 300_000);

  it('production with CORS * and no database or master keys exits 78 naming each problem', async () => {
    const r = await run(['serve'], { OCSUITE_DATA_DIR: dataDir('prod'), NODE_ENV: 'production', CORS_ORIGINS: '*' });
    expect(r.code).toBe(78);
    for (const name of ['CORS_ORIGINS', 'DATABASE_URL', 'OCSUITE_MASTER_KEYS', 'PUBLIC_URL']) expect(r.stderr).toMatch(new RegExp(`^\\s+- ${name}: `, 'm'));
    expect(r.stdout).not.toContain('running');
  }, 300_000);

  it('an unknown command exits 2 with usage; no command exits 2 too', async () => {
    const r = await run(['frobnicate'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(r.stderr).toContain('usage: ocsuite');
    const none = await run([], {});
    expect(none.code).toBe(2);
    expect(none.stdout).toContain('usage: ocsuite');
  }, 300_000);

  it('serve keeps its data across restarts and creates master.keys 0600', async () => {
    const dir = dataDir('serve');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // No OCSUITE_MASTER_KEYS: the embedded profile creates (then reuses) a local key file.
    const serveEnv = { OCSUITE_DATA_DIR: dir, PORT: String(port), HOST: '127.0.0.1' };

    const first = start(['serve'], serveEnv);
    await waitHealthy(base, first);
    const email = uniqueEmail('cli');
    const su = await fetch(`${base}/api/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenantName: 'CLI Tenant', email, password: PASSWORD }),
    });
    expect(su.status).toBe(201);
    const tenantId = ((await su.json()) as { tenant: { id: string } }).tenant.id;
    first.child.kill('SIGTERM');
    const stopped = await first.done;
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain(`OC-Suite is running (embedded profile) at ${base}`);
    expect(stopped.stdout).toContain('CREATED A LOCAL MASTER KEY FILE');

    const keyFile = path.join(dir, 'master.keys');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const keyBytes = fs.readFileSync(keyFile);

    const second = start(['serve'], serveEnv);
    try {
      await waitHealthy(base, second);
      const li = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD }),
      });
      expect(li.status).toBe(200);
      const body = (await li.json()) as { tenant: { id: string }; roles: string[]; accessToken: string };
      expect(body.tenant.id).toBe(tenantId);
      expect(body.roles).toEqual(['owner']);
      const me = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${body.accessToken}` } });
      expect(me.status).toBe(200);
    } finally {
      second.child.kill('SIGTERM');
    }
    const stopped2 = await second.done;
    expect(stopped2.code).toBe(0);
    expect(stopped2.stdout).not.toContain('CREATED A LOCAL MASTER KEY FILE');
    expect(fs.readFileSync(keyFile).equals(keyBytes)).toBe(true);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
  }, 300_000);
});
