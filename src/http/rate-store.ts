import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { holdWrites, type CorkableStream } from '../db/write-together.ts';

// The plugin's own stores (its Lua script for Redis, its LRU for one process): we only choose between them.
const require = createRequire(import.meta.url);
type Incr = (key: string, cb: (err: Error | null, res: { current: number; ttl: number } | null) => void, timeWindow: number, max: number) => void;
interface PluginStore { incr: Incr }
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as new (ce: boolean, eb: boolean, redis: Redis, key: string) => PluginStore;
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as new (ce: boolean, eb: boolean, cache: number) => PluginStore;

const LOCAL_CACHE = 10_000;

export interface SharedRateCounters {
  /** The `store` option of @fastify/rate-limit. */
  store: FastifyRateLimitStoreCtor;
  /** Resolves when Redis is connected, or after `waitMs` (the start never waits longer for it). */
  ready(waitMs: number): Promise<void>;
  /** True while counts are per process (Redis unreachable or too slow). */
  degraded(): boolean;
  close(): Promise<void>;
}

/**
 * Rate-limit counters in Redis, so N API processes enforce one budget. When Redis is down or
 * slower than `timeoutMs`, the request is counted in this process's own store instead (each node
 * then enforces the budget alone, so a client may get up to N times it): the API never fails on
 * the limiter. The switch is logged once each way and shown as `ocsuite_rate_limit_shared`.
 */
export function sharedRateCounters(opts: { url: string; namespace: string; timeoutMs: number; log: Logger; registry: Registry }): SharedRateCounters {
  // No offline queue: while disconnected a command fails at once and the request is counted locally.
  const redis = new Redis(opts.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: opts.timeoutMs, lazyConnect: false });
  let degraded = false;
  let lastError = '';
  redis.on('error', (err: Error) => { lastError = err.message; });
  // One pair per registry: a platform that builds a second server reuses them.
  const shared = (opts.registry.getSingleMetric('ocsuite_rate_limit_shared') as Gauge | undefined)
    ?? new Gauge({ name: 'ocsuite_rate_limit_shared', help: 'Whether rate-limit counters are shared in Redis (1) or per process because Redis is unreachable (0)', registers: [opts.registry] });
  const fallbacks = (opts.registry.getSingleMetric('ocsuite_rate_limit_fallback_total') as Counter | undefined)
    ?? new Counter({ name: 'ocsuite_rate_limit_fallback_total', help: 'Requests whose rate limit was counted in this process alone because Redis was unreachable or slow', registers: [opts.registry] });
  shared.set(1);
  fallbacks.inc(0);
  const degrade = (reason: string) => {
    fallbacks.inc();
    if (degraded) return;
    degraded = true;
    shared.set(0);
    opts.log.warn({ reason: reason.slice(0, 200) }, 'rate limits: Redis unreachable, counting per process until it is back');
  };
  const recover = () => {
    if (!degraded) return;
    degraded = false;
    shared.set(1);
    opts.log.info('rate limits: Redis is back, counters are shared again');
  };

  class FailoverStore {
    readonly #remote: PluginStore;
    readonly #local: PluginStore;
    constructor(params: { continueExceeding?: boolean; exponentialBackoff?: boolean }) {
      const ce = params.continueExceeding === true;
      const eb = params.exponentialBackoff === true;
      this.#remote = new RedisStore(ce, eb, redis, `${opts.namespace}:rl:`);
      this.#local = new LocalStore(ce, eb, LOCAL_CACHE);
    }

    incr(key: string, cb: Parameters<Incr>[1], timeWindow: number, max: number): void {
      if (redis.status !== 'ready') {
        degrade(lastError || `redis ${redis.status}`);
        this.#local.incr(key, cb, timeWindow, max);
        return;
      }
      let settled = false;
      const local = (reason: string) => {
        if (settled) return;
        settled = true;
        degrade(reason);
        this.#local.incr(key, cb, timeWindow, max);
      };
      // commandTimeout bounds the wait too; this timer also covers a reply that never comes back.
      const timer = setTimeout(() => local('timeout'), opts.timeoutMs + 50);
      // The counters of the requests read in this turn go to Redis in one write.
      holdWrites((redis as unknown as { stream?: CorkableStream }).stream);
      this.#remote.incr(key, (err, res) => {
        clearTimeout(timer);
        if (err) return local(err.message);
        if (settled) return;
        settled = true;
        recover();
        cb(null, res);
      }, timeWindow, max);
    }

    // Keys already carry their class and subject; every limiter shares one namespace.
    child(params: { continueExceeding?: boolean; exponentialBackoff?: boolean }): FailoverStore {
      return new FailoverStore(params);
    }
  }

  return {
    store: FailoverStore as unknown as FastifyRateLimitStoreCtor,
    degraded: () => degraded,
    ready: (waitMs) => new Promise<void>((resolve) => {
      if (redis.status === 'ready') return resolve();
      const timer = setTimeout(done, waitMs);
      function done() {
        clearTimeout(timer);
        redis.off('ready', done);
        resolve();
      }
      redis.once('ready', done);
    }),
    async close() {
      redis.disconnect();
    },
  };
}
