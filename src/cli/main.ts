#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.ts';
import { loadConfig } from '../config/config.ts';
import { oidcCommand } from './oidc.ts';
import { doctor } from './doctor.ts';
import { keysCommand } from './keys.ts';
import { tenantsCommand } from './tenants.ts';
import { migrateCommand } from './migrate.ts';
import { routesCommand } from './routes.ts';
import { serve } from './serve.ts';
import { accessLogCommand } from './access-log.ts';
import { auditCommand } from './audit.ts';
import { verifyCommand } from './verify.ts';
import { jobsCommand } from './jobs.ts';
import { ledgerCommand } from './ledger.ts';
import { workerCommand } from './worker.ts';
import { securityCommand } from './security.ts';

/** `ownHelp`: the command prints its own usage for --help. */
const commands: Record<string, { summary: string; run: (args: string[]) => Promise<number>; ownHelp?: boolean }> = {
  serve: { summary: 'start the API (embedded profile unless DATABASE_URL is set)', run: () => serve(loadConfig()) },
  migrate: { summary: 'apply pending database migrations as the owner role', run: () => migrateCommand(loadConfig()) },
  routes: { summary: 'print the route inventory: method, path, policy, rate class (--json)', run: (a) => routesCommand(loadConfig(), a) },
  doctor: { summary: 'check profile, database roles, keys and configuration', run: () => doctor(process.env) },
  oidc: { summary: 'external OIDC: map-tenant (an organisation to a tenant), list', run: (a) => oidcCommand(loadConfig(), a) },
  keys: { summary: 'keys: status, rotate-master, rotate-tenant, retire, verify, rotate-signing', run: (a) => keysCommand(loadConfig(), a), ownHelp: true },
  tenants: { summary: 'tenants: list, delete (crypto-shredding)', run: (a) => tenantsCommand(loadConfig(), a), ownHelp: true },
  audit: { summary: 'audit logs: key (print the verifier key), checkpoint (sign moved logs now)', run: (a) => auditCommand(loadConfig(), a) },
  verify: { summary: 'verify checkpoint|inclusion|consistency|log with nothing but the public key', run: (a) => verifyCommand(a) },
  'access-log': { summary: 'access logs: prune --older-than 90d, report --period week', run: (a) => accessLogCommand(loadConfig(), a) },
  worker: { summary: 'run job workers, schedules and the failure-spike monitor (production; embedded runs them in serve)', run: () => workerCommand(loadConfig()) },
  jobs: { summary: 'jobs: dead list|show|retry|discard, schedules, queues', run: (a) => jobsCommand(loadConfig(), a) },
  security: { summary: 'security report [--json]: threats and checklist items → controls, proving tests, live status; entry points', run: (a) => securityCommand(process.env, a, cliInventory()), ownHelp: true },
  ledger: { summary: 'ledger: verify --tenant ID (balances, leaves, log), verify-proof --key K --proof F (a counterparty\'s check)', run: (a) => ledgerCommand(loadConfig, a) },
};

function cliInventory(): Array<{ command: string; summary: string }> {
  return Object.entries(commands).map(([command, c]) => ({ command, summary: c.summary }));
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return ['usage: ocsuite <command> [options]', '', ...Object.entries(commands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const name = positionals[0];
  if (!name || name === 'help' || (argv.includes('--help') && !commands[name]?.ownHelp)) {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`ocsuite: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(argv.slice(1));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 78; // EX_CONFIG
    }
    // An unknown option or a bad option value (node:util parseArgs, or a command's own check) is a usage error.
    if (String((err as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS')) {
      console.error(`ocsuite ${name}: ${(err as Error).message}`);
      return 2;
    }
    console.error(`ocsuite ${name}: ${(err as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
