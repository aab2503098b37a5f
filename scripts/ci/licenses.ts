#!/usr/bin/env node
/**
 * CI gate: every production dependency in package-lock.json (dev ones are not
 * shipped) carries a licence of security/licenses.json. An SPDX expression
 * passes when one side of each OR and both sides of each AND are allowed; an
 * entry under `exceptions` accepts one package@version with a written reason.
 */
import fs from 'node:fs';
import path from 'node:path';

interface LicencePolicy { allowed: string[]; exceptions?: Array<{ package: string; reason: string }> }

export function licenceAllowed(expression: string, allowed: ReadonlySet<string>): boolean {
  const expr = expression.trim().replace(/^\((.*)\)$/, '$1');
  const or = expr.split(/\s+OR\s+/i);
  if (or.length > 1) return or.some((e) => licenceAllowed(e, allowed));
  const and = expr.split(/\s+AND\s+/i);
  if (and.length > 1) return and.every((e) => licenceAllowed(e, allowed));
  return allowed.has(expr.replace(/^\(|\)$/g, '').trim());
}

export function licenceProblems(repo: string, policyFile = path.join(repo, 'security/licenses.json')): string[] {
  const policy = JSON.parse(fs.readFileSync(policyFile, 'utf8')) as LicencePolicy;
  const allowed = new Set(policy.allowed);
  const excepted = new Set((policy.exceptions ?? []).map((e) => e.package));
  const lock = JSON.parse(fs.readFileSync(path.join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; license?: unknown; dev?: boolean; link?: boolean }> };
  const problems: string[] = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '' || entry.dev || entry.link) continue;
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const id = `${name}@${entry.version ?? '?'}`;
    if (excepted.has(id)) continue;
    const licence = typeof entry.license === 'string' ? entry.license : undefined;
    if (!licence) problems.push(`${id}: no licence in package-lock.json`);
    else if (!licenceAllowed(licence, allowed)) problems.push(`${id}: licence "${licence}" is not in security/licenses.json`);
  }
  return problems;
}

function main(): number {
  const repo = path.resolve(process.argv[2] ?? '.');
  const problems = licenceProblems(repo);
  if (problems.length === 0) {
    console.log('licences: every production dependency is under an allowed licence');
    return 0;
  }
  console.error('licences: FAILED — production dependencies under licences outside security/licenses.json (replace the package, or add a reviewed exception with its reason):');
  for (const p of problems) console.error(`  ${p}`);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
