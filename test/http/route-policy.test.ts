import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
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

describe('enforceRoutePolicies', () => {
  it('refuses a route without config.security (ERR_ROUTE_POLICY_MISSING)', async () => {
    const { app, inventory } = fresh();
    const err = await build(app, () => {
      app.get('/internal/thing', { schema: { response: { 200: Ok } } }, async () => ({ id: 'x' }));
    });
    expect(err).toBeInstanceOf(UndeclaredPolicyError);
    expect(err).toMatchObject({ code: 'ERR_ROUTE_POLICY_MISSING' });
    expect(String((err as Error).message)).toContain('/internal/thing');
    expect(inventory).toEqual([]);
  });

  it('refuses a route whose config has no security even with other config', async () => {
    const { app } = fresh();
    const err = await build(app, () => {
      app.post('/api/v1/x', { config: { rateLimit: false } as never, schema: { response: { 200: Ok } } }, async () => ({ id: 'x' }));
    });
    expect(err).toMatchObject({ code: 'ERR_ROUTE_POLICY_MISSING' });
  });

  it('refuses an /api/ route without a response schema', async () => {
    const { app, inventory } = fresh();
    const err = await build(app, () => {
      app.get('/api/v1/unschemed', { config: { security: { policy: { permission: 'knowledge:read' } } } }, async () => ({ id: 'x' }));
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
        api.get('/things', { config: { security: { policy: 'public' } } }, async () => ({ id: 'x' }));
      }, { prefix: '/api/v1' });
    });
    expect(err).toMatchObject({ code: 'ERR_ROUTE_POLICY_MISSING' });
  });

  it('allows a non-API route without a response schema and records every declared route', async () => {
    const { app, inventory } = fresh();
    const err = await build(app, () => {
      app.get('/metrics-like', { config: { security: { policy: 'operator' } } }, async () => 'text');
      app.post('/api/v1/login-like', { config: { security: { policy: 'public', rateClass: 'auth' } }, schema: { response: { 200: Ok } } }, async () => ({ id: 'x' }));
      app.get('/api/v1/items/:id', { config: { security: { policy: { permission: 'knowledge:read' } } }, schema: { response: { 200: Ok } } }, async () => ({ id: 'x' }));
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
      app.post('/api/v1/login-like', { config: { security: { policy: 'public', rateClass: 'auth' } }, schema: { response: { 200: Ok } } }, async () => ({ id: 'x' }));
      app.get('/api/v1/items/:id', { config: { security: { policy: { permission: 'knowledge:read' } } }, schema: { response: { 200: Ok } } }, async () => ({ id: 'x' }));
      app.get('/metrics-like', { config: { security: { policy: 'operator' } } }, async () => 'text');
    });
    const login = seen.get('/api/v1/login-like')!;
    expect(login.schema['x-ocsuite-policy']).toBe('public');
    expect(login.schema.security).toBeUndefined();
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
        schema: { response: { 200: { type: 'object', properties: { id: { type: 'string' }, nested: { type: 'object', properties: { ok: { type: 'boolean' } } } } } } },
      }, async () => ({ id: 'visible', internalSecret: secret, nested: { ok: true, passwordHash: secret } }));
    });
    expect(err).toBeUndefined();
    const res = await app.inject({ method: 'GET', url: '/api/v1/leaky' });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ id: 'visible', nested: { ok: true } });
    expect(res.body).not.toContain(secret);
  });
});
