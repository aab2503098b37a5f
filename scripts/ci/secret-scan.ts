#!/usr/bin/env node
/**
 * CI gate: secrets in the tree and in every commit reachable from HEAD, by the
 * rules of `.gitleaks.toml` (gitleaks' format, our prefixes added). No
 * maintained npm package scans git history (secretlint reads files only), and
 * the rules are a few regular expressions, so the scanner is these lines.
 * Findings print the rule, the place and a masked excerpt, never the secret.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readGitleaksConfig, type SecretConfig } from './gitleaks-config.ts';

export interface SecretFinding { rule: string; description: string; file: string; line: number; commit?: string; excerpt: string }

const MAX_FILE_BYTES = 2_000_000;

/** Matches in a text (rules may span lines, e.g. a PEM block); a line holding `gitleaks:allow` is skipped. */
export function scanText(config: SecretConfig, text: string): Array<{ rule: string; description: string; match: string; line: number }> {
  const lower = text.toLowerCase();
  const out: Array<{ rule: string; description: string; match: string; line: number }> = [];
  for (const r of config.rules) {
    if (r.keywords.length && !r.keywords.some((k) => lower.includes(k))) continue;
    for (const m of text.matchAll(r.regex)) {
      if (config.allowRegexes.some((a) => a.test(m[0]))) continue;
      const start = text.lastIndexOf('\n', m.index) + 1;
      const end = text.indexOf('\n', m.index);
      if (text.slice(start, end < 0 ? undefined : end).includes('gitleaks:allow')) continue;
      out.push({ rule: r.id, description: r.description, match: m[0], line: text.slice(0, m.index).split('\n').length });
    }
  }
  return out;
}

function mask(s: string): string {
  return s.length <= 10 ? '***' : `${s.slice(0, 8)}…(${s.length} chars)`;
}

function allowedPath(config: SecretConfig, file: string): boolean {
  return config.allowPaths.some((p) => p.test(file));
}

export function scanTree(repo: string, config: SecretConfig): SecretFinding[] {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, maxBuffer: 64 << 20 }).toString().split('\0').filter(Boolean);
  const findings: SecretFinding[] = [];
  for (const file of files) {
    if (allowedPath(config, file)) continue;
    const abs = path.join(repo, file);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch {
      continue; // deleted in the working tree
    }
    if (!st.isFile() || st.size > MAX_FILE_BYTES) continue;
    const buf = fs.readFileSync(abs);
    if (buf.includes(0)) continue; // binary
    for (const f of scanText(config, buf.toString('utf8'))) findings.push({ rule: f.rule, description: f.description, file, line: f.line, excerpt: mask(f.match) });
  }
  return findings;
}

/** Every line a commit reachable from HEAD added: a secret removed later is still in the history. */
export function scanHistory(repo: string, config: SecretConfig): SecretFinding[] {
  const hasHead = (() => {
    try {
      execFileSync('git', ['rev-parse', '--verify', '-q', 'HEAD'], { cwd: repo, stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (!hasHead) return [];
  const log = execFileSync('git', ['log', '-p', '-U0', '--no-color', '--no-ext-diff', '--no-renames', '--format=%x00commit %H', 'HEAD'], { cwd: repo, maxBuffer: 1 << 30 }).toString();
  const findings: SecretFinding[] = [];
  let commit = '';
  let file = '';
  let first = 0;
  let added: string[] = [];
  // A hunk's added lines are scanned as one text, so a secret spanning lines (PEM) is found too.
  const flush = () => {
    if (added.length && file && !config.allowCommits.includes(commit) && !allowedPath(config, file)) {
      for (const f of scanText(config, added.join('\n'))) findings.push({ rule: f.rule, description: f.description, file, line: first + f.line - 1, commit, excerpt: mask(f.match) });
    }
    added = [];
  };
  for (const text of log.split('\n')) {
    if (text.startsWith('\0commit ')) {
      flush();
      commit = text.slice(8);
      file = '';
    } else if (text.startsWith('+++ ')) {
      flush();
      file = text.startsWith('+++ b/') ? text.slice(6) : '';
    } else if (text.startsWith('@@')) {
      flush();
      first = Number(/\+(\d+)/.exec(text)?.[1] ?? 0);
    } else if (text.startsWith('+')) {
      added.push(text.slice(1));
    }
  }
  flush();
  return findings;
}

function main(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { repo: { type: 'string', default: '.' }, config: { type: 'string' }, 'no-history': { type: 'boolean', default: false } } });
  const repo = path.resolve(values.repo as string);
  const configFile = values.config ?? path.join(repo, '.gitleaks.toml');
  const config = readGitleaksConfig(configFile);
  const findings = [...scanTree(repo, config), ...(values['no-history'] ? [] : scanHistory(repo, config))];
  if (findings.length === 0) {
    console.log(`secret scan: clean (${config.rules.length} rules; working tree${values['no-history'] ? '' : ' and every commit reachable from HEAD'})`);
    return 0;
  }
  console.error(`secret scan: FAILED — ${findings.length} possible secret(s). Remove them, rotate what was real, and rewrite the history if a commit holds one; a false positive takes an inline "gitleaks:allow" comment or an [allowlist] entry in .gitleaks.toml.`);
  for (const f of findings) console.error(`  ${f.rule}  ${f.file}:${f.line}${f.commit ? `  commit ${f.commit.slice(0, 12)}` : ''}  ${f.excerpt}  (${f.description})`);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
