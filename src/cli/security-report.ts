import type { Check } from './doctor.ts';

/** One row of docs/security/controls.json: a threat or checklist item and what answers it. */
export interface ControlRow { id: string; source: string; item: string; control: string; code: string[]; tests: string[]; live: string[] }
export interface RouteRow { method: string; path: string; policy: string; rateClass: string; stepUp: boolean }
export type Status = 'ok' | 'warn' | 'fail' | 'not measured' | 'tests only';
export type EntryKind = 'http api' | 'websocket' | 'inbound hook' | 'sso' | 'public http';

export interface SecurityReport {
  generatedAt: string;
  profile: string;
  summary: { controls: number; ok: number; warn: number; fail: number; testsOnly: number; notMeasured: number; missingFiles: number };
  controls: Array<ControlRow & { status: Status; checks: Array<{ name: string; status: Status; detail: string }>; missing: string[] }>;
  checks: Check[];
  entryPoints: { routes: Array<RouteRow & { kind: EntryKind }>; cli: Array<{ command: string; summary: string }>; counts: Record<EntryKind | 'cli', number> };
}

const rank: Record<Status, number> = { fail: 4, warn: 3, 'not measured': 2, ok: 1, 'tests only': 0 };

export function entryKind(r: RouteRow): EntryKind {
  if (r.path === '/ws' || r.path.endsWith('/ws')) return 'websocket';
  if (r.path.startsWith('/hooks/')) return 'inbound hook';
  if (r.path.startsWith('/sso/') || /\/(oidc|sso)(\/|$)/.test(r.path)) return 'sso';
  if (r.path.startsWith('/api/')) return 'http api';
  return 'public http';
}

function checkStatus(name: string, checks: readonly Check[]): { status: Status; detail: string } {
  const found = checks.filter((c) => c.name === name);
  if (found.length === 0) {
    // The doctor reports database roles only when one is wrong; a clean schema lint means it looked.
    if (name === 'database roles' && checks.some((c) => c.name === 'schema lint')) return { status: 'ok', detail: 'no problem found' };
    return { status: 'not measured', detail: 'not measured on this deployment (no database yet?)' };
  }
  const status: Status = found.some((c) => !c.ok) ? 'fail' : found.some((c) => c.warn) ? 'warn' : 'ok';
  return { status, detail: found.map((c) => c.detail).join('; ') };
}

export function buildSecurityReport(input: {
  controls: readonly ControlRow[];
  checks: readonly Check[];
  routes: readonly RouteRow[];
  cli: ReadonlyArray<{ command: string; summary: string }>;
  profile: string;
  exists: (file: string) => boolean;
  now?: Date;
}): SecurityReport {
  const controls = input.controls.map((c) => {
    const checks = c.live.map((name) => ({ name, ...checkStatus(name, input.checks) }));
    const missing = [...c.code, ...c.tests].filter((f) => !input.exists(f));
    const status: Status = checks.length === 0 ? 'tests only' : checks.reduce<Status>((worst, k) => (rank[k.status] > rank[worst] ? k.status : worst), 'ok');
    return { ...c, status, checks, missing };
  });
  const routes = input.routes.map((r) => ({ ...r, kind: entryKind(r) }));
  const counts = { 'http api': 0, websocket: 0, 'inbound hook': 0, sso: 0, 'public http': 0, cli: input.cli.length } as Record<EntryKind | 'cli', number>;
  for (const r of routes) counts[r.kind]++;
  const n = (s: Status) => controls.filter((c) => c.status === s).length;
  return {
    generatedAt: (input.now ?? new Date()).toISOString(),
    profile: input.profile,
    summary: { controls: controls.length, ok: n('ok'), warn: n('warn'), fail: n('fail'), testsOnly: n('tests only'), notMeasured: n('not measured'), missingFiles: controls.reduce((k, c) => k + c.missing.length, 0) },
    controls,
    checks: [...input.checks],
    entryPoints: { routes, cli: [...input.cli], counts },
  };
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function reportMarkdown(r: SecurityReport): string {
  const s = r.summary;
  const out = [
    '# OC-Suite security report',
    '',
    `Generated ${r.generatedAt} on the ${r.profile} profile by \`ocsuite security report\`. Each row is a threat of the threat model`,
    '(docs/security/threat-model.md) or an item of the security checklist (docs/security/checklist.md), the control that answers it,',
    'the test files that prove it (they run in CI on both profiles) and its live status on this deployment.',
    '',
    `**${s.controls} controls**: ${s.ok} ok, ${s.warn} warn, ${s.fail} fail, ${s.notMeasured} not measured, ${s.testsOnly} proven by tests only${s.missingFiles ? `; ${s.missingFiles} named file(s) missing` : ''}.`,
    '',
    '## Controls',
    '',
    '| id | source | threat / item | control | proving tests | live status |',
    '| --- | --- | --- | --- | --- | --- |',
    ...r.controls.map((c) => `| ${c.id} | ${cell(c.source)} | ${cell(c.item)} | ${cell(c.control)} | ${c.tests.map((t) => `\`${t}\``).join('<br>')} | ${c.checks.length ? c.checks.map((k) => `${k.status}: ${cell(k.name)}`).join('<br>') : 'tests only'}${c.missing.length ? `<br>**missing: ${c.missing.join(', ')}**` : ''} |`),
    '',
    '## Live checks',
    '',
    '| check | status | detail |',
    '| --- | --- | --- |',
    ...r.checks.map((c) => `| ${cell(c.name)} | ${c.ok ? (c.warn ? 'warn' : 'ok') : 'FAIL'} | ${cell(c.detail)} |`),
    '',
    '## Entry points',
    '',
    Object.entries(r.entryPoints.counts).map(([k, v]) => `${v} ${k}`).join(', ') + '.',
    '',
    '| kind | method | path | policy | rate class | step-up |',
    '| --- | --- | --- | --- | --- | --- |',
    ...[...r.entryPoints.routes].sort((a, b) => a.kind.localeCompare(b.kind) || a.path.localeCompare(b.path) || a.method.localeCompare(b.method))
      .map((e) => `| ${e.kind} | ${e.method} | \`${e.path}\` | ${cell(e.policy)} | ${e.rateClass} | ${e.stepUp ? 'yes' : ''} |`),
    '',
    '### CLI (operators, on the host)',
    '',
    '| command | what it does |',
    '| --- | --- |',
    ...r.entryPoints.cli.map((c) => `| \`ocsuite ${c.command}\` | ${cell(c.summary)} |`),
    '',
  ];
  return out.join('\n');
}
