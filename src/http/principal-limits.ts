import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../kernel/auth/principal.ts';
import { ProblemError } from './problem.ts';
import { rateClassOf } from './rate-classes.ts';

export interface PrincipalLimits {
  tenantPerMinute: number;
  userPerMinute: number;
  writePerMinute: number;
  exportPerMinute: number;
  expensivePerMinute: number;
}

type Cost = 'read' | 'write' | 'export' | 'expensive';

/** The route's cost class: exports and expensive reads by their rate class, writes by method. */
export function costOf(req: FastifyRequest): Cost {
  const rateClass = rateClassOf(req);
  if (rateClass === 'export') return 'export';
  if (rateClass === 'expensive') return 'expensive';
  return req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write';
}

const subjectOf = (p: Principal) => (p.kind === 'api_key' ? `k:${p.keyId}` : `u:${p.userId}`);

/**
 * The second rate limit of the request path (DESIGN.md §3), after authentication: one budget per
 * tenant (all its users and keys) and one per user or API key and cost class, in the same store as
 * the per-IP limit (Redis with REDIS_URL, so every API node draws on one budget).
 */
export function registerPrincipalLimits(app: FastifyInstance, limits: PrincipalLimits): void {
  const perCost: Record<Cost, number> = { read: limits.userPerMinute, write: limits.writePerMinute, export: limits.exportPerMinute, expensive: limits.expensivePerMinute };
  const keyOf = new WeakMap<FastifyRequest, { tenant: string; subject: string; cost: Cost }>();
  const tenant = app.createRateLimit({ timeWindow: 60_000, max: limits.tenantPerMinute, keyGenerator: (req) => keyOf.get(req)!.tenant });
  const subject = app.createRateLimit({
    timeWindow: 60_000,
    keyGenerator: (req) => keyOf.get(req)!.subject,
    max: (req) => perCost[keyOf.get(req)!.cost],
  });
  app.addHook('onRequest', async (req, reply) => {
    const p = req.principal;
    if (!p) return;
    const cost = costOf(req);
    keyOf.set(req, { tenant: `tenant:${p.tenantId}`, subject: `${cost}:${subjectOf(p)}`, cost });
    for (const limiter of [subject, tenant]) {
      const r = await limiter(req);
      if (r.isAllowed || !r.isExceeded) continue;
      reply.header('retry-after', String(Math.max(1, r.ttlInSeconds)));
      const err = new ProblemError('rate-limited', 429, `Rate limit exceeded; retry in ${Math.max(1, r.ttlInSeconds)} s.`);
      (err as unknown as { statusCode: number }).statusCode = 429;
      throw err;
    }
  });
}
