import type { FastifyInstance, RouteOptions } from 'fastify';
import { SESSION_PERMISSION, type PermissionCatalog } from '../kernel/access/catalog.ts';
import { describePolicy, type RateClass, type RouteSecurity } from '../kernel/access/policy.ts';
import { describeRoute, ProblemSchema } from './route-docs.ts';

export interface RouteInventoryEntry {
  method: string;
  path: string;
  /** schema.operationId (absent only for the CORS preflight, which no module declares). */
  operationId?: string;
  policy: string;
  rateClass: RateClass;
  /** A second factor proven within OCSUITE_STEP_UP_SECONDS is required (403 step-up-required otherwise). */
  stepUp: boolean;
  /** The request body schema, so generated security suites can send a valid body. */
  body?: unknown;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    security?: RouteSecurity;
    /**
     * Problem statuses the handler itself may answer (404, 409, 422 …), beyond the ones the
     * request path adds on its own (400 for validated input, 401/403 for protected routes, 429, 503).
     * They are documented as problem+json responses in the OpenAPI document.
     */
    problems?: readonly number[];
  }
}

export class UndeclaredPolicyError extends Error {
  readonly code = 'ERR_ROUTE_POLICY_MISSING';
}

/**
 * Default deny at build time: every route declares its policy or the server
 * refuses to start. API routes must also declare response schemas, because the
 * schema decides what leaves. The inventory feeds `ocsuite routes`, the
 * OpenAPI document and the generated security suites. Every route also
 * describes itself (route-docs.ts): operationId, summary, and the problem
 * responses it can answer, added here to its response schema.
 */
export function enforceRoutePolicies(app: FastifyInstance, catalog: PermissionCatalog): RouteInventoryEntry[] {
  const inventory: RouteInventoryEntry[] = [];
  const operationIds = new Set<string>();
  // The one Problem schema every error response refers to (a component of the OpenAPI document).
  app.addSchema(ProblemSchema);
  app.addHook('onRoute', (route: RouteOptions) => {
    const security = route.config?.security;
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    if (methods.length === 0) return;
    // The CORS plugin's preflight route: a browser sends it without credentials by definition.
    if (!security && route.url === '*' && methods.every((m) => m === 'OPTIONS')) {
      route.config = { ...route.config, security: { policy: 'public' } } as typeof route.config;
      inventory.push({ method: 'OPTIONS', path: '*', policy: 'public (CORS preflight)', rateClass: 'default', stepUp: false });
      return;
    }
    if (!security) {
      throw new UndeclaredPolicyError(`route ${methods.join(',')} ${route.url} declares no security policy`);
    }
    if (route.url.startsWith('/api/') && !route.schema?.response) {
      throw new UndeclaredPolicyError(`route ${methods.join(',')} ${route.url} declares no response schema`);
    }
    // A route may require only a permission some module declared: a typo is a start-up error, not a route nobody can call.
    if (typeof security.policy === 'object' && security.policy.permission !== SESSION_PERMISSION && !catalog.has(security.policy.permission)) {
      throw new UndeclaredPolicyError(`route ${methods.join(',')} ${route.url} requires ${security.policy.permission}, which no module declares`);
    }
    if (methods.length > 1) {
      throw new UndeclaredPolicyError(`route ${methods.join(',')} ${route.url} serves several methods: declare one route per operation`);
    }
    // An API route that takes no query parameters refuses any, as a strict schema refuses unknown ones.
    if (route.url.startsWith('/api/') && !route.schema?.querystring) {
      route.schema = { ...route.schema, querystring: { type: 'object', properties: {}, additionalProperties: false } };
    }
    let docs: ReturnType<typeof describeRoute>;
    try {
      docs = describeRoute(route, security, operationIds);
    } catch (err) {
      throw new UndeclaredPolicyError(`route ${methods.join(',')} ${route.url} ${(err as Error).message}`);
    }
    // The limit of a rate class is applied per client by rate-classes.ts, one budget per class.
    const rateClass = security.rateClass ?? 'default';
    const policy = describePolicy(security.policy);
    route.schema = {
      ...route.schema,
      ...docs.schema,
      'x-ocsuite-policy': policy,
      'x-ocsuite-rate-class': rateClass,
      'x-ocsuite-step-up': security.stepUp === true,
    } as typeof route.schema;
    for (const method of methods) inventory.push({ method, path: route.url, operationId: docs.described.operationId, policy, rateClass, stepUp: security.stepUp === true, body: route.schema?.body });
  });
  return inventory;
}
