#!/usr/bin/env node
/**
 * CI gate: `npm audit --audit-level=moderate` against package-lock.json. An
 * advisory may be accepted only through security/audit-allowlist.json, each
 * entry naming the advisory (GHSA id or npm advisory number), the package, the
 * reason and an expiry date; an expired entry fails the gate by itself, so an
 * acceptance is reviewed again instead of living forever.
 *
 * When the registry's advisory endpoint cannot answer, the gate fails, unless
 * `--unreachable=warn` is given (see .ci/run: the registry mirror of the CI
 * machines answers 405 to the bulk advisory POST).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

export interface AllowEntry { id: string; package: string; reason: string; expires: string }
interface Via { source?: number; name?: string; title?: string; url?: string; severity?: string; range?: string }
interface AuditJson { vulnerabilities?: Record<string, { severity: string; via: Array<Via | string> }>; error?: { summary?: string; code?: string }; message?: string; statusCode?: number }

const LEVELS = ['info', 'low', 'moderate', 'high', 'critical'];
const FAIL_AT = LEVELS.indexOf('moderate');

export function allowlistProblems(entries: unknown, today: string): string[] {
  if (!Array.isArray(entries)) return ['security/audit-allowlist.json: "advisories" must be an array'];
  const problems: string[] = [];
  entries.forEach((e: Partial<AllowEntry>, i) => {
    const at = `entry #${i + 1}${e?.id ? ` (${e.id})` : ''}`;
    for (const k of ['id', 'package', 'reason', 'expires'] as const) if (typeof e?.[k] !== 'string' || !e[k]) problems.push(`${at}: "${k}" is required`);
    if (typeof e?.expires === 'string' && !/^\d{4}-\d{2}-\d{2}$/.test(e.expires)) problems.push(`${at}: "expires" must be YYYY-MM-DD`);
    else if (typeof e?.expires === 'string' && e.expires < today) problems.push(`${at}: expired on ${e.expires}; review the advisory again and renew or remove the entry`);
  });
  return problems;
}

/** The advisories at or above moderate that no entry accepts. */
export function unacceptedAdvisories(report: AuditJson, allow: readonly AllowEntry[]): string[] {
  const out = new Set<string>();
  for (const [pkg, v] of Object.entries(report.vulnerabilities ?? {})) {
    for (const via of v.via) {
      if (typeof via === 'string') continue; // reached through another package, reported there
      if (LEVELS.indexOf(via.severity ?? 'info') < FAIL_AT) continue;
      const ghsa = /GHSA-[\w-]+/.exec(via.url ?? '')?.[0];
      const ids = [ghsa, via.source !== undefined ? String(via.source) : undefined].filter(Boolean);
      if (allow.some((a) => ids.includes(a.id) && a.package === (via.name ?? pkg))) continue;
      out.add(`${via.severity} ${via.name ?? pkg} ${via.range ?? ''}: ${via.title ?? '?'} (${ghsa ?? via.source ?? 'no id'}) ${via.url ?? ''}`.trim());
    }
  }
  return [...out];
}

function main(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { repo: { type: 'string', default: '.' }, unreachable: { type: 'string', default: 'fail' } } });
  const repo = path.resolve(values.repo as string);
  const allowFile = path.join(repo, 'security/audit-allowlist.json');
  const allow = fs.existsSync(allowFile) ? (JSON.parse(fs.readFileSync(allowFile, 'utf8')) as { advisories?: unknown }).advisories ?? [] : [];
  const listProblems = allowlistProblems(allow, new Date().toISOString().slice(0, 10));
  if (listProblems.length) {
    console.error('npm audit: FAILED — security/audit-allowlist.json:');
    for (const p of listProblems) console.error(`  ${p}`);
    return 1;
  }
  const run = spawnSync('npm', ['audit', '--json', '--package-lock-only', '--audit-level=moderate'], { cwd: repo, encoding: 'utf8', maxBuffer: 64 << 20 });
  let report: AuditJson;
  try {
    report = JSON.parse(run.stdout) as AuditJson;
  } catch {
    report = { message: run.stderr.trim().split('\n').pop() ?? 'no output' };
  }
  if (!report.vulnerabilities) {
    const why = report.message ?? report.error?.summary ?? `npm audit exited ${run.status}`;
    if (values.unreachable === 'warn') {
      console.warn(`npm audit: WARNING — the advisory database could not be asked (${why}); the allowlist was checked, the lockfile was not`);
      return 0;
    }
    console.error(`npm audit: FAILED — the advisory database could not be asked (${why})`);
    return 1;
  }
  const open = unacceptedAdvisories(report, allow as AllowEntry[]);
  if (open.length === 0) {
    console.log(`npm audit: no unaccepted advisory at moderate or above (${(allow as AllowEntry[]).length} accepted in security/audit-allowlist.json)`);
    return 0;
  }
  console.error('npm audit: FAILED — advisories at moderate or above; upgrade, or accept one in security/audit-allowlist.json with its reason and expiry:');
  for (const a of open) console.error(`  ${a}`);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
