// What every benchmark script shares: a scratch database, the load generator, a timing loop.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { openPg } from '../src/db/client.ts';

const run = promisify(execFile);

/** A PostgreSQL database of its own next to `baseUrl`, so a run never touches data it did not make. */
export async function scratchDatabase(baseUrl: string, label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `ocsuite_bench_${label}_${Date.now()}`;
  const admin = openPg(baseUrl, 1);
  const l = await admin.acquire();
  await l.exec(`CREATE DATABASE ${name}`);
  l.release();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const x = await admin.acquire();
      await x.exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      x.release();
      await admin.close();
    },
  };
}

/**
 * Average req/s of autocannon against `url`, after a one-second warm-up. A separate process, so the
 * load generator does not share the server's event loop; any non-2xx answer fails the benchmark.
 */
export async function autocannon(url: string, headers: Record<string, string>, opts: { connections: number; seconds: number }): Promise<number> {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  await run('node_modules/.bin/autocannon', ['-c', '4', '-d', '1', '-j', ...h, url], { maxBuffer: 1 << 24 });
  const { stdout } = await run('node_modules/.bin/autocannon', ['-c', String(opts.connections), '-d', String(opts.seconds), '-j', ...h, url], { maxBuffer: 1 << 24 });
  const r = JSON.parse(stdout);
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r.requests.average as number;
}

/** Calls per second of `fn`, run `n` times in sequence after a warm-up. */
export async function perSecond(n: number, fn: () => Promise<unknown>, warmup = 200): Promise<number> {
  for (let i = 0; i < Math.min(warmup, n); i++) await fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}
