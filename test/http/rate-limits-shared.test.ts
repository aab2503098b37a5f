import type { FastifyInstance } from 'fastify';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/server.ts';
import { bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * Issue #20 §1: the per-IP, per-tenant and per-user/API-key budgets. With REDIS_URL two
 * request paths (two API "nodes") draw on one budget; when Redis goes away each counts
 * alone — the API keeps answering, the switch is logged once and shown in /metrics.
 */
const BUDGET = 6;
let t: TestApp;

beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => t?.close());

type Limits = Partial<TestApp['platform']['config']>;
const node = (limits: Limits) => buildServer({ ...t.platform, config: { ...t.platform.config, ...limits } });
const codes = (rs: Array<{ statusCode: number }>) => rs.map((r) => r.statusCode);

describe('per tenant and per user, after authentication', () => {
  let app: FastifyInstance;
  let owner: Account;
  beforeAll(async () => {
    app = await node({ writeRateLimitPerMinute: 3, userRateLimitPerMinute: BUDGET, tenantRateLimitPerMinute: 100_000 });
    owner = await signup(t.app);
  });
  afterAll(async () => app?.close());

  it('writes have their own, smaller budget per user; reads keep theirs', async () => {
    const writes = [];
    for (let i = 0; i < 4; i++) writes.push(await app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(owner), payload: { title: `n${i}`, body: 'x' } }));
    expect(codes(writes).slice(0, 3).every((c) => c !== 429)).toBe(true);
    expect(writes[3]!.statusCode).toBe(429);
    expect(writes[3]!.headers['retry-after']).toMatch(/^\d+$/);
    expect(json(writes[3]!).code).toBe('OCS_RATE_LIMITED');
    const read = await app.inject({ method: 'GET', url: '/api/v1/sessions', headers: bearer(owner) });
    expect(read.statusCode).toBe(200);
  });

  it('the user budget follows the user, not the client IP', async () => {
    const other = await signup(t.app);
    const rs = [];
    for (let i = 0; i < BUDGET + 1; i++) rs.push(await app.inject({ method: 'GET', url: '/api/v1/sessions', headers: bearer(other), remoteAddress: `192.0.2.${i + 1}` }));
    expect(codes(rs)).toEqual([...Array(BUDGET).fill(200), 429]);
  });

  it('one tenant exhausting its budget does not touch another tenant', async () => {
    const tight = await node({ tenantRateLimitPerMinute: BUDGET, userRateLimitPerMinute: 100_000 });
    try {
      const a = await signup(t.app);
      const b = await signup(t.app);
      const rs = [];
      for (let i = 0; i < BUDGET + 1; i++) rs.push(await tight.inject({ method: 'GET', url: '/api/v1/sessions', headers: bearer(a) }));
      expect(codes(rs)).toEqual([...Array(BUDGET).fill(200), 429]);
      expect((await tight.inject({ method: 'GET', url: '/api/v1/sessions', headers: bearer(b) })).statusCode).toBe(200);
    } finally {
      await tight.close();
    }
  });
});

/** A TCP relay in front of the run's Redis that the test can cut and restore. */
function cuttableRedis(target: URL) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  let port = 0;
  return {
    async start() {
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      port = (server.address() as net.AddressInfo).port;
      return `redis://127.0.0.1:${port}`;
    },
    async cut() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

const redisUrl = process.env.REDIS_URL;
if (redisUrl) {
  describe('shared in Redis across API nodes', () => {
    const relay = cuttableRedis(new URL(redisUrl));
    let a: FastifyInstance;
    let b: FastifyInstance;
    beforeAll(async () => {
      const url = await relay.start();
      const limits = { redisUrl: url, rateLimitPerMinute: BUDGET, rateLimitRedisTimeoutMs: 200 };
      a = await node(limits);
      b = await node(limits);
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await relay.cut().catch(() => {});
    });

    const hit = (app: FastifyInstance, ip: string, i: number) => app.inject({ method: 'GET', url: `/nothing/${i}`, remoteAddress: ip });
    const metric = async (app: FastifyInstance, name: string) => {
      const text = await t.platform.metrics.registry.getSingleMetricAsString(name);
      void app;
      return Number(/\s(\d+(?:\.\d+)?)\s*$/.exec(text.trim())?.[1] ?? NaN);
    };

    it('two nodes enforce one per-IP budget', async () => {
      const rs = [];
      for (let i = 0; i < BUDGET * 2; i++) rs.push(await hit(i % 2 ? a : b, '198.51.100.31', i));
      expect(codes(rs).filter((c) => c === 404)).toHaveLength(BUDGET);
      expect(codes(rs).slice(BUDGET)).toEqual(Array(BUDGET).fill(429));
      expect(await metric(a, 'ocsuite_rate_limit_shared')).toBe(1);
    });

    it('a Redis outage falls back to per-process budgets, logged once, never an error', async () => {
      const before = t.logs.filter((l) => l.includes('Redis unreachable')).length;
      await relay.cut();
      const rs = [];
      for (let i = 0; i < BUDGET + 2; i++) rs.push(await hit(a, '198.51.100.32', i));
      // Each node now counts alone: node a enforces the budget by itself, and nothing failed.
      expect(codes(rs)).toEqual([...Array(BUDGET).fill(404), 429, 429]);
      const onB = [];
      for (let i = 0; i < BUDGET + 1; i++) onB.push(await hit(b, '198.51.100.32', i));
      expect(codes(onB)).toEqual([...Array(BUDGET).fill(404), 429]);
      // Once per node (both share this platform's log), however many requests were counted alone.
      expect(t.logs.filter((l) => l.includes('Redis unreachable')).length - before).toBe(2);
      expect(await metric(a, 'ocsuite_rate_limit_shared')).toBe(0);
      expect(await metric(a, 'ocsuite_rate_limit_fallback_total')).toBeGreaterThanOrEqual(2 * BUDGET + 3);
    });

    it('when Redis is back, the budget is shared again', async () => {
      await relay.start();
      const deadline = Date.now() + 15_000;
      // ioredis reconnects with its back-off; the first request counted in Redis flips the gauge.
      while (Date.now() < deadline && (await metric(a, 'ocsuite_rate_limit_shared')) !== 1) {
        await hit(a, '198.51.100.33', 0);
        await hit(b, '198.51.100.33', 0);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(await metric(a, 'ocsuite_rate_limit_shared')).toBe(1);
      expect(t.logs.some((l) => l.includes('counters are shared again'))).toBe(true);
      const rs = [];
      for (let i = 0; i < BUDGET * 2; i++) rs.push(await hit(i % 2 ? a : b, '198.51.100.34', i));
      expect(codes(rs).filter((c) => c === 404)).toHaveLength(BUDGET);
    });
  });
}
