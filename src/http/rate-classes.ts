import type { FastifyRequest } from 'fastify';
import type { RateClass, RateClassDeclaration } from '../kernel/access/policy.ts';

/**
 * Rate limits per client IP and rate class (a route's `config.security.rateClass`),
 * in the one store of the rate-limit plugin: every auth-class route (login,
 * signup, MFA, reset, invitation acceptance…) draws on one budget per minute,
 * so fourteen routes are not fourteen budgets; so do exports.
 */
export function rateClassOf(req: FastifyRequest): RateClass {
  return (req.routeOptions.config as { security?: { rateClass?: RateClass } } | undefined)?.security?.rateClass ?? 'default';
}

export interface RateLimits {
  perMinute: number;
  authPerMinute: number;
  exportPerMinute: number;
  healthPerMinute: number;
  expensivePerMinute: number;
}

/**
 * Answers outside any route (unknown paths, errors before routing) have no
 * route config and so draw on the `default` budget of their client, like any request.
 */
export function rateLimitByClass(limits: RateLimits, declared: readonly RateClassDeclaration[] = []) {
  const perClass: Record<string, number> = {
    ...Object.fromEntries(declared.map((d) => [d.name, d.perMinute])),
    default: limits.perMinute,
    auth: limits.authPerMinute,
    export: limits.exportPerMinute,
    health: limits.healthPerMinute,
    expensive: limits.expensivePerMinute,
  };
  return {
    keyGenerator: (req: FastifyRequest) => {
      const rateClass = rateClassOf(req);
      return rateClass === 'default' ? req.ip : `${rateClass}:${req.ip}`;
    },
    max: (_req: FastifyRequest, key: string) => {
      const colon = key.indexOf(':');
      // IPv6 addresses contain colons too: only a known class name before the first one is a class.
      const rateClass = colon > 0 ? key.slice(0, colon) : 'default';
      return perClass[rateClass] ?? limits.perMinute;
    },
  };
}
