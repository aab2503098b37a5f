import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Principal } from '../kernel/auth/principal.ts';
import type { Platform } from '../kernel/platform.ts';
import { claimKey, completeKey, releaseKey, type KeyScope } from './idempotency-store.ts';
import { PROBLEM_CONTENT_TYPE, ProblemError } from './problem.ts';

/**
 * Idempotent creates (issue #23 §4), after the IETF httpapi
 * "The Idempotency-Key HTTP Header Field" draft and Stripe's API:
 *
 * - A route takes an `Idempotency-Key` when it declares `config.idempotent: true`, and by
 *   default every authenticated POST whose success is 201 Created does (`idempotent: false`
 *   opts out). The OpenAPI document lists the header, 409 and 422 on exactly those routes.
 * - The key is a Structured Field string (`"…"`, RFC 8941) or, as Stripe clients send it,
 *   a bare token; 1–255 characters. Anything else is 400.
 * - Keys belong to one principal of one tenant: another user, API key or tenant with the
 *   same key has a key of its own.
 * - The first request with a key runs; a 2xx answer is kept (status, body sealed under the
 *   tenant's data key, the headers in KEPT_HEADERS) for 24 hours and returned for the same
 *   key and the same request — method, route, parameters, query and body — with
 *   `Idempotent-Replayed: true`, without running the handler again. The same key with
 *   another request is 422; while the first is still running, 409 with Retry-After.
 * - An answer other than 2xx is not kept: the key is given back and the client may retry
 *   (a refused or failed request created nothing). Hourly, keys older than 24 h are pruned.
 */

export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'idempotent-replayed';
const MAX_KEY_LENGTH = 255;
/** Headers of the first response that a replay repeats. */
const KEPT_HEADERS = ['content-type', 'location', 'etag', 'last-modified', 'cache-control'] as const;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Whether the route accepts an Idempotency-Key (http/idempotency.ts): default true for an
     * authenticated POST that answers 201, false otherwise.
     */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotency?: { scope: KeyScope; id: string } | undefined;
  }
}

/** RFC 8941 §3.3.3 sf-string: printable ASCII in quotes, `\"` and `\\` escaped. */
function parseSfString(text: string): string | undefined {
  if (text.length < 2 || !text.startsWith('"') || !text.endsWith('"')) return undefined;
  let out = '';
  for (let i = 1; i < text.length - 1; i++) {
    const c = text[i]!;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code > 0x7e) return undefined;
    if (c === '\\') {
      const next = text[i + 1];
      if (next !== '"' && next !== '\\' || i + 1 >= text.length - 1) return undefined;
      out += next;
      i++;
    } else if (c === '"') {
      return undefined;
    } else out += c;
  }
  return out;
}

/** A bare key as Stripe clients send it (a UUID, a ULID, base64url…): no spaces, quotes or commas. */
const BARE_KEY = /^[A-Za-z0-9!#$%&'*+\-.^_`|~:/=?@]+$/;

/** The key of a request, undefined without one, or a 400 problem for a malformed one. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const refuse = (why: string) => new ProblemError('validation-failed', 400, `The Idempotency-Key header ${why}.`, {
    extensions: { errors: [{ location: 'headers', path: `/${IDEMPOTENCY_HEADER}`, message: why }] },
  });
  if (Array.isArray(header)) throw refuse('appears more than once');
  const text = header.trim();
  const key = text.startsWith('"') ? parseSfString(text) : BARE_KEY.test(text) ? text : undefined;
  if (key === undefined) throw refuse('is not a string (a quoted Structured Field string, or a token without spaces, quotes or commas)');
  if (key.length === 0) throw refuse('is empty');
  if (key.length > MAX_KEY_LENGTH) throw refuse(`is longer than ${MAX_KEY_LENGTH} characters`);
  return key;
}

/** JSON with object keys in order: the same body written in another key order is the same request. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** SHA-256 of what makes two requests the same request: method, route, parameters, query and body. */
export function fingerprintOf(r: { method: string; route: string | undefined; params: unknown; query: unknown; body: unknown }): string {
  return createHash('sha256')
    .update(canonical({ method: r.method, route: r.route ?? '', params: r.params ?? {}, query: r.query ?? {}, body: r.body ?? null }))
    .digest('hex');
}

const requestFingerprint = (request: FastifyRequest) =>
  fingerprintOf({ method: request.method, route: request.routeOptions.url, params: request.params, query: request.query, body: request.body });

const principalKey = (p: Principal) => (p.kind === 'api_key' ? `api_key:${p.keyId}` : `user:${p.userId}`);

/** Whether a route takes the header: its declaration, else an authenticated POST answering 201. */
export function acceptsIdempotencyKey(route: Pick<RouteOptions, 'method' | 'schema' | 'config'>): boolean {
  const declared = (route.config as { idempotent?: boolean } | undefined)?.idempotent;
  const policy = (route.config as { security?: { policy?: unknown } } | undefined)?.security?.policy;
  const authenticated = typeof policy === 'object' && policy !== null;
  if (declared !== undefined) {
    if (declared && !authenticated) throw new Error('declares config.idempotent but has no principal to scope the keys to (its policy is not a permission)');
    return declared;
  }
  const response = (route.schema as { response?: Record<string, unknown> } | undefined)?.response ?? {};
  return route.method === 'POST' && authenticated && (response[201] !== undefined || response['201'] !== undefined);
}

const headerDoc = {
  type: 'string',
  // No length bounds here: the hook's own check answers a bad key with a 400 that says what is wrong.
  description: 'Optional (IETF httpapi-idempotency-key-header draft): a unique key of this request, e.g. a UUID, as a quoted string or a bare token of at most 255 characters. '
    + 'The same key with the same request within 24 hours returns the first response (with Idempotent-Replayed: true) instead of creating again; '
    + 'with another request it is 422; while the first is in progress, 409. Keys are per principal and tenant.',
} as const;

/**
 * The one hook of idempotent creates. Registered before the route policies, so the
 * header and its problems (409, 422) are part of the route's self-description.
 */
export function registerIdempotency(app: FastifyInstance, platform: Pick<Platform, 'withTenant' | 'queryAsTenant' | 'keyring' | 'config' | 'log'>): void {
  const abandonAfterMs = platform.config.requestTimeoutMs * 3;
  app.decorateRequest('idempotency', undefined);

  async function preHandler(request: FastifyRequest, reply: FastifyReply) {
    const key = parseIdempotencyKey(request.headers[IDEMPOTENCY_HEADER]);
    if (key === undefined || !request.principal) return;
    const p = request.principal;
    const scope: KeyScope = { tenantId: p.tenantId, userId: p.userId ?? undefined, principal: principalKey(p), key };
    const route = `${request.method} ${request.routeOptions.url ?? ''}`;
    const claim = await claimKey(platform, scope, route, requestFingerprint(request), abandonAfterMs);
    switch (claim.state) {
      case 'claimed':
        request.idempotency = { scope, id: claim.id };
        return;
      case 'mismatch':
        throw new ProblemError('idempotency-key-reused', 422, 'This Idempotency-Key was used for a different request; use a new key for a new request.');
      case 'in-flight':
        throw new ProblemError('idempotency-key-in-flight', 409, 'A request with this Idempotency-Key is still in progress; retry after it completes.', { headers: { 'retry-after': '1' } });
      case 'completed': {
        const { status, headers, body } = claim.response;
        for (const [name, value] of Object.entries(headers)) reply.header(name, value);
        reply.header(REPLAYED_HEADER, 'true');
        return reply.code(status).send(body);
      }
    }
  }

  async function onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const claimed = request.idempotency;
    if (!claimed) return payload;
    request.idempotency = undefined;
    const ok = reply.statusCode >= 200 && reply.statusCode < 300 && String(reply.getHeader('content-type') ?? '') !== PROBLEM_CONTENT_TYPE;
    try {
      if (ok && (typeof payload === 'string' || Buffer.isBuffer(payload))) {
        const headers: Record<string, string> = {};
        for (const name of KEPT_HEADERS) {
          const value = reply.getHeader(name);
          if (value !== undefined) headers[name] = String(value);
        }
        await completeKey(platform, claimed.scope, claimed.id, { status: reply.statusCode, headers, body: payload.toString() });
      } else {
        await releaseKey(platform, claimed.scope, claimed.id);
      }
    } catch (err) {
      // The create happened; only its replay copy is missing. Answer it, and keep the key claimed
      // (a retry gets 409 until the claim is abandoned) rather than risk creating twice.
      request.log.warn({ err: (err as Error).message }, 'idempotency: could not record the response of a key');
    }
    return payload;
  }

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.length !== 1 || methods[0] === 'HEAD') return;
    let accepts: boolean;
    try {
      accepts = acceptsIdempotencyKey({ ...route, method: methods[0]! });
    } catch (err) {
      throw new Error(`route ${String(methods[0])} ${route.url} ${(err as Error).message}`);
    }
    if (!accepts) return;
    const schema = (route.schema ?? {}) as Record<string, unknown> & { headers?: { properties?: Record<string, unknown> } };
    route.schema = {
      ...schema,
      headers: {
        type: 'object',
        ...schema.headers,
        properties: { ...schema.headers?.properties, [IDEMPOTENCY_HEADER]: headerDoc },
      },
    } as typeof route.schema;
    route.config = { ...route.config, problems: [...new Set([...(route.config?.problems ?? []), 409, 422])] } as typeof route.config;
    const pre = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    // First: a replay answers before the route's own preHandlers do work (they run for a claimed key).
    route.preHandler = [preHandler, ...pre];
    const send = route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend];
    route.onSend = [...send, onSend];
  });
}

