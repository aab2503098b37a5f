import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSecurityReport, entryKind, type ControlRow, type SecurityReport } from '../../src/cli/security-report.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nodeBin = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : path.join(root, 'node_modules/.bin/node');
const controls = (JSON.parse(fs.readFileSync(path.join(root, 'docs/security/controls.json'), 'utf8')) as { controls: ControlRow[] }).controls;
const byId = new Map(controls.map((c) => [c.id, c]));

/** Rows of the first Markdown table of a document whose header starts with `| id |`. */
function tableIds(file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  return [...text.matchAll(/^\| (TM-\d+) \|/gm)].map((m) => m[1] as string);
}

describe('the control map', () => {
  it('maps every row of the seed threat model (docs/security/threat-model.md) to a control', () => {
    const rows = tableIds('docs/security/threat-model.md');
    // The seed's table has ten threats; the copy must keep all of them.
    expect(rows).toEqual(['TM-1', 'TM-2', 'TM-3', 'TM-4', 'TM-5', 'TM-6', 'TM-7', 'TM-8', 'TM-9', 'TM-10']);
    const seed = ['Credential reuse', 'Tenant breakout', 'Privilege abuse', 'Queue overload', 'LLM prompt injection', 'Supply chain', 'OTLP exfiltration', 'Lost keys', 'Incident response gap', 'Misconfigured access'];
    rows.forEach((id, i) => expect(byId.get(id)?.item.startsWith(seed[i] as string), id).toBe(true));
    for (const id of ['TM-E4', 'TM-E5']) expect(byId.has(id), id).toBe(true);
  });

  it('maps every checklist item (seed 000 §3–§5, docs/security/checklist.md) to a control, and the checklist links nothing unknown', () => {
    const text = fs.readFileSync(path.join(root, 'docs/security/checklist.md'), 'utf8');
    const items = [...text.matchAll(/^- \[[ x]\] \*\*([A-Z0-9-]+)\*\*/gm)].map((m) => m[1] as string);
    // §3 has five requirement groups, §4 ten service groups (some merged), §5 seventeen tasks in six phases, less merged ones.
    expect(items.filter((i) => i.startsWith('S3-'))).toHaveLength(5);
    expect(items.filter((i) => i.startsWith('S4-'))).toHaveLength(10);
    for (const phase of ['P0-', 'P1-', 'P2-', 'P3-', 'P4-', 'P5-']) expect(items.some((i) => i.startsWith(phase)), phase).toBe(true);
    for (const id of items) expect(byId.has(id), id).toBe(true);
    const mapped = controls.filter((c) => /^(S3|S4|P\d)-/.test(c.id)).map((c) => c.id);
    expect(new Set(items)).toEqual(new Set(mapped));
  });

  it('names at least one proving test per row, and every named test and code file exists', () => {
    for (const c of controls) {
      expect(c.tests.length, c.id).toBeGreaterThan(0);
      for (const t of c.tests) expect(t, c.id).toMatch(/^test\/.+\.test\.ts$/);
      for (const f of [...c.code, ...c.tests]) expect(fs.existsSync(path.join(root, f)), `${c.id}: ${f}`).toBe(true);
    }
    expect(new Set(controls.map((c) => c.id)).size).toBe(controls.length);
  });
});

describe('buildSecurityReport', () => {
  const base = { routes: [], cli: [], profile: 'embedded', exists: () => true };
  const row: ControlRow = { id: 'X-1', source: 's', item: 'i', control: 'c', code: ['src/a.ts'], tests: ['test/a.test.ts'], live: ['schema lint', 'dead letters'] };

  it('takes the worst live check of a row, and a missing check is "not measured", never ok', () => {
    let r = buildSecurityReport({ ...base, controls: [row], checks: [{ ok: true, name: 'schema lint', detail: 'clean' }, { ok: false, name: 'dead letters', detail: '3' }] });
    expect(r.controls[0]?.status).toBe('fail');
    r = buildSecurityReport({ ...base, controls: [row], checks: [{ ok: true, name: 'schema lint', detail: 'clean' }, { ok: true, warn: true, name: 'dead letters', detail: '3' }] });
    expect(r.controls[0]?.status).toBe('warn');
    r = buildSecurityReport({ ...base, controls: [row], checks: [{ ok: true, name: 'schema lint', detail: 'clean' }] });
    expect(r.controls[0]?.status).toBe('not measured');
    expect(r.summary).toMatchObject({ controls: 1, notMeasured: 1, ok: 0 });
  });

  it('reports a named file that does not exist', () => {
    const r = buildSecurityReport({ ...base, controls: [row], checks: [], exists: (f) => f !== 'test/a.test.ts' });
    expect(r.controls[0]?.missing).toEqual(['test/a.test.ts']);
    expect(r.summary.missingFiles).toBe(1);
  });

  it('classifies entry points', () => {
    const r = (p: string) => entryKind({ method: 'GET', path: p, policy: 'public', rateClass: 'default', stepUp: false });
    expect([r('/api/v1/chat/ws'), r('/hooks/:endpointId'), r('/sso/discourse/:tenantId'), r('/api/v1/knowledge'), r('/openapi.json')]).toEqual(['websocket', 'inbound hook', 'sso', 'http api', 'public http']);
  });
});

describe('ocsuite security report (the CLI on this profile)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-report-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: tmp, OCSUITE_DATA_DIR: path.join(tmp, 'data'), LOG_LEVEL: 'silent' };
    if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
    if (process.env.REDIS_URL) env.REDIS_URL = process.env.REDIS_URL;
    if (process.env.DATABASE_URL) env.OCSUITE_MASTER_KEYS = `k1:${Buffer.alloc(32, 7).toString('base64')}`; // gitleaks:allow (a constant, not a key)
    return new Promise((resolve) => {
      const child = spawn(nodeBin, [path.join(root, 'src/cli/main.ts'), 'security', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  let report: SecurityReport;
  it('lists every threat-model row and checklist item with a passing check, in JSON', async () => {
    const r = await cli(['report', '--json']);
    report = JSON.parse(r.stdout) as SecurityReport;
    expect(report.controls.map((c) => c.id)).toEqual(controls.map((c) => c.id));
    for (const c of report.controls) {
      expect(c.missing, c.id).toEqual([]);
      expect(c.status, `${c.id}: ${JSON.stringify(c.checks)}`).not.toBe('fail');
      expect(c.status, c.id).not.toBe('not measured');
    }
    for (const id of ['TM-1', 'TM-2', 'TM-8', 'TM-10']) expect(report.controls.find((c) => c.id === id)?.status).toMatch(/^(ok|warn)$/);
    const names = report.checks.map((c) => c.name);
    for (const n of ['schema lint', 'master key age', 'checkpoint freshness', 'dead letters', 'failed logins', 'route inventory', 'migrations']) expect(names, n).toContain(n);
    expect(report.checks.find((c) => c.name === 'schema lint')?.ok).toBe(true);
  });

  it('includes the entry-point inventory: HTTP routes, the WebSocket, inbound hooks, SSO and the CLI', () => {
    const { counts, routes, cli: commands } = report.entryPoints;
    expect(counts['http api']).toBeGreaterThan(100);
    expect(routes.some((r) => r.kind === 'websocket' && r.path === '/api/v1/chat/ws')).toBe(true);
    expect(routes.some((r) => r.kind === 'inbound hook' && r.path === '/hooks/:endpointId')).toBe(true);
    expect(routes.filter((r) => r.kind === 'sso').length).toBeGreaterThan(0);
    expect(commands.map((c) => c.command)).toEqual(expect.arrayContaining(['serve', 'keys', 'security', 'verify']));
    // Every non-public route has a permission policy: nothing protected is unlisted.
    for (const r of routes) expect(r.policy, `${r.method} ${r.path}`).toBeTruthy();
  });

  it('prints the same as Markdown for an auditor, and refuses an unknown subcommand', async () => {
    const md = await cli(['report']);
    expect(md.stdout).toContain('# OC-Suite security report');
    for (const c of controls) expect(md.stdout).toContain(`| ${c.id} |`);
    expect(md.stdout).toContain('## Entry points');
    expect(md.stdout).toContain('`/hooks/:endpointId`');
    const bad = await cli(['leak-keys']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: ocsuite security report');
  });
});
