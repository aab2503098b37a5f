import type { FastifyRequest } from 'fastify';
import type { RateClass } from '../kernel/access/policy.ts';

/**
 * Rate limits per client IP and rate class (a route's `config.security.rateClass`),
 * in the one store of the rate-limit plugin: every auth-class route (login,
 * signup, MFA, reset, invitation acceptance…) draws on one budget per minute,
 * so fourteen routes are not fourteen budgets; so do exports.
 */
export function rateClassOf(req: FastifyRequest): RateClass {
  return (req.routeOptions.config as { security?: { rateClass?: RateClass } } | undefined)?.security?.rateClass ?? 'default';
}

export function rateLimitByClass(limits: { perMinute: number; authPerMinute: number; exportPerMinute: number }) {
  return {
    keyGenerator: (req: FastifyRequest) => {
      const rateClass = rateClassOf(req);
      return rateClass === 'default' ? req.ip : `${rateClass}:${req.ip}`;
    },
    max: (_req: FastifyRequest, key: string) =>
      key.startsWith('auth:') ? limits.authPerMinute : key.startsWith('export:') ? limits.exportPerMinute : limits.perMinute,
  };
}
