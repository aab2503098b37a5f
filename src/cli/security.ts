import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootPlatform, shutdownPlatform } from '../boot.ts';
import { loadConfig } from '../config/config.ts';
import { buildServer } from '../server.ts';
import { doctorChecks, type Check } from './doctor.ts';
import { securityChecks } from './security-live.ts';
import { buildSecurityReport, reportMarkdown, type ControlRow, type RouteRow } from './security-report.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CONTROLS_FILE = path.join(root, 'docs/security/controls.json');

const USAGE = `usage: ocsuite security report [--json]

  report   every threat-model row and checklist item with its control, proving tests and live status
           on this deployment, and the entry-point inventory (Markdown; --json for machines).
           Exit 1 when a live check fails.`;

/** `ocsuite security …`; `cli` is the command table of main.ts (the CLI's own entry points). */
export async function securityCommand(env: Record<string, string | undefined>, args: string[], cli: Array<{ command: string; summary: string }>): Promise<number> {
  if (args[0] !== 'report' || args.slice(1).some((a) => a !== '--json')) {
    console.error(USAGE);
    return args.includes('--help') ? 0 : 2;
  }
  const controls = (JSON.parse(fs.readFileSync(CONTROLS_FILE, 'utf8')) as { controls: ControlRow[] }).controls;
  // The inventory first: building the server opens (and on the embedded profile creates) the database the checks read.
  const own: Check[] = [];
  let routes: RouteRow[] = [];
  try {
    routes = await routeInventory(loadConfig(env), own);
  } catch (err) {
    own.push({ ok: false, name: 'route inventory', detail: `no configuration to build the server with: ${(err as Error).message}` });
  }
  const checks = [...(await doctorChecks(env, securityChecks)), ...own];
  const config = loadConfig({ ...env, ...(checks.some((c) => c.name === 'configuration' && !c.ok) ? { NODE_ENV: 'development' } : {}) });
  const report = buildSecurityReport({ controls, checks, routes, cli, profile: config.profile, exists: (f) => fs.existsSync(path.join(root, f)) });
  console.log(args.includes('--json') ? JSON.stringify(report, null, 2) : reportMarkdown(report));
  return checks.every((c) => c.ok) ? 0 : 1;
}

/** Read from the built server, as `ocsuite routes` does, so it is what actually runs. */
async function routeInventory(config: ReturnType<typeof loadConfig>, checks: Check[]): Promise<RouteRow[]> {
  try {
    const platform = await bootPlatform({ ...config, logLevel: 'silent' });
    try {
      const app = await buildServer(platform);
      const rows = app.routeInventory.map(({ method, path: p, policy, rateClass, stepUp }) => ({ method, path: p, policy, rateClass, stepUp }));
      await app.close();
      const open = rows.filter((r) => r.policy === 'public' || r.policy.startsWith('public ')).length;
      checks.push({ ok: true, name: 'route inventory', detail: `${rows.length} routes, each with a declared policy (the server refuses to start otherwise); ${open} public` });
      return rows;
    } finally {
      await shutdownPlatform(platform);
    }
  } catch (err) {
    checks.push({ ok: false, name: 'route inventory', detail: `the server could not be built: ${(err as Error).message}` });
    return [];
  }
}
