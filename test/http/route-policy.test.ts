import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerErrorHandling } from '../../src/http/error-handler.ts';
import { ProblemError } from '../../src/http/problem.ts';
import { requestSchemaCompiler } from '../../src/http/schema-validation.ts';
import { PROBLEM_SCHEMA_ID, requireOperationPrefix } from '../../src/http/route-docs.ts';
import { enforceRoutePolicies, UndeclaredPolicyError, type RouteInventoryEntry } from '../../src/http/route-policy.ts';
import { PermissionCatalog } from '../../src/kernel/access/catalog.ts';
import { modules } from '../../src/modules/index.ts';

const open: FastifyInstance[] = [];

function fresh(): { app: FastifyInstance; inventory: RouteInventoryEntry[] } {
  const app = Fastify({ logger: false });
  open.push(app);
  const inventory = enforceRoutePolicies(app, new PermissionCatalog(modules));
  return { app, inventory };
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
});

/** Registration may throw at once or when the app becomes ready; either way it must not start. */
async function build(app: FastifyInstance, register: () => void): Promise<unknown> {
  try {
    register();
    await app.ready();
  } catch (err) {
    return err;
  }
  return undefined;
}

const Ok = { type: 'object', properties: { id: { type: 'string' } } } as const;
/** Every route names itself; a fresh operationId per call keeps them unique. */
let n = 0;
const doc = () => ({ operationId: `testOperation${++n}`, summary: 'A test route' });

describe('enforceRoutePolicies', () => {
  it('refuses a route without config.security (ERR_ROUTE_POLICY_MISSING)', async () => {
    const { app, inventory } = fresh();
    const err = await build(app, () => {
      app.get('/internal/thing', { schema: { ...doc(), response: { 200: Ok } } }, async () => ({ id: 'x' }));
    });
    expect(err).toBeInstanceOf(UndeclaredPolicyError);
    expect(err).toMatchObject({ code: 'ERR_ROUTE_POLICY_MISSING' });
    expect(String((err as Error).message)).toContain('/internal/thing');
    expect(inventory).toEqual([]);
  });

  it('refuses a route whose config has no security even with other config', async () => {
    const { app } = fresh();
    const err = await build(app, () => {
      app.post('/api/v1/x', { config: { rateLimit: false } as never, schema: { ...doc(), response: { 200: Ok } } }, async () => ({ id: 'x' }));
    });
    expect(err).toMatchObject({ code: 'ERR_ROUTE_POLICY_MISSING' });
  });

  it('refuses an /api/ route without a response schema', async () => {
    const { app, inventory } = fresh();
    const err = await build(app, () => {
      app.get('/api/v1/unschemed', { config: { security: { policy: { permission: 'knowledge:read' } } }, schema: doc() }, async () => ({ id: 'x' }));
    });
    expect(err).toBeInstanceOf(UndeclaredPolicyError);
    expect(err).toMatchObject({ code: 'ERR_ROUTE_POLICY_MISSING' });
    expect(String((err as Error).message)).toMatch(/response schema/);
    expect(inventory).toEqual([]);
  });

  it('applies the /api/ rule to routes mounted under a prefix', async () => {
    const { app } = fresh();
    const err = await build(app, () => {
      void app.register(async (api) => {
        api.get('/things', { config: { security: { policy: 'public' } }, schema: doc() }, async () => ({ id: 'x' }));
      }, { prefix: '/api/v1' });
    });
    expect(err).toMatchObject({ code: 'ERR_ROUTE_POLICY_MISSING' });
  });

  it('allows a non-API route without a response schema and records every declared route', async () => {
    const { app, inventory } = fresh();
    const err = await build(app, () => {
      app.get('/metrics-like', { config: { security: { policy: 'operator' } }, schema: doc() }, async () => 'text');
      app.post('/api/v1/login-like', { config: { security: { policy: 'public', rateClass: 'auth' } }, schema: { ...doc(), response: { 200: Ok } } }, async () => ({ id: 'x' }));
      app.get('/api/v1/items/:id', { config: { security: { policy: { permission: 'knowledge:read' } } }, schema: { ...doc(), response: { 200: Ok } } }, async () => ({ id: 'x' }));
    });
    expect(err).toBeUndefined();
    expect(inventory.map(({ method, path, policy, rateClass }) => ({ method, path, policy, rateClass }))).toEqual([
      { method: 'GET', path: '/metrics-like', policy: 'operator', rateClass: 'default' },
      { method: 'POST', path: '/api/v1/login-like', policy: 'public', rateClass: 'auth' },
      { method: 'GET', path: '/api/v1/items/:id', policy: 'knowledge:read', rateClass: 'default' },
    ]);
    // HEAD twins of GET routes are not separate inventory entries.
    expect(inventory.some((r) => r.method === 'HEAD')).toBe(false);
  });

  it('writes the policy, its rate class and step-up into the route schema', async () => {
    const { app } = fresh();
    const seen = new Map<string, { schema: Record<string, unknown>; config: Record<string, unknown> }>();
    app.addHook('onRoute', (route) => {
      if (route.method !== 'HEAD') seen.set(route.url, { schema: route.schema as Record<string, unknown>, config: route.config as Record<string, unknown> });
    });
    await build(app, () => {
      app.post('/api/v1/login-like', { config: { security: { policy: 'public', rateClass: 'auth' } }, schema: { ...doc(), response: { 200: Ok } } }, async () => ({ id: 'x' }));
      app.get('/api/v1/items/:id', { config: { security: { policy: { permission: 'knowledge:read' } } }, schema: { ...doc(), response: { 200: Ok } } }, async () => ({ id: 'x' }));
      app.get('/metrics-like', { config: { security: { policy: 'operator' } }, schema: doc() }, async () => 'text');
    });
    const login = seen.get('/api/v1/login-like')!;
    expect(login.schema['x-ocsuite-policy']).toBe('public');
    // OpenAPI: an explicit empty requirement says the operation needs no credentials.
    expect(login.schema.security).toEqual([]);
    expect(login.schema['x-ocsuite-rate-class']).toBe('auth');
    const item = seen.get('/api/v1/items/:id')!;
    expect(item.schema['x-ocsuite-policy']).toBe('knowledge:read');
    expect(item.schema.security).toEqual([{ bearerAuth: [] }]);
    expect(item.schema['x-ocsuite-rate-class']).toBe('default');
    expect(seen.get('/metrics-like')!.schema.security).toEqual([{ operatorToken: [] }]);
  });

  it('the response schema strips fields the handler returns but the schema does not list', async () => {
    const { app } = fresh();
    const secret = randomBytes(24).toString('base64url');
    const err = await build(app, () => {
      app.get('/api/v1/leaky', {
        config: { security: { policy: 'public' } },
        schema: { ...doc(), response: { 200: { type: 'object', properties: { id: { type: 'string' }, nested: { type: 'object', properties: { ok: { type: 'boolean' } } } } } } },
      }, async () => ({ id: 'visible', internalSecret: secret, nested: { ok: true, passwordHash: secret } }));
    });
    expect(err).toBeUndefined();
    const res = await app.inject({ method: 'GET', url: '/api/v1/leaky' });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ id: 'visible', nested: { ok: true } });
    expect(res.body).not.toContain(secret);
  });
});

describe('routes describe themselves (operationId, summary, problems)', () => {
  const permission = { policy: { permission: 'knowledge:read' as const } };

  it('refuses a route without operationId or summary, or with a badly formed or reused operationId', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ summary: 'x' }, /operationId/],
      [{ operationId: 'knowledgeThing' }, /summary/],
      [{ operationId: 'knowledgeThing', summary: '  ' }, /summary/],
      [{ operationId: 'Knowledge_thing', summary: 'x' }, /camelCase/],
      [{ operationId: 'thing', summary: 'x' }, /camelCase/],
    ];
    for (const [docs, message] of cases) {
      const { app } = fresh();
      const err = await build(app, () => {
        app.get('/api/v1/thing', { config: { security: permission }, schema: { ...docs, response: { 200: Ok } } }, async () => ({ id: 'x' }));
      });
      expect(err).toBeInstanceOf(UndeclaredPolicyError);
      expect(String((err as Error).message)).toMatch(message);
    }
    const { app } = fresh();
    const err = await build(app, () => {
      app.get('/api/v1/a', { config: { security: permission }, schema: { operationId: 'knowledgeSame', summary: 'a', response: { 200: Ok } } }, async () => ({ id: 'x' }));
      app.get('/api/v1/b', { config: { security: permission }, schema: { operationId: 'knowledgeSame', summary: 'b', response: { 200: Ok } } }, async () => ({ id: 'x' }));
    });
    expect(String((err as Error).message)).toMatch(/reuses operationId "knowledgeSame"/);
  });

  it('refuses config.problems that are not error statuses', async () => {
    const { app } = fresh();
    const err = await build(app, () => {
      app.get('/api/v1/thing', { config: { security: permission, problems: [200] }, schema: { ...doc(), response: { 200: Ok } } }, async () => ({ id: 'x' }));
    });
    expect(err).toBeInstanceOf(UndeclaredPolicyError);
    expect(String((err as Error).message)).toMatch(/not an error status/);
  });

  it('adds the problems the request path answers and the declared ones, as problem+json', async () => {
    const { app } = fresh();
    const seen = new Map<string, Record<string, unknown>>();
    app.addHook('onRoute', (route) => {
      if (route.method !== 'HEAD') seen.set(route.url, route.schema as Record<string, unknown>);
    });
    await build(app, () => {
      app.get('/api/v1/items/:id', {
        config: { security: permission, problems: [404, 409] },
        schema: { ...doc(), params: { type: 'object', properties: { id: { type: 'string' } } }, response: { 200: Ok } },
      }, async () => ({ id: 'x' }));
      app.post('/api/v1/public-form', {
        config: { security: { policy: 'public' } },
        schema: { ...doc(), body: { type: 'object', properties: { a: { type: 'string' } } }, response: { 200: Ok } },
      }, async () => ({ id: 'x' }));
      app.get('/plain', { config: { security: { policy: 'public' } }, schema: doc() }, async () => 'ok');
    });
    const statuses = (url: string) => Object.keys(seen.get(url)!.response as object).map(Number);
    expect(statuses('/api/v1/items/:id')).toEqual([200, 400, 401, 403, 404, 409, 429, 503]);
    // Public: no 401/403 from the request path; a body adds 413 and 415.
    expect(statuses('/api/v1/public-form')).toEqual([200, 400, 413, 415, 429, 503]);
    // No input to validate: no 400.
    expect(statuses('/plain')).toEqual([429, 503]);
    const notFound = (seen.get('/api/v1/items/:id')!.response as Record<string, { content: Record<string, unknown> }>)[404]!;
    expect(notFound.content).toEqual({ 'application/problem+json': { schema: { $ref: `${PROBLEM_SCHEMA_ID}#` } } });
    expect(seen.get('/plain')!.security).toEqual([]);
  });

  it('error bodies pass the response schema whole: extensions, code and request id are kept', async () => {
    const { app } = fresh();
    registerErrorHandling(app);
    app.setValidatorCompiler(requestSchemaCompiler());
    const err = await build(app, () => {
      app.get('/api/v1/fails', {
        config: { security: { policy: 'public' }, problems: [409] },
        schema: { ...doc(), response: { 200: Ok } },
      }, async () => {
        throw new ProblemError('conflict', 409, 'Taken.', { extensions: { errors: [{ path: '/name', message: 'taken' }], hint: 'rename' } });
      });
    });
    expect(err).toBeUndefined();
    const res = await app.inject({ method: 'GET', url: '/api/v1/fails' });
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.body)).toEqual({
      type: 'urn:ocsuite:problem:conflict', title: 'Conflict', status: 409, detail: 'Taken.', code: 'OCS_CONFLICT',
      requestId: res.headers['x-request-id'] ?? expect.any(String), errors: [{ path: '/name', message: 'taken' }], hint: 'rename',
    });
    // A validation failure (a status the path adds) keeps its error list too.
    const bad = await app.inject({ method: 'GET', url: '/api/v1/fails?unknown=1' });
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ code: 'OCS_VALIDATION_FAILED', errors: [{ location: 'querystring' }] });
  });

  it('holds a module\'s operationIds to its prefix', async () => {
    const { app } = fresh();
    const err = await build(app, () => {
      void app.register(async (scope) => {
        requireOperationPrefix(scope, 'admin-tasks', UndeclaredPolicyError);
        scope.get('/api/v1/tasks', { config: { security: permission }, schema: { operationId: 'adminTasksList', summary: 'ok', response: { 200: Ok } } }, async () => ({ id: 'x' }));
        scope.get('/api/v1/other', { config: { security: permission }, schema: { operationId: 'adminList', summary: 'no', response: { 200: Ok } } }, async () => ({ id: 'x' }));
      });
    });
    expect(err).toBeInstanceOf(UndeclaredPolicyError);
    expect(String((err as Error).message)).toMatch(/"adminList".*start with "adminTasks"/);
  });
});
