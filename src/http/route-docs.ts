import { STATUS_CODES } from 'node:http';
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { RouteSecurity } from '../kernel/access/policy.ts';
import { PROBLEM_CONTENT_TYPE } from './problem.ts';

/**
 * Routes describe themselves (issue #11 §3): every operation names itself
 * (`operationId`, `summary`) and lists the problems it can answer, so the
 * OpenAPI document is complete without anyone writing error responses by hand.
 */

export const PROBLEM_SCHEMA_ID = 'Problem';

/**
 * RFC 9457 problem details as ProblemError.toBody writes them. Extension members
 * (`errors` of a 400, …) are allowed: additionalProperties keeps them when the
 * response serializer writes an error body.
 */
export const ProblemSchema = {
  $id: PROBLEM_SCHEMA_ID,
  title: 'Problem',
  description: 'RFC 9457 problem details. `type` is a stable URN per problem kind, `code` a stable machine-readable code.',
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code', 'requestId'],
  properties: {
    type: { type: 'string', format: 'uri-reference', description: 'RFC 9457 §3.1.1: the problem type (urn:ocsuite:problem:<kind>).' },
    title: { type: 'string', description: 'RFC 9457 §3.1.3: a short summary of the problem type.' },
    status: { type: 'integer', minimum: 400, maximum: 599, description: 'RFC 9457 §3.1.2: the HTTP status code.' },
    detail: { type: 'string', description: 'RFC 9457 §3.1.4: an explanation of this occurrence.' },
    code: { type: 'string', description: 'Stable error code for clients.' },
    requestId: { type: 'string', description: 'The request id (also in the x-request-id header), for support.' },
  },
  additionalProperties: true,
} as const;

/** Why the request path itself (not the handler) answers each of these statuses. */
const pathProblems: Record<number, string> = {
  400: 'The parameters, query or body do not match the schema (`errors` lists the mismatch).',
  401: 'No valid credentials: missing, expired, revoked or forged token.',
  403: 'The credentials do not grant this operation (permission, tenant, second factor).',
  413: 'The request body is larger than the limit.',
  415: 'The body is not application/json.',
  429: 'Rate limit of the route\'s class exceeded; see Retry-After.',
  503: 'The service cannot answer now (database unreachable or busy, queue at capacity, shutting down); retry later.',
};

/** Module-prefixed camelCase: a lower-case first word (the module) and at least one more. */
const OPERATION_ID = /^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+$/;

/** `admin-tasks` → `adminTasks`: the prefix a module's operationIds start with. */
export function operationPrefix(moduleName: string): string {
  return moduleName.replace(/[-_]+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export interface RouteDescription {
  operationId: string;
  summary: string;
}

/**
 * Checks the self-description of one route and returns the schema members to
 * add: error responses and the explicit security requirement. Throws a message
 * (the caller wraps it in its start-up error) when something is missing.
 */
export function describeRoute(route: RouteOptions, security: RouteSecurity, seen: Set<string>): { described: RouteDescription; schema: Record<string, unknown> } {
  const schema = (route.schema ?? {}) as Record<string, unknown>;
  const { operationId, summary } = schema;
  if (typeof operationId !== 'string' || operationId === '') throw new Error('declares no schema.operationId');
  if (!OPERATION_ID.test(operationId)) throw new Error(`has operationId "${operationId}", which is not module-prefixed camelCase (e.g. ledgerCreateTransfer)`);
  if (seen.has(operationId)) throw new Error(`reuses operationId "${operationId}" of another route`);
  if (typeof summary !== 'string' || summary.trim() === '') throw new Error('declares no schema.summary');
  const declared = route.config?.problems ?? [];
  for (const status of declared) {
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new Error(`lists ${String(status)} in config.problems, which is not an error status`);
  }
  seen.add(operationId);

  const isPublic = security.policy === 'public';
  const statuses = new Set<number>(declared);
  if (schema.params || schema.querystring || schema.body || schema.headers) statuses.add(400);
  if (schema.body) {
    statuses.add(413);
    statuses.add(415);
  }
  if (!isPublic) {
    statuses.add(401);
    statuses.add(403);
  }
  statuses.add(429);
  statuses.add(503);

  const response = { ...(schema.response as Record<string, unknown> | undefined) };
  for (const status of [...statuses].sort((a, b) => a - b)) {
    // A route that documents a status itself keeps its own description.
    if (response[status] !== undefined || response[String(status)] !== undefined) continue;
    response[status] = {
      description: pathProblems[status] ?? STATUS_CODES[status] ?? 'Error',
      content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: `${PROBLEM_SCHEMA_ID}#` } } },
    };
  }
  return {
    described: { operationId, summary },
    schema: {
      response,
      // OpenAPI 3.1 §4.8.10: an empty list states that the operation needs no credentials.
      security: isPublic ? [] : [security.policy === 'operator' ? { operatorToken: [] } : { bearerAuth: [] }],
    },
  };
}

/**
 * Within one module's plugin scope: its operationIds start with the module's
 * name, so two modules cannot claim the same one and a reader of the document
 * knows which module answers an operation.
 */
export function requireOperationPrefix(scope: FastifyInstance, moduleName: string, error: new (message: string) => Error): void {
  const prefix = operationPrefix(moduleName);
  scope.addHook('onRoute', (route) => {
    if (route.method === 'HEAD' || (route.url === '*' && route.method === 'OPTIONS')) return;
    const operationId = (route.schema as { operationId?: unknown } | undefined)?.operationId;
    if (typeof operationId === 'string' && !(operationId.startsWith(prefix) && /^[A-Z]/.test(operationId.slice(prefix.length)))) {
      throw new error(`route ${String(route.method)} ${route.url} has operationId "${operationId}": operations of module ${moduleName} start with "${prefix}" (e.g. ${prefix}ListThings)`);
    }
  });
}
