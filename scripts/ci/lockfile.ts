#!/usr/bin/env node
/**
 * CI gate: the committed package-lock.json is the one package.json asks for.
 * Its root entry must declare exactly package.json's dependencies with the same
 * ranges, and `npm ls --package-lock-only` (npm's own resolver, no network)
 * must find every locked version inside its range. .ci/run also fails when its
 * `npm install` rewrites the lockfile (see the comment there).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

type Deps = Record<string, string>;
const FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'] as const;

export function lockfileProblems(repo: string): string[] {
  const problems: string[] = [];
  const pkgFile = path.join(repo, 'package.json');
  const lockFile = path.join(repo, 'package-lock.json');
  if (!fs.existsSync(lockFile)) return ['package-lock.json is missing: run `npm install` and commit it'];
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as Record<string, Deps | undefined>;
  const lock = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { lockfileVersion?: number; packages?: Record<string, Record<string, Deps | undefined>> };
  if ((lock.lockfileVersion ?? 0) < 2) problems.push(`package-lock.json has lockfileVersion ${lock.lockfileVersion}: npm ≥ 7 (v3) is expected`);
  const root = lock.packages?.[''];
  if (!root) return [...problems, 'package-lock.json has no root package entry'];
  for (const field of FIELDS) {
    const want = pkg[field] ?? {};
    const have = root[field] ?? {};
    for (const [name, range] of Object.entries(want)) {
      if (!(name in have)) problems.push(`${field}.${name} (${range}) is in package.json but not in package-lock.json`);
      else if (have[name] !== range) problems.push(`${field}.${name}: package.json asks for ${range}, package-lock.json was made for ${have[name]}`);
    }
    for (const name of Object.keys(have)) if (!(name in want)) problems.push(`${field}.${name} is in package-lock.json but not in package.json`);
  }
  if (problems.length === 0) {
    const ls = spawnSync('npm', ['ls', '--all', '--package-lock-only', '--json'], { cwd: repo, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (ls.status !== 0) {
      let detail = ls.stderr.trim().split('\n').slice(0, 10).join('; ');
      try {
        const problemsOf = (JSON.parse(ls.stdout) as { problems?: string[] }).problems;
        if (problemsOf?.length) detail = problemsOf.slice(0, 10).join('; ');
      } catch {
        /* npm printed no JSON */
      }
      problems.push(`npm ls --package-lock-only: ${detail}`);
    }
  }
  return problems;
}

function main(): number {
  const repo = path.resolve(process.argv[2] ?? '.');
  const problems = lockfileProblems(repo);
  if (problems.length === 0) {
    console.log('lockfile: package-lock.json matches package.json');
    return 0;
  }
  console.error('lockfile: FAILED — package-lock.json does not match package.json; run `npm install`, review the diff and commit both:');
  for (const p of problems) console.error(`  ${p}`);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
