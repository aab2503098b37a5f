#!/usr/bin/env node
/**
 * CI gate: every locked package that runs an install script (package-lock.json
 * marks it `hasInstallScript`: preinstall, install or postinstall) has been
 * reviewed, i.e. package.json's `allowScripts` (npm 11, maintained with
 * `npm install-scripts approve|deny`) names it. An approval pinned to a version
 * covers that version only, so an upgrade comes back for review.
 */
import fs from 'node:fs';
import path from 'node:path';

export function installScriptProblems(repo: string): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  const lock = JSON.parse(fs.readFileSync(path.join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; hasInstallScript?: boolean }> };
  const allow = pkg.allowScripts ?? {};
  const problems: string[] = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (!key || !entry.hasInstallScript) continue;
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const id = `${name}@${entry.version}`;
    if (id in allow || name in allow) continue;
    const pinned = Object.keys(allow).filter((k) => k.startsWith(`${name}@`));
    problems.push(pinned.length
      ? `${id} runs install scripts; allowScripts reviewed ${pinned.join(', ')} only — review this version (npm install-scripts approve ${name} | deny ${name})`
      : `${id} runs install scripts and allowScripts has no entry for it — review them (npm install-scripts approve ${name} | deny ${name})`);
  }
  return problems;
}

function main(): number {
  const repo = path.resolve(process.argv[2] ?? '.');
  const problems = installScriptProblems(repo);
  if (problems.length === 0) {
    console.log('install scripts: every dependency with an install script is reviewed in package.json allowScripts');
    return 0;
  }
  console.error('install scripts: FAILED — unreviewed install scripts:');
  for (const p of problems) console.error(`  ${p}`);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
