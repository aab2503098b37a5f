import { randomBytes, randomUUID } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { bearer, login, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { anyFrom, paramFrom, validFrom } from './fuzz-inputs.ts';
import { seedModules } from './module-seeds.ts';

/**
 * Property-based fuzzing of every documented route from its own schema (the
 * OpenAPI document the server publishes): valid and invalid bodies, query
 * strings and path parameters (another tenant's ids among them), sent as tenant
 * A's owner. For every request: no 5xx; the response matches the schema the
 * document declares for its status; nothing of tenant B comes back; and a 4xx
 * changed no row of either tenant. OCSUITE_FUZZ_RUNS sets the runs per route
 * (`npm run fuzz` runs many; `npm test` a bounded few).
 */
const RUNS = Number(process.env.OCSUITE_FUZZ_RUNS ?? 2);
const SEED = process.env.OCSUITE_FUZZ_SEED ? Number(process.env.OCSUITE_FUZZ_SEED) : undefined;
// Routes that end the fuzzing principal's tenant for good; every other one is fuzzed.
const SKIP = new Set(['tenantsDeleteTenant']);
// Rows written on purpose for a refused request: denial evidence (audit trail and its log), the
// brute-force counters, access logs; and the log's checkpoints, which a scheduled job signs while the
// fuzzer runs. Every other tenant table must be untouched by a 4xx.
const EVIDENCE_TABLES = new Set(['audit_events', 'translog_nodes', 'translog_heads', 'translog_leaves', 'translog_checkpoints', 'access_logs', 'auth_throttle']);
// Evidence kept on a row of its own table: an inbound webhook that fails verification counts on its
// receiver (refused_count, last_refused_at, last_refusal_audited_at). Those columns may change on a 4xx; no other may.
const EVIDENCE_COLUMNS: Record<string, string[]> = {
  webhook_receivers: ['refused_count', 'last_refused_at', 'last_refusal_audited_at'],
};

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
type Op = { method: string; path: string; operationId: string; body?: any; query: Array<{ name: string; schema: any; required?: boolean }>; params: Array<{ name: string; schema: any }>; responses: Record<string, any> };

let t: TestApp;
let A: Account;
let B: Account;
let ops: Op[] = [];
let bIds: string[] = [];
let bSecrets: string[] = [];
let tenantTables: string[] = [];
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
addFormats(ajv);
const seen = { requests: 0, byClass: {} as Record<string, number> };

beforeAll(async () => {
  // An operator token switches /metrics on (without it the route answers 503 by design); A's token is not it.
  t = await startApp({ OCSUITE_OPERATOR_TOKEN: randomBytes(36).toString('base64url') });
  A = await signup(t.app, 'Fuzz A');
  B = await signup(t.app, 'Fuzz B');
  const seeded = await seedModules(t, { A: { owner: A }, B: { owner: B } });
  bIds = [B.tenantId, B.userId, ...seeded.bIds];
  bSecrets = seeded.bSecrets;
  const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  ajv.addSchema(doc, 'openapi.json');
  for (const [p, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method) || SKIP.has(op.operationId)) continue;
      const parameters: any[] = op.parameters ?? [];
      ops.push({
        method: method.toUpperCase(), path: p, operationId: op.operationId,
        body: op.requestBody?.content?.['application/json']?.schema,
        query: parameters.filter((x) => x.in === 'query'), params: parameters.filter((x) => x.in === 'path'),
        responses: op.responses ?? {},
      });
    }
  }
  tenantTables = await withOwner(t.platform.db, (tx) => tx.query<{ table_name: string }>(sql`
    SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables tb USING (table_schema, table_name)
    WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND tb.table_type = 'BASE TABLE' ORDER BY 1`)).then((r) => r.map((x) => x.table_name).filter((n) => !EVIDENCE_TABLES.has(n)));
}, 300_000);

afterAll(async () => {
  await t?.close();
});

/** Row count and a hash of every row version (xmin) of both tenants' rows, per table. */
async function fingerprint(): Promise<Record<string, string>> {
  // job_outbox rows are updated by the relay in the background (sent_at, done_at of earlier jobs): only a new row counts there.
  const tenants = sql`tenant_id IN (${A.tenantId}::uuid, ${B.tenantId}::uuid)`;
  const parts = tenantTables.map((n) => {
    if (n === 'job_outbox') return sql`SELECT ${n} AS t, count(*)::text AS f FROM job_outbox WHERE ${tenants}`;
    const evidence = EVIDENCE_COLUMNS[n];
    // A row with evidence columns is compared by its content without them; every other row by its version.
    if (evidence) return sql`SELECT ${n} AS t, count(*)::text || ':' || coalesce(sum(hashtext((to_jsonb(r)${sql.join(evidence.map((c) => sql` - ${c}::text`))})::text))::text, '') AS f FROM ${sql.identifier(n)} r WHERE ${tenants}`;
    return sql`SELECT ${n} AS t, count(*)::text || ':' || coalesce(sum(hashtext(xmin::text || ctid::text))::text, '') AS f FROM ${sql.identifier(n)} WHERE ${tenants}`;
  });
  const rows = await withOwner(t.platform.db, (tx) => tx.query<{ t: string; f: string }>(sql.join(parts, sql` UNION ALL `)));
  return Object.fromEntries(rows.map((r) => [r.t, r.f]));
}

function pointer(...segments: string[]): string {
  return segments.map((s) => s.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
}

function responseValidator(op: Op, status: number) {
  const key = op.responses[String(status)] ? String(status) : op.responses[`${String(status)[0]}XX`] ? `${String(status)[0]}XX` : op.responses.default ? 'default' : undefined;
  if (!key) return undefined;
  const content = op.responses[key].content ?? {};
  const type = Object.keys(content).find((c) => c.includes('json'));
  if (!type) return null; // declared without a JSON body
  return ajv.getSchema(`openapi.json#/${pointer('paths', op.path, op.method.toLowerCase(), 'responses', key, 'content', type, 'schema')}`) ?? ajv.compile({ $ref: `openapi.json#/${pointer('paths', op.path, op.method.toLowerCase(), 'responses', key, 'content', type, 'schema')}` });
}

function htmlPage(op: Op): boolean {
  return Boolean(op.responses['200']?.content?.['text/html']);
}

function requestArb(op: Op) {
  const params = fc.record(Object.fromEntries(op.params.map((p) => [p.name, paramFrom(p.schema, bIds)])));
  const query = fc.record(Object.fromEntries(op.query.map((q) => [q.name, fc.oneof(validFrom(q.schema), fc.string({ maxLength: 20 }))])), { requiredKeys: [] });
  const unknownQuery = fc.option(fc.constantFrom('tenantId', 'debug', '__proto__'), { nil: undefined });
  const body = op.body ? anyFrom(op.body) : fc.constant(undefined);
  return fc.record({ params, query, unknownQuery, body });
}

describe('fuzzing every route from its schema', () => {
  it('answers no 5xx, only what its schema declares, nothing of another tenant, and changes nothing on a 4xx', async () => {
    expect(ops.length).toBeGreaterThan(150);
    let me = A;
    for (const op of ops) {
      await fc.assert(fc.asyncProperty(requestArb(op), async (req) => {
        let url = op.path.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(String(req.params[n] ?? randomUUID()).toWellFormed()));
        const qs = new URLSearchParams();
        for (const [k, v] of Object.entries(req.query)) if (v !== undefined) qs.set(k, (typeof v === "string" ? v : JSON.stringify(v) ?? "").toWellFormed());
        if (req.unknownQuery) qs.set(req.unknownQuery, '1');
        if ([...qs].length) url += `?${qs}`;
        // Reads may write evidence only (access logs); the row check is for the methods that write.
        const writes = op.method !== 'GET';
        const before = writes ? await fingerprint() : {};
        const res = await t.app.inject({
          method: op.method as 'GET', url, headers: { ...bearer(me), ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(req.body !== undefined ? { payload: JSON.stringify(req.body) } : {}),
        });
        seen.requests++;
        seen.byClass[`${String(res.statusCode)[0]}xx`] = (seen.byClass[`${String(res.statusCode)[0]}xx`] ?? 0) + 1;
        const where = `${op.method} ${url} → ${res.statusCode} ${res.body.slice(0, 300)}`;
        expect(res.statusCode, where).toBeLessThan(500);
        const input = `${url} ${JSON.stringify(req.body ?? null)}`;
        for (const s of bSecrets) expect(res.body.includes(s), `B's secret in ${where}`).toBe(false);
        for (const id of bIds) if (!input.includes(id)) expect(res.body.includes(id), `B's id ${id} in ${where}`).toBe(false);
        // Pages for people (unsubscribe, DiscourseConnect) answer their 4xx as HTML too; /openapi.json documents
        // only problem+json errors (test/http/openapi-lint.test.ts), so such a page's HTML error is accepted as is.
        if (res.statusCode >= 400 && htmlPage(op) && String(res.headers['content-type']).startsWith('text/html')) return;
        const validate = responseValidator(op, res.statusCode);
        expect(validate, `status ${res.statusCode} is not declared by ${op.operationId}: ${where}`).not.toBe(undefined);
        if (validate && res.body.length) {
          const ok = validate(res.json());
          expect(ok, `${where}\n${JSON.stringify(validate.errors)}`).toBe(true);
        }
        if (writes && res.statusCode >= 400) {
          const after = await fingerprint();
          const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
          expect(changed, `a ${res.statusCode} changed ${changed.join(', ')}: ${where}`).toEqual([]);
        }
        // A fuzzed logout or session revocation ends the principal's session; log in again and go on.
        if (res.statusCode === 401) me = A = await login(t.app, A);
      }), { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}), endOnFailure: true });
    }
    expect(seen.requests).toBe(ops.length * RUNS);
    console.log(`fuzz: ${ops.length} routes × ${RUNS} runs: ${JSON.stringify(seen.byClass)}`);
    // Both sides were reached: requests the validator refused and requests handlers answered.
    expect(seen.byClass['4xx'] ?? 0).toBeGreaterThan(0);
    expect(seen.byClass['2xx'] ?? 0).toBeGreaterThan(0);
  }, 600_000);
});
