import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { purgePrefix } from '../../src/jobs/bullmq.ts';
import { usingPostgres } from '../support/app.ts';
import { call, startCluster, type Cluster } from './cluster.ts';

/**
 * Issue #20 §5: three API processes and two workers on one PostgreSQL and one Redis.
 * One rate budget across the nodes, a revoked session refused everywhere within 5 s, a job
 * enqueued on one node run exactly once, a schedule fired once per period, and no access-log
 * line lost of a request that got its answer when one API process is killed -9 mid-load.
 */
const redisUrl = process.env.REDIS_URL;
const BUDGET = 60;

describe('multi-node configuration', () => {
  it('with REDIS_URL, serve runs no workers: API and worker processes scale separately', () => {
    const base = { DATABASE_URL: 'postgres://db/ocsuite' };
    expect(loadConfig({ ...base, REDIS_URL: 'redis://cache:6379' }).inProcessWorkers).toBe(false);
    // The embedded profile is one process: it runs its workers itself.
    expect(loadConfig({}).inProcessWorkers).toBe(true);
  });
});

if (usingPostgres && redisUrl) {
  describe('3 API processes and 2 workers', () => {
    let cluster: Cluster;
    let redis: Redis;
    let db: pg.Client;
    let owner: { token: string; tenantId: string; sessionId?: string; email: string };
    const rr = (i: number) => cluster.apis[i % cluster.apis.length]!.url;

    beforeAll(async () => {
      cluster = await startCluster({
        databaseUrl: process.env.OCSUITE_TEST_DATABASE_URL!, redisUrl: redisUrl!, masterKeys: process.env.OCSUITE_TEST_MASTER_KEYS!,
        apis: 3, workers: 2, env: { OCSUITE_RATE_LIMIT: String(BUDGET) },
      });
      redis = new Redis(redisUrl!);
      db = new pg.Client({ connectionString: process.env.OCSUITE_TEST_DATABASE_URL });
      await db.connect();
      const email = `scale-${randomUUID().slice(0, 8)}@example.com`;
      const res = await call(rr(0), 'POST', '/api/v1/auth/signup', { body: { tenantName: 'Scale', email, password: 'correct horse battery staple' }, clientIp: '198.18.1.1' });
      expect(res.status).toBe(201);
      owner = { token: res.body.accessToken, tenantId: res.body.tenant.id, email };
    }, 120_000);

    afterAll(async () => {
      cluster?.killAll();
      await redis?.quit();
      await db?.end();
      if (cluster) await purgePrefix(redisUrl!, cluster.prefix);
    });

    it('one per-IP budget across the nodes, within 10%', async () => {
      const client = '203.0.113.200';
      const answers = await Promise.all(Array.from({ length: BUDGET * 2 }, (_, i) => call(rr(i), 'GET', `/nothing/${i}`, { clientIp: client })));
      const served = answers.filter((a) => a.status === 404).length;
      expect(answers.every((a) => a.status === 404 || a.status === 429)).toBe(true);
      expect(served).toBeGreaterThanOrEqual(BUDGET * 0.9);
      expect(served).toBeLessThanOrEqual(BUDGET * 1.1);
      // Each node saw a third of the requests, yet every one of them now finds the budget spent.
      for (const api of cluster.apis) expect((await call(api.url, 'GET', '/nothing/after', { clientIp: client })).status).toBe(429);
    });

    it('a revoked session is refused by every node within 5 s', async () => {
      const login = await call(rr(1), 'POST', '/api/v1/auth/login', { body: { email: owner.email, password: 'correct horse battery staple', tenant: owner.tenantId }, clientIp: '198.18.1.2' });
      expect(login.status).toBe(200);
      const token = login.body.accessToken as string;
      // Each node has checked (and cached) the session.
      for (const api of cluster.apis) expect((await call(api.url, 'GET', '/api/v1/sessions', { token, clientIp: '198.18.1.3' })).status).toBe(200);
      const sessions = await call(rr(1), 'GET', '/api/v1/sessions', { token, clientIp: '198.18.1.3' });
      const sid = (sessions.body.items as Array<{ id: string; current: boolean }>).find((s) => s.current)!.id;
      const t0 = Date.now();
      expect((await call(rr(0), 'DELETE', `/api/v1/sessions/${sid}`, { token, clientIp: '198.18.1.3' })).status).toBe(204);
      const refusedAt = await Promise.all(cluster.apis.map(async (api) => {
        for (;;) {
          const r = await call(api.url, 'GET', '/api/v1/sessions', { token, clientIp: '198.18.1.3' });
          if (r.status === 401) return Date.now() - t0;
          if (Date.now() - t0 > 10_000) return Infinity;
          await new Promise((r) => setTimeout(r, 100));
        }
      }));
      for (const ms of refusedAt) expect(ms).toBeLessThanOrEqual(5_000);
    });

    it('a job enqueued on any node runs exactly once', async () => {
      const tokens = Array.from({ length: 30 }, (_, i) => `job-${i}-${randomUUID().slice(0, 8)}`);
      const sent = await Promise.all(tokens.map((token, i) => call(rr(i), 'POST', '/api/v1/scaleprobe/jobs', { token: owner.token, body: { token }, clientIp: `198.18.2.${i + 1}` })));
      expect(sent.map((s) => s.status)).toEqual(Array(tokens.length).fill(202));
      const key = (t: string) => `${cluster.prefix}:probe:runs:${t}`;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && (await redis.exists(...tokens.map(key))) < tokens.length) await new Promise((r) => setTimeout(r, 200));
      // A while longer: a duplicate delivery would show up now.
      await new Promise((r) => setTimeout(r, 2_000));
      const runs = (await redis.mget(...tokens.map(key))).map(Number);
      expect(runs).toEqual(Array(tokens.length).fill(1));
    });

    it('a schedule fires once per period however many workers run', async () => {
      await new Promise((r) => setTimeout(r, 7_000));
      const ticks = await redis.lrange(`${cluster.prefix}:probe:ticks`, 0, -1);
      const ids = ticks.map((t) => t.split(' ')[2]!);
      expect(ticks.length).toBeGreaterThanOrEqual(3);
      // No firing ran twice, and never two firings for one 2-second period.
      expect(new Set(ids).size).toBe(ids.length);
      const firstAt = Number(ticks[0]!.split(' ')[0]);
      const lastAt = Number(ticks.at(-1)!.split(' ')[0]);
      expect(ticks.length).toBeLessThanOrEqual(Math.floor((lastAt - firstAt) / 2_000) + 2);
    });

    it('no access-log line is lost of an answered request when an API process is killed -9 mid-load', async () => {
      const answered: string[] = [];
      let stop = false;
      const victim = cluster.apis[2]!;
      const worker = async (w: number) => {
        for (let i = 0; !stop; i++) {
          const path = i % 2 ? '/api/v1/sessions' : '/healthz';
          const a = await call(rr(w + i), 'GET', path, { token: owner.token, clientIp: `198.18.3.${(w * 31 + i) % 250 + 1}` });
          if (a.status > 0 && a.requestId) answered.push(a.requestId);
        }
      };
      const load = Promise.all(Array.from({ length: 6 }, (_, w) => worker(w)));
      await new Promise((r) => setTimeout(r, 1_500));
      victim.proc.child.kill('SIGKILL');
      await victim.proc.exited;
      await new Promise((r) => setTimeout(r, 1_500));
      stop = true;
      await load;
      cluster.apis.splice(2, 1);
      expect(answered.length).toBeGreaterThan(50);
      const { rows } = await db.query<{ request_id: string }>(
        'SELECT request_id FROM access_logs WHERE request_id = ANY($1::text[]) UNION ALL SELECT request_id FROM platform_access_logs WHERE request_id = ANY($1::text[])',
        [answered],
      );
      const logged = new Set(rows.map((r) => r.request_id));
      expect(answered.filter((id) => !logged.has(id))).toEqual([]);
    });
  });
}
