import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, bearer, json, login, PASSWORD, signup, startApp, uniqueEmail, type Account, type TestApp } from '../support/app.ts';

const PROBLEM = /^application\/problem\+json/;
const problemType = (kind: string) => `urn:ocsuite:problem:${kind}`;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const ALLOWED_ORIGIN = 'https://app.example.com';

// Generated per run: 48 URL-safe characters.
const operatorToken = randomBytes(36).toString('base64url');

let t: TestApp; // CORS, small body limit, operator token
let limited: TestApp; // auth rate limit of 3, no operator token
let owner: Account;

beforeAll(async () => {
  t = await startApp({ CORS_ORIGINS: ALLOWED_ORIGIN, OCSUITE_BODY_LIMIT: '2048', OCSUITE_OPERATOR_TOKEN: operatorToken });
  limited = await startApp({ OCSUITE_AUTH_RATE_LIMIT: '3' });
  owner = await signup(t.app, 'Hardening');
});

afterAll(async () => {
  await t?.close();
  await limited?.close();
});

type Res = { statusCode: number; headers: Record<string, unknown>; body: string };

function expectProblem(res: Res, status: number, kind: string) {
  expect(res.statusCode).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(PROBLEM);
  const b = JSON.parse(res.body);
  expect(b.type).toBe(problemType(kind));
  expect(b.status).toBe(status);
  expect(b.requestId).toBe(res.headers['x-request-id']);
}

/** Stack frames, source paths or SQL in a response body. */
function leaks(body: string): string[] {
  const patterns: RegExp[] = [
    /stack/i,
    /\bat\s+\S+\s+\(.*:\d+:\d+\)/,
    /\n\s+at\s/,
    /\.ts:\d+/,
    /node:internal|node_modules/,
    /\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b/,
    /\b(memberships|refresh_tokens|password_hash|token_hash|pg_catalog|plpgsql)\b/i,
    /syntax error|violates|constraint|relation "/i,
  ];
  return patterns.filter((p) => p.test(body)).map(String);
}

describe('response headers', () => {
  it('carry the security headers on a normal and on an error response', async () => {
    for (const url of ['/healthz', '/no-such-route']) {
      const res = await t.app.inject({ method: 'GET', url });
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("default-src 'none'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(String(res.headers['strict-transport-security'])).toMatch(/max-age=\d{7,}/);
      expect(csp.includes("frame-ancestors 'none'") || /deny|sameorigin/i.test(String(res.headers['x-frame-options']))).toBe(true);
    }
  });

  it('x-request-id is present, unique per request and not taken from the client', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'chosen-by-client' } });
      const id = String(res.headers['x-request-id']);
      expect(id).toMatch(UUID);
      ids.add(id);
    }
    expect(ids.size).toBe(5);
  });
});

describe('CORS', () => {
  it('echoes an allowed origin', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/healthz', headers: { origin: ALLOWED_ORIGIN } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    const pre = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/me', headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'GET' } });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
    expect(String(pre.headers['access-control-allow-headers'])).toContain('authorization');
  });

  it('gives any other origin no access-control-allow-origin', async () => {
    for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.test', 'http://app.example.com']) {
      const res = await t.app.inject({ method: 'GET', url: '/healthz', headers: { origin } });
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      const pre = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/me', headers: { origin, 'access-control-request-method': 'GET' } });
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    }
  });
});

describe('request limits and malformed requests', () => {
  it('a body over OCSUITE_BODY_LIMIT is 413 problem+json', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'big@example.com', password: 'p'.repeat(3000) }),
    });
    expectProblem(res, 413, 'payload-too-large');
    // Just under the limit is parsed (and then refused by the schema, not by size).
    const under = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: 'big@example.com', password: 'p'.repeat(1900) }),
    });
    expectProblem(under, 400, 'validation-failed');
  });

  it('malformed JSON is 400 problem+json', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"email": "a@example.com", ' });
    expectProblem(res, 400, 'validation-failed');
  });

  it('an unknown route is 404 problem+json', async () => {
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/nothing-here' }), 404, 'not-found');
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/me/' }), 404, 'not-found');
  });

  it('a non-JSON content type on a JSON route is refused with a problem', async () => {
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': type }, payload: 'email=a@example.com' });
      expect([400, 415]).toContain(res.statusCode);
      expectProblem(res, res.statusCode, res.statusCode === 415 ? 'unsupported-media-type' : 'validation-failed');
    }
  });

  it('unknown properties are refused, not silently dropped', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: PASSWORD, admin: true } });
    expectProblem(res, 400, 'validation-failed');
    expect(json(res).errors[0].message).toContain('admin');
  });

  it('a JSON value of the wrong type is refused, never converted; query parameters are still read as numbers', async () => {
    const wrong: Array<Record<string, unknown>> = [
      { title: 12345, body: 'b' },
      { title: true, body: 'b' },
      { title: ['t'], body: 'b' },
      { title: 't', body: null },
    ];
    for (const payload of wrong) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(owner), payload });
      expectProblem(res, 400, 'validation-failed');
    }
    const listed = await t.app.inject({ method: 'GET', url: '/api/v1/knowledge?limit=1', headers: bearer(owner) });
    expect(listed.statusCode, listed.body).toBe(200);
    const [entries] = await Promise.all([t.app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: bearer(owner) })]);
    expect(json(entries).items.some((e: { title: unknown }) => e.title === '12345' || e.title === 'true')).toBe(false);
  });

  it('query numbers are plain decimal digits only, and a route without query parameters refuses any', async () => {
    for (const limit of ['0x1', '1e1', ' 5 ', '5.0', 'Infinity', '1,2']) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/knowledge?limit=${encodeURIComponent(limit)}`, headers: bearer(owner) });
      expectProblem(res, 400, 'validation-failed');
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/knowledge?limit=5', headers: bearer(owner) })).statusCode).toBe(200);
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/knowledge?limit=5&limit=6', headers: bearer(owner) }), 400, 'validation-failed');
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/me?debug=1', headers: bearer(owner) }), 400, 'validation-failed');
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key?x=1' }), 400, 'validation-failed');
  });

  it('a NUL byte anywhere in a stored value is 400, stores nothing and is not an error in the log', async () => {
    const count = async () => json(await t.app.inject({ method: 'GET', url: '/api/v1/knowledge?limit=100', headers: bearer(owner) })).items.length;
    const stored = await count();
    const before = t.logs.length;
    for (const payload of [{ title: 'a\u0000b', body: 'b' }, { title: 't', body: 'nul \u0000 inside' }]) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: { ...bearer(owner), 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      expectProblem(res, 400, 'validation-failed');
    }
    expect(await count()).toBe(stored);
    const errors = t.logs.slice(before).filter((l) => JSON.parse(l).level >= 50);
    expect(errors).toEqual([]);
  });

  it('a lone surrogate in any string or key of a body is 400, never stored as U+FFFD', async () => {
    for (const raw of ['{"title":"a\\ud800b","body":"b"}', '{"title":"t","body":"b","tags":["\\udc00"]}', '{"title":"t","body":"b","\\ud83d":1}']) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: { ...bearer(owner), 'content-type': 'application/json' }, payload: raw });
      expectProblem(res, 400, 'validation-failed');
    }
    // A surrogate pair is a character like any other.
    const ok = await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: { ...bearer(owner), 'content-type': 'application/json' }, payload: '{"title":"\\ud83d\\ude00","body":"b"}' });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(json(ok).title).toBe('😀');
  });

  it('a request the HTTP parser refuses (smuggling-shaped, oversized headers) is problem+json too, and the connection closes', async () => {
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = new URL(address);
    const raw = (text: string) => new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(text));
      let got = '';
      socket.on('data', (c) => (got += c.toString()));
      socket.on('end', () => resolve(got));
      socket.on('error', reject);
    });
    const smuggled = await raw('POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    expect(smuggled).toMatch(/^HTTP\/1\.1 400 /);
    expect(smuggled.toLowerCase()).toContain('content-type: application/problem+json');
    expect(JSON.parse(smuggled.slice(smuggled.indexOf('\r\n\r\n') + 4))).toMatchObject({ type: problemType('validation-failed'), status: 400 });
    const huge = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(huge.toLowerCase()).toContain('content-type: application/problem+json');
  });

  it('errors before routing (bad percent-encoding, an over-long path parameter) are problem+json too', async () => {
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/knowledge/%E0%A4%A', headers: bearer(owner) }), 400, 'validation-failed');
    expectProblem(await t.app.inject({ method: 'GET', url: `/api/v1/knowledge/${'a'.repeat(300)}`, headers: bearer(owner) }), 414, 'validation-failed');
  });

  it('no error body carries a stack, source path or SQL', async () => {
    const viewer = await addMember(t.app, owner, 'viewer');
    const responses: Res[] = [
      await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', headers: { 'content-type': 'application/json' }, payload: '{bad' }),
      await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'not-an-email', password: 1 } }),
      await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: owner.email, password: `${PASSWORD}!` } }),
      await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'x', email: owner.email, password: `${PASSWORD}?` } }),
      await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: "ocs_rt_' OR 1=1 --" } }),
      await t.app.inject({ method: 'GET', url: '/api/v1/knowledge/not-a-uuid', headers: bearer(owner) }),
      await t.app.inject({ method: 'GET', url: `/api/v1/knowledge/${randomUUID()}`, headers: bearer(owner) }),
      await t.app.inject({ method: 'GET', url: '/api/v1/knowledge?cursor=%27%3B%20DROP', headers: bearer(owner) }),
      await t.app.inject({ method: 'GET', url: '/api/v1/knowledge?cursor=AAAAAAAAAAAAAAAAAAAAAAAA', headers: bearer(owner) }),
      await t.app.inject({ method: 'PATCH', url: `/api/v1/members/${owner.userId}`, headers: bearer(owner), payload: { role: 'viewer' } }),
      await t.app.inject({ method: 'DELETE', url: `/api/v1/members/${owner.userId}`, headers: bearer(owner) }),
      await t.app.inject({ method: 'PATCH', url: `/api/v1/members/${randomUUID()}`, headers: bearer(owner), payload: { role: 'viewer' } }),
      await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(viewer), payload: { title: 't', body: 'b' } }),
      await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${owner.accessToken}x` } }),
      await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer nope' } }),
      await t.app.inject({ method: 'DELETE', url: '/healthz' }),
    ];
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.every((s) => s >= 400 && s < 500)).toBe(true);
    expect(statuses).toEqual(expect.arrayContaining([400, 401, 403, 404, 409]));
    for (const res of responses) {
      expect(String(res.headers['content-type'])).toMatch(PROBLEM);
      expect({ body: res.body, leaks: leaks(res.body) }).toEqual({ body: res.body, leaks: [] });
    }
  });
});

describe('rate limits', () => {
  it('the 4th auth attempt in a minute is 429 with retry-after', async () => {
    const email = uniqueEmail('limited');
    for (let i = 0; i < 3; i++) {
      const res = await limited.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD } });
      expectProblem(res, 401, 'invalid-credentials');
    }
    const res = await limited.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD } });
    expectProblem(res, 429, 'rate-limited');
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Ordinary routes keep their own, larger budget.
    expect((await limited.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    // Every auth-class route draws on the same budget: another one is refused too.
    const reset = await limited.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email } });
    expectProblem(reset, 429, 'rate-limited');
    // Another client has its own.
    const other = await limited.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { email }, remoteAddress: '198.51.100.77' });
    expect(other.statusCode).toBe(202);
  });
});

describe('/metrics', () => {
  it('is 503 when no operator token is configured', async () => {
    expectProblem(await limited.app.inject({ method: 'GET', url: '/metrics' }), 503, 'service-unavailable');
    expectProblem(await limited.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } }), 503, 'service-unavailable');
  });

  it('is 401 without or with a wrong operator token, and refuses a user access token', async () => {
    expectProblem(await t.app.inject({ method: 'GET', url: '/metrics' }), 401, 'unauthenticated');
    const wrong = randomBytes(36).toString('base64url');
    expectProblem(await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${wrong}` } }), 401, 'unauthenticated');
    expectProblem(await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken.slice(0, -1)}` } }), 401, 'unauthenticated');
    expectProblem(await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer(owner) }), 401, 'unauthenticated');
  });

  it('serves Prometheus text labelled by route template, never by concrete id', async () => {
    const id = randomUUID();
    expectProblem(await t.app.inject({ method: 'GET', url: `/api/v1/knowledge/${id}`, headers: bearer(owner) }), 404, 'not-found');
    const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } });
    expect(res.statusCode).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^text\/plain/);
    expect(res.body).toContain('ocsuite_http_request_duration_seconds');
    expect(res.body).toMatch(/ocsuite_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/knowledge\/:id"[^}]*status="404"/);
    expect(res.body).not.toContain(id);
    const labelled = res.body.split('\n').filter((l) => l.startsWith('ocsuite_http_request_duration_seconds'));
    expect(labelled.length).toBeGreaterThan(0);
    expect(labelled.filter((l) => UUID.test(l))).toEqual([]);
  });
});

describe('documents', () => {
  it('/openapi.json lists every route and a security requirement for every non-public operation', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = json(res);
    const operations = new Map<string, Record<string, unknown>>();
    for (const [path, item] of Object.entries<Record<string, Record<string, unknown>>>(doc.paths)) {
      for (const [method, op] of Object.entries(item)) operations.set(`${method.toUpperCase()} ${path}`, op);
    }
    const expected = t.app.routeInventory
      .filter((r) => !(r.method === 'OPTIONS' && r.path === '*'))
      // The document does not describe itself (hide: true).
      .filter((r) => r.path !== '/openapi.json')
      .map((r) => ({ key: `${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`, policy: r.policy, stepUp: r.stepUp }));
    expect(expected.length).toBeGreaterThan(15);
    expect([...operations.keys()].sort()).toEqual(expected.map((e) => e.key).sort());
    for (const { key, policy, stepUp } of expected) {
      const op = operations.get(key)!;
      expect({ key, policy: op['x-ocsuite-policy'], stepUp: op['x-ocsuite-step-up'] }).toEqual({ key, policy, stepUp });
      // Only declared query parameters are described (none is invented for a route without any).
      for (const p of (op.parameters as Array<{ in: string; name: string; schema: unknown }> | undefined) ?? []) {
        expect(typeof p.schema === 'object' && p.schema !== null, `${key} ?${p.name}`).toBe(true);
      }
      if (policy !== 'public') {
        expect(Array.isArray(op.security) && (op.security as unknown[]).length > 0, `${key} has no security requirement`).toBe(true);
      }
    }
    expect(operations.get('GET /api/v1/knowledge/{id}')!.security).toEqual([{ bearerAuth: [] }]);
    expect(operations.get('GET /metrics')!.security).toEqual([{ operatorToken: [] }]);
  });

  it('/.well-known/jwks.json exposes public key members only, and verifies issued tokens', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    const jwks = json(res);
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const key of jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key[secret]).toBeUndefined();
    }
    const { payload } = await jwtVerify(owner.accessToken, createLocalJWKSet(jwks), { algorithms: ['EdDSA'] });
    expect(payload.sub).toBe(owner.userId);
  });

  it('/readyz and /healthz answer 200', async () => {
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(json(ready)).toEqual({ status: 'ready' });
    const health = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(json(health)).toEqual({ status: 'ok' });
  });
});

describe('logs', () => {
  it('never contain passwords, access, refresh or invitation tokens', async () => {
    const before = t.logs.length;
    const secrets: string[] = [PASSWORD];
    const email = uniqueEmail('logged');
    const su = await t.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { tenantName: 'Log Tenant', email, password: PASSWORD } });
    expect(su.statusCode).toBe(201);
    const a = json(su);
    secrets.push(a.accessToken, a.refreshToken);

    const li = await login(t.app, { email, password: PASSWORD, tenantId: a.tenant.id });
    secrets.push(li.accessToken, li.refreshToken);
    const rf = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: li.refreshToken } });
    expect(rf.statusCode).toBe(200);
    secrets.push(json(rf).accessToken, json(rf).refreshToken);
    // A reuse and a wrong password take the refusal paths too.
    // A reuse right after rotation is the benign race (409); either way no token comes back.
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: li.refreshToken } })).statusCode).toBe(409);
    const wrongPassword = `${PASSWORD} typo`;
    secrets.push(wrongPassword);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: wrongPassword } })).statusCode).toBe(401);

    const inv = await t.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: { authorization: `Bearer ${a.accessToken}` }, payload: { email: uniqueEmail('invitee'), role: 'member' } });
    expect(inv.statusCode).toBe(201);
    const invToken = new URL(json(inv).acceptUrl).hash.replace('#token=', '');
    secrets.push(invToken);
    const acc = await t.app.inject({ method: 'POST', url: '/api/v1/invitations/accept', payload: { token: invToken, password: PASSWORD } });
    expect(acc.statusCode).toBe(200);
    secrets.push(json(acc).accessToken, json(acc).refreshToken);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/invitations/accept', payload: { token: invToken, password: PASSWORD } })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${operatorToken}` } })).statusCode).toBe(200);
    secrets.push(operatorToken);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { authorization: `Bearer ${a.accessToken}` } })).statusCode).toBe(204);

    const lines = t.logs.slice(before);
    // The flows were logged at all (one access line per request).
    expect(lines.filter((l) => l.includes('"msg":"request"')).length).toBeGreaterThanOrEqual(10);
    const all = t.logs.join('\n');
    expect(secrets.every((s) => s.length >= 20)).toBe(true);
    const found = secrets.filter((s) => all.includes(s)).map((s) => `${s.slice(0, 12)}…`);
    expect(found).toEqual([]);
    // Not even the unguessable part of a token (in case a prefix was stripped).
    const tails = secrets.filter((s) => s.startsWith('ocs_')).map((s) => s.slice(-43));
    expect(tails.filter((s) => all.includes(s))).toEqual([]);
  });
});
