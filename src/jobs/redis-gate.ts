import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { burstOf, type GateEntry, type TenantGate, type TenantLimits } from './tenant-gate.ts';

/**
 * Tenant caps in Redis for BullMQ (issue #22 §5), so they hold across every
 * worker process of a deployment, not per process. One Lua script takes both
 * at once, atomically, on Redis's own clock (TIME; scripts replicate their
 * effects):
 * - concurrency: a sorted set of holders scored by their lease's end; a holder
 *   renews its lease while its job runs, so a worker killed with a slot frees it
 *   when the lease ends (the worker's BullMQ lock ends at about the same time);
 * - rate: a token bucket (tokens, last refill) refilled at the queue's rate.
 * Nothing is taken unless both admit the job. Keys live under the driver's prefix.
 */
const ENTER = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local rate = tonumber(ARGV[4])
if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= cap then
    return {0, 0}
  end
end
if rate > 0 then
  local burst = tonumber(ARGV[5])
  local b = redis.call('HMGET', KEYS[2], 'tokens', 'at')
  local tokens = tonumber(b[1]) or burst
  local at = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
  if tokens < 1 then
    return {0, math.ceil((1 - tokens) * 1000 / rate)}
  end
  redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - 1), 'at', now)
  redis.call('PEXPIRE', KEYS[2], math.ceil(burst * 1000 / rate) + 1000)
end
if cap > 0 then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], lease * 2)
end
return {1, 0}`;

// Only a holder that still has its slot renews it: one whose lease lapsed has lost it to another job.
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0`;

type GateRedis = Redis & {
  ocsuiteGateEnter(slots: string, bucket: string, cap: number, leaseMs: number, holder: string, rate: number, burst: number): Promise<[number, number]>;
  ocsuiteGateRenew(slots: string, holder: string, leaseMs: number): Promise<number>;
};

export function defineGateCommands(redis: Redis): void {
  redis.defineCommand('ocsuiteGateEnter', { numberOfKeys: 2, lua: ENTER });
  redis.defineCommand('ocsuiteGateRenew', { numberOfKeys: 1, lua: RENEW });
}

export class RedisTenantGate implements TenantGate {
  readonly #redis: GateRedis;
  readonly #keyOf: (kind: 'slots' | 'rate', tenantId: string) => string;
  readonly #limits: TenantLimits;
  readonly #leaseMs: number;

  /** `redis` must have had defineGateCommands; `leaseMs` is about the driver's job lock. */
  constructor(redis: Redis, prefix: string, queue: string, limits: TenantLimits, leaseMs: number) {
    this.#redis = redis as GateRedis;
    this.#keyOf = (kind, tenantId) => `${prefix}:ocsuite-tenant-${kind}:${queue}:${tenantId}`;
    this.#limits = limits;
    this.#leaseMs = Math.max(1_000, Math.round(leaseMs));
  }

  async enter(tenantId: string, holder: string): Promise<GateEntry> {
    const cap = this.#limits.concurrency ?? 0;
    const rate = this.#limits.ratePerSecond ?? 0;
    // Unique per attempt: a redelivery of the same job is another holder.
    const member = `${holder}:${randomBytes(6).toString('base64url')}`;
    const slots = this.#keyOf('slots', tenantId);
    const [ok, wait] = await this.#redis.ocsuiteGateEnter(slots, this.#keyOf('rate', tenantId), cap, this.#leaseMs, member, rate, rate ? burstOf(this.#limits) : 0);
    if (ok !== 1) return { admitted: false, retryInMs: wait };
    if (!cap) return { admitted: true, leave: async () => {} };
    const renewal = setInterval(() => {
      this.#redis.ocsuiteGateRenew(slots, member, this.#leaseMs).catch(() => {});
    }, Math.floor(this.#leaseMs / 3));
    renewal.unref();
    return {
      admitted: true,
      leave: async () => {
        clearInterval(renewal);
        // Should this fail (Redis away), the lease ends on its own.
        await this.#redis.zrem(slots, member).catch(() => {});
      },
    };
  }
}
