import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Each CI gate of scripts/ci run as .ci/run runs it, against a temporary git repository made here
// with a planted violation. Planted secrets are built at run time: nothing realistic is committed.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nodeBin = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : path.join(root, 'node_modules/.bin/node');
const env = { ...process.env, PATH: `${path.dirname(nodeBin)}:${process.env.PATH ?? ''}`, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.test', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.test' };

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-gates-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function gate(script: string, args: string[], cwd = root, extraEnv: Record<string, string> = {}) {
  const r = spawnSync(nodeBin, [path.join(root, 'scripts/ci', script), ...args], { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The same, without blocking the event loop: the fake registry below answers from this process. */
function gateAsync(script: string, args: string[], cwd: string, extraEnv: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(nodeBin, [path.join(root, 'scripts/ci', script), ...args], { cwd, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

function git(repo: string, ...args: string[]) {
  const r = spawnSync('git', args, { cwd: repo, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function newRepo(label: string): string {
  const repo = fs.mkdtempSync(path.join(tmp, `${label}-`));
  git(repo, 'init', '-q', '-b', 'main');
  fs.copyFileSync(path.join(root, '.gitleaks.toml'), path.join(repo, '.gitleaks.toml'));
  fs.writeFileSync(path.join(repo, 'README.md'), 'a clean repository\n');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-qm', 'init');
  return repo;
}

const b64url = (n: number) => randomBytes(n).toString('base64url');
const fakes = {
  apiKey: () => ['ocs', 'ak', b64url(32)].join('_'),
  refreshToken: () => ['ocs', 'rt', b64url(32)].join('_'),
  webhookSecret: () => `${'whsec'}_${randomBytes(24).toString('base64')}`,
  masterKeyFile: () => `# OC-Suite master keys\n${'k1'}:${randomBytes(32).toString('base64')}\n`,
  masterKeyEnv: () => `OCSUITE_MASTER_KEYS=*k2:${randomBytes(32).toString('base64')}`,
  pem: () => `-----BEGIN ${'PRIVATE'} KEY-----\n${randomBytes(48).toString('base64')}\n-----END PRIVATE KEY-----\n`,
};

describe('secret scan (tree and history)', () => {
  it('passes on the project itself', () => {
    const r = gate('secret-scan.ts', ['--repo', root]);
    expect(r.out).toContain('secret scan: clean');
    expect(r.code).toBe(0);
  });

  for (const [kind, make, rule] of [
    ['an API key', fakes.apiKey, 'ocsuite-token'],
    ['a refresh token', fakes.refreshToken, 'ocsuite-token'],
    ['a webhook secret', fakes.webhookSecret, 'webhook-secret'],
    ['a master key file', fakes.masterKeyFile, 'master-key-entry'],
    ['OCSUITE_MASTER_KEYS in an env file', fakes.masterKeyEnv, 'master-key-entry'],
    ['a PEM private key', fakes.pem, 'private-key'],
  ] as const) {
    it(`fails on ${kind} in the working tree, and names the rule and place without printing the secret`, () => {
      const repo = newRepo('tree');
      const secret = make();
      fs.writeFileSync(path.join(repo, 'config.env'), `# deploy settings\nVALUE="${secret}"\n`);
      const r = gate('secret-scan.ts', ['--repo', repo]);
      expect(r.code).toBe(1);
      expect(r.out).toContain('secret scan: FAILED');
      expect(r.out).toMatch(new RegExp(`${rule}\\s+config\\.env:\\d`));
      const core = secret.replace(/^.*?(\S{20,}).*$/s, '$1');
      expect(r.out).not.toContain(core.slice(-20));
    });
  }

  it('fails on a key committed and deleted again: the history reachable from HEAD still holds it', () => {
    const repo = newRepo('history');
    fs.writeFileSync(path.join(repo, 'n8n.json'), JSON.stringify({ apiKey: fakes.apiKey() }));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'add n8n credentials');
    const leak = git(repo, 'rev-parse', 'HEAD').trim();
    fs.rmSync(path.join(repo, 'n8n.json'));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-qm', 'remove them again');
    expect(gate('secret-scan.ts', ['--repo', repo, '--no-history']).code).toBe(0); // the tree is clean
    const r = gate('secret-scan.ts', ['--repo', repo]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`n8n.json:1  commit ${leak.slice(0, 12)}`);
  });

  it('accepts a line marked gitleaks:allow and an allowlisted path, nothing else', () => {
    const repo = newRepo('allow');
    fs.writeFileSync(path.join(repo, 'doc.md'), `example ${fakes.apiKey()} <!-- gitleaks:allow -->\n`);
    expect(gate('secret-scan.ts', ['--repo', repo]).code).toBe(0);
    fs.appendFileSync(path.join(repo, 'doc.md'), `and ${fakes.apiKey()}\n`);
    const r = gate('secret-scan.ts', ['--repo', repo]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('doc.md:2');
  });

  it('refuses a rule file outside the subset it reads instead of scanning with fewer rules', () => {
    const repo = newRepo('config');
    fs.appendFileSync(path.join(repo, '.gitleaks.toml'), '\n[[rules]]\nid = "x"\nregex = """multi\n');
    const r = gate('secret-scan.ts', ['--repo', repo]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('.gitleaks.toml');
  });
});

/** A project with one production dependency, its lockfile written as npm writes it. */
function newProject(label: string, opts: { range?: string; lockRange?: string; licence?: string; installScript?: boolean; allowScripts?: Record<string, boolean> } = {}): string {
  const repo = newRepo(label);
  const range = opts.range ?? '^1.0.0';
  fs.writeFileSync(path.join(repo, 'package.json'), JSON.stringify({ name: 'demo', version: '1.0.0', dependencies: { 'left-pad-demo': range }, ...(opts.allowScripts ? { allowScripts: opts.allowScripts } : {}) }, null, 2));
  fs.writeFileSync(path.join(repo, 'package-lock.json'), JSON.stringify({
    name: 'demo', version: '1.0.0', lockfileVersion: 3, requires: true,
    packages: {
      '': { name: 'demo', version: '1.0.0', dependencies: { 'left-pad-demo': opts.lockRange ?? range } },
      'node_modules/left-pad-demo': {
        version: '1.2.0', resolved: 'https://registry.npmjs.org/left-pad-demo/-/left-pad-demo-1.2.0.tgz',
        integrity: `sha512-${randomBytes(64).toString('base64')}`, license: opts.licence ?? 'MIT',
        ...(opts.installScript ? { hasInstallScript: true } : {}),
      },
    },
  }, null, 2));
  fs.mkdirSync(path.join(repo, 'security'));
  fs.copyFileSync(path.join(root, 'security/licenses.json'), path.join(repo, 'security/licenses.json'));
  return repo;
}

describe('lockfile matches package.json', () => {
  it('passes on the project itself and on a consistent project', () => {
    expect(gate('lockfile.ts', [root]).code).toBe(0);
    expect(gate('lockfile.ts', [newProject('lock-ok')]).code).toBe(0);
  });

  it('fails when package.json asks for a range the lockfile was not made for', () => {
    const r = gate('lockfile.ts', [newProject('lock-range', { range: '^2.0.0', lockRange: '^1.0.0' })]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('dependencies.left-pad-demo: package.json asks for ^2.0.0, package-lock.json was made for ^1.0.0');
  });

  it('fails when a dependency was added to package.json without the lockfile', () => {
    const repo = newProject('lock-added');
    const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
    pkg.dependencies['is-even-demo'] = '^1.0.0';
    fs.writeFileSync(path.join(repo, 'package.json'), JSON.stringify(pkg));
    const r = gate('lockfile.ts', [repo]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('is-even-demo (^1.0.0) is in package.json but not in package-lock.json');
  });

  it('fails when the root entry agrees but the locked version is outside the range (npm ls)', () => {
    const repo = newProject('lock-version', { range: '^3.0.0' });
    const r = gate('lockfile.ts', [repo]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('npm ls --package-lock-only');
    expect(r.out).toContain('left-pad-demo');
  });
});

describe('licences of production dependencies', () => {
  it('passes on the project itself', () => {
    expect(gate('licenses.ts', [root]).code).toBe(0);
  });

  it('fails on a copyleft licence and on a missing one; an OR expression passes when one side is allowed', () => {
    let r = gate('licenses.ts', [newProject('lic-gpl', { licence: 'AGPL-3.0-only' })]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('left-pad-demo@1.2.0: licence "AGPL-3.0-only" is not in security/licenses.json');
    r = gate('licenses.ts', [newProject('lic-and', { licence: 'MIT AND GPL-2.0-only' })]);
    expect(r.code).toBe(1);
    expect(gate('licenses.ts', [newProject('lic-or', { licence: '(GPL-2.0-only OR MIT)' })]).code).toBe(0);
  });
});

describe('install scripts reviewed', () => {
  it('passes on the project itself', () => {
    expect(gate('install-scripts.ts', [root]).code).toBe(0);
  });

  it('fails on a new dependency with an install script, and on an upgrade past the reviewed version', () => {
    let r = gate('install-scripts.ts', [newProject('scripts-new', { installScript: true })]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('left-pad-demo@1.2.0 runs install scripts and allowScripts has no entry for it');
    r = gate('install-scripts.ts', [newProject('scripts-upgrade', { installScript: true, allowScripts: { 'left-pad-demo@1.1.0': true } })]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('reviewed left-pad-demo@1.1.0 only');
    expect(gate('install-scripts.ts', [newProject('scripts-denied', { installScript: true, allowScripts: { 'left-pad-demo': false } })]).code).toBe(0);
  });
});

describe('npm audit with an allowlist', () => {
  // A registry that answers npm's bulk advisory request with one moderate advisory for left-pad-demo.
  let registry: http.Server;
  let url: string;
  const requests: unknown[] = [];
  beforeAll(async () => {
    registry = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'POST' && req.url?.startsWith('/-/npm/v1/security/advisories/bulk')) {
          const raw = Buffer.concat(chunks);
          requests.push(JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString()));
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ 'left-pad-demo': [{ id: 1099001, url: 'https://github.com/advisories/GHSA-demo-demo-demo', title: 'Prototype pollution in left-pad-demo', severity: 'moderate', vulnerable_versions: '<2.0.0', cwe: [], cvss: { score: 5.3 } }] }));
        } else {
          res.statusCode = 404;
          res.end();
        }
      });
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(registry.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => registry.close(() => r())));

  const allow = (repo: string, entries: unknown[]) => fs.writeFileSync(path.join(repo, 'security/audit-allowlist.json'), JSON.stringify({ advisories: entries }));
  const audit = (repo: string, args: string[] = []) => gateAsync('audit.ts', ['--repo', repo, ...args], repo, { npm_config_registry: url, npm_config_cache: path.join(tmp, 'npm-cache') });
  const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10);

  it('fails on a moderate advisory of a locked dependency', async () => {
    const r = await audit(newProject('audit-open'));
    expect(r.code).toBe(1);
    expect(r.out).toContain('npm audit: FAILED');
    expect(r.out).toContain('moderate left-pad-demo');
    expect(r.out).toContain('GHSA-demo-demo-demo');
    expect(requests.length).toBeGreaterThan(0);
  });

  it('passes when the allowlist accepts it with a reason and a future expiry; fails once the entry expired', async () => {
    const repo = newProject('audit-allowed');
    allow(repo, [{ id: 'GHSA-demo-demo-demo', package: 'left-pad-demo', reason: 'only reached from the build, never with user input', expires: inDays(30) }]);
    let r = await audit(repo);
    expect(r.out).toContain('1 accepted');
    expect(r.code).toBe(0);
    allow(repo, [{ id: 'GHSA-demo-demo-demo', package: 'left-pad-demo', reason: 'only reached from the build', expires: inDays(-1) }]);
    r = await audit(repo);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`expired on ${inDays(-1)}`);
  });

  it('refuses an allowlist entry without a reason, and one for another package', async () => {
    const repo = newProject('audit-noreason');
    allow(repo, [{ id: 'GHSA-demo-demo-demo', package: 'left-pad-demo', expires: inDays(30) }]);
    let r = await audit(repo);
    expect(r.code).toBe(1);
    expect(r.out).toContain('"reason" is required');
    allow(repo, [{ id: 'GHSA-demo-demo-demo', package: 'other', reason: 'r', expires: inDays(30) }]);
    r = await audit(repo);
    expect(r.code).toBe(1);
    expect(r.out).toContain('moderate left-pad-demo');
  });

  it('fails closed when the advisory database cannot answer, and warns only when told to', () => {
    const repo = newProject('audit-down');
    const down = { npm_config_registry: 'http://127.0.0.1:9/', npm_config_cache: path.join(tmp, 'npm-cache'), npm_config_fetch_retries: '0' };
    let r = gate('audit.ts', ['--repo', repo], repo, down);
    expect(r.code).toBe(1);
    expect(r.out).toContain('the advisory database could not be asked');
    r = gate('audit.ts', ['--repo', repo, '--unreachable=warn'], repo, down);
    expect(r.code).toBe(0);
    expect(r.out).toContain('WARNING');
  });
});

describe('.ci/run', () => {
  it('runs the gates before the test suites and fails on a lockfile npm install rewrites', () => {
    const run = fs.readFileSync(path.join(root, '.ci/run'), 'utf8');
    const gates = run.indexOf('scripts/ci/gates.sh');
    expect(gates).toBeGreaterThan(0);
    expect(gates).toBeLessThan(run.indexOf('npm test'));
    expect(run).toContain('npm install changed package-lock.json');
    const sh = fs.readFileSync(path.join(root, 'scripts/ci/gates.sh'), 'utf8');
    for (const s of ['secret-scan.ts', 'lockfile.ts', 'audit.ts', 'licenses.ts', 'install-scripts.ts']) expect(sh).toContain(s);
  });
});
