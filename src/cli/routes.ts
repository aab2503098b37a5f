import { bootPlatform, shutdownPlatform } from '../boot.ts';
import type { Config } from '../config/config.ts';
import { buildServer } from '../server.ts';

/** The inventory is read from the built server, so it is what actually runs. */
export async function routesCommand(config: Config, args: string[]): Promise<number> {
  const platform = await bootPlatform({ ...config, logLevel: 'silent' });
  try {
    const app = await buildServer(platform);
    const rows = app.routeInventory.map(({ method, path, policy, rateClass, stepUp }) => ({ method, path, policy, rateClass, stepUp })).sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
    await app.close();
    if (args.includes('--json')) {
      console.log(JSON.stringify(rows, null, 2));
      return 0;
    }
    const w = (k: 'method' | 'path' | 'policy') => Math.max(k.length, ...rows.map((r) => r[k].length));
    const line = (m: string, p: string, pol: string, rc: string, su: string) => `${m.padEnd(w('method'))}  ${p.padEnd(w('path'))}  ${pol.padEnd(w('policy'))}  ${rc.padEnd(10)}  ${su}`;
    console.log(line('METHOD', 'PATH', 'POLICY', 'RATE CLASS', 'STEP-UP'));
    for (const r of rows) console.log(line(r.method, r.path, r.policy, r.rateClass, r.stepUp ? 'yes' : ''));
    return 0;
  } finally {
    await shutdownPlatform(platform);
  }
}
