import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { lintFromString, loadConfig } from '@redocly/openapi-core';
import { Ajv } from 'ajv';
import ajvFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/**
 * The served OpenAPI document, linted with the repository's ruleset
 * (redocly.yaml, each rule explained there) and checked for what route
 * self-description promises (issue #11 §3).
 */
interface Operation {
  operationId?: string;
  summary?: string;
  security?: unknown[];
  'x-ocsuite-policy'?: string;
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}
type Document = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, object> } };

let t: TestApp;
let source: string;
let doc: Document;
let owner: Account;
const operations = () => Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'OpenAPI tenant');
  const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  source = res.body;
  doc = JSON.parse(source) as Document;
});

afterAll(async () => {
  await t?.close();
});

describe('/openapi.json', () => {
  it('passes the lint ruleset of redocly.yaml without a single problem', async () => {
    const config = await loadConfig({ configPath: resolve(import.meta.dirname, '../../redocly.yaml') });
    const problems = await lintFromString({ source, absoluteRef: resolve(import.meta.dirname, 'openapi.json'), config });
    const report = problems.map((p) => `${p.ruleId}: ${p.message} at ${p.location.map((l) => l.pointer).join(', ')}`);
    expect(report).toEqual([]);
  });

  it('documents every route of the inventory under its operationId (the hidden document route aside)', () => {
    const documented = new Map(operations().map(({ path, method, op }) => [`${method.toUpperCase()} ${path}`, op.operationId]));
    const routes = t.app.routeInventory.filter((r) => r.method !== 'OPTIONS' && r.path !== '/openapi.json');
    expect(routes.length).toBeGreaterThan(50);
    for (const r of routes) {
      const key = `${r.method} ${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`;
      expect(documented.get(key), key).toBe(r.operationId);
    }
    expect(documented.size).toBe(routes.length);
  });

  it('answers every documented 4xx/5xx as problem+json with the one Problem schema', () => {
    expect(Object.keys(doc.components.schemas)).toEqual(['Problem']);
    let errors = 0;
    for (const { path, method, op } of operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        errors++;
        expect(Object.keys(response.content ?? {}), `${method} ${path} ${status}`).toEqual(['application/problem+json']);
        expect(response.content!['application/problem+json']!.schema).toEqual({ $ref: '#/components/schemas/Problem' });
      }
      // Every operation can be throttled and can meet an outage.
      expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['429', '503']));
    }
    expect(errors).toBeGreaterThan(200);
  });

  it('states security on every operation: an explicit [] on public ones, 401/403 documented on protected ones', () => {
    for (const { path, method, op } of operations()) {
      const where = `${method} ${path}`;
      if (op['x-ocsuite-policy'] === 'public') {
        expect(op.security, where).toEqual([]);
      } else {
        expect(op.security, where).toHaveLength(1);
        expect(Object.keys(op.responses), where).toEqual(expect.arrayContaining(['401', '403']));
      }
    }
    const publicOps = operations().filter(({ op }) => op['x-ocsuite-policy'] === 'public');
    expect(publicOps.length).toBeGreaterThanOrEqual(12);
  });

  it('documents the statuses handlers declare (config.problems)', () => {
    const op = (path: string, method: string) => doc.paths[path]![method]!;
    expect(Object.keys(op('/api/v1/knowledge/{id}', 'get').responses)).toContain('404');
    expect(Object.keys(op('/api/v1/roles/{id}', 'delete').responses)).toEqual(expect.arrayContaining(['404', '409']));
    expect(Object.keys(op('/api/v1/auth/login', 'post').responses)).toEqual(expect.arrayContaining(['401', '403']));
  });

  it('real error answers match the documented Problem schema (nothing stripped by the response serializer)', async () => {
    const ajv = new Ajv({ strict: false });
    ajvFormats.default(ajv);
    const validate = ajv.compile(doc.components.schemas.Problem!);
    const answers = [
      await t.app.inject({ method: 'GET', url: `/api/v1/knowledge/${randomUUID()}`, headers: bearer(owner) }),
      await t.app.inject({ method: 'GET', url: '/api/v1/knowledge?nope=1', headers: bearer(owner) }),
      await t.app.inject({ method: 'GET', url: '/api/v1/knowledge' }),
      await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(owner), payload: { name: 'x', permissions: ['no:such'] } }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([404, 400, 401, 400]);
    for (const a of answers) {
      expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
      const body = JSON.parse(a.body) as Record<string, unknown>;
      expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
      expect(body.requestId).toBe(a.headers['x-request-id']);
    }
    // Extension members survive: the schema mismatch list of a 400.
    expect(JSON.parse(answers[1]!.body)).toMatchObject({ errors: [{ location: 'querystring' }] });
  });
});
