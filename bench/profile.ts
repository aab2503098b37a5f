// Profile of the full request path under the bench load (issue #21 §2), not part of `npm run bench`:
//   node bench/profile.ts [/tmp/ocsuite-prof/full.cpuprofile]
//   node bench/profile-report.ts /tmp/ocsuite-prof/full.cpuprofile
// Boots the platform as bench/run.ts does, serves GET /api/v1/knowledge/:id, and drives it with
// autocannon (a separate process, so only the server is in the profile) for BENCH_SECONDS. The
// profiler is V8's sampling profiler, the one `node --cpu-prof` starts, but started through the
// inspector after the warm-up, so boot (migrations, module loading, schema compilation) stays out.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { bootPlatform, shutdownPlatform } from '../src/boot.ts';
import { loadConfig } from '../src/config/config.ts';
import { openPg, openPglite } from '../src/db/client.ts';
import { buildServer } from '../src/server.ts';
import { autocannon, scratchDatabase } from './support.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const config = loadConfig({
  ...process.env,
  OCSUITE_MASTER_KEYS: `b1:${randomBytes(32).toString('base64')}`,
  OCSUITE_RATE_LIMIT: '1000000',
  OCSUITE_TENANT_RATE_LIMIT: '1000000', OCSUITE_USER_RATE_LIMIT: '1000000', OCSUITE_WRITE_RATE_LIMIT: '1000000', OCSUITE_EXPENSIVE_RATE_LIMIT: '1000000',
  OCSUITE_AUTH_RATE_LIMIT: '1000000',
  LOG_LEVEL: 'warn',
  NODE_ENV: 'development',
});
const scratch = config.databaseUrl ? await scratchDatabase(config.databaseUrl, 'prof') : undefined;
const db = scratch ? openPg(scratch.url, 20) : await openPglite(undefined);
const platform = await bootPlatform(config, { db, jobsConnectionString: scratch?.url });
const app = await buildServer(platform);
const signup = await app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Prof', email: 'prof@example.com', password: 'correct horse battery staple 42' } });
const { accessToken } = signup.json();
const auth = { authorization: `Bearer ${accessToken}` };
const entry = (await app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: auth, payload: { title: 'bench', body: 'x'.repeat(500), tags: ['a', 'b'] } })).json();
const url = await app.listen({ host: '127.0.0.1', port: 0 });
const out = process.argv[2] ?? '/tmp/ocsuite-prof/full.cpuprofile';
const target = `${url}/api/v1/knowledge/${entry.id}`;
await autocannon(target, auth, { connections: 20, seconds: 2 }); // warm-up, unprofiled
const inspector = new Session();
inspector.connect();
await inspector.post('Profiler.enable');
await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
await inspector.post('Profiler.start');
const perSec = await autocannon(`${url}/api/v1/knowledge/${entry.id}`, auth, { connections: Number(process.env.BENCH_CONNECTIONS ?? 20), seconds });
const { profile } = await inspector.post('Profiler.stop');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(profile));
console.log(`profiled ${Math.round(perSec)} req/s for ${seconds} s → ${out}`);
await app.close();
await shutdownPlatform(platform);
await scratch?.drop();
