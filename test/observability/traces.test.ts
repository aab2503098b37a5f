import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind, trace } from '@opentelemetry/api';
import { isTracedDatabase } from '../../src/kernel/telemetry/traced-db.ts';
import { startApp, type TestApp } from '../support/app.ts';
import { startOtlpReceiver, type ExportedSpan } from './otlp-receiver.ts';
import { runSession, type Session } from './session.ts';

/**
 * Issue #17 item 2: spans reach a real OTLP/HTTP collector, and nothing the
 * session sent or received — passwords, tokens, keys, secrets, emails, query
 * strings — is in any byte the collector got.
 */
let t: TestApp;
let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;
let session: Session;
let spans: ExportedSpan[];
const collectorToken = `collector-${Math.random().toString(36).slice(2)}${Date.now()}`;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  t = await startApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${collectorToken}`,
    OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32',
    OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1',
  });
  session = await runSession(t);
  // A library tracing through the global API with everything it should not: the same filter applies.
  const lib = trace.getTracer('some-instrumentation', '1.2.3');
  const leaky = lib.startSpan(`GET /api/v1/me?token=${session.secrets.queryToken}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'url.full': `http://x/?token=${session.secrets.queryToken}`,
      'http.request.header.authorization': `Bearer ${session.secrets.accessToken}`,
      'db.query.text': `SELECT * FROM users WHERE email = '${session.emails[0]}'`,
      'db.query.parameter.0': session.secrets.password,
      'http.route': `/reset/${session.secrets.pathToken}`,
      'ocsuite.tenant_id': session.secrets.apiKey,
      'enduser.id': session.emails[0]!,
    },
  });
  leaky.recordException(new Error(`failed with ${session.secrets.webhookSecret}`));
  leaky.setStatus({ code: 2, message: `boom ${session.secrets.refreshToken}` });
  leaky.end();
  // The delivery job's span ends after the receiver answered and the attempt is recorded.
  const deadline = Date.now() + 20_000;
  do {
    await t.platform.tracing!.forceFlush();
    spans = otlp.spans();
    if (spans.some((s) => s.name === 'job webhooks.deliver')) break;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
}, 120_000);

afterAll(async () => {
  await t?.close();
  await otlp?.close();
});

describe('OTLP export', () => {
  it('posts protobuf to <endpoint>/v1/traces with the configured header', () => {
    expect(otlp.exports.length).toBeGreaterThan(0);
    for (const e of otlp.exports) {
      expect(e.path).toBe('/v1/traces');
      expect(e.headers['content-type']).toBe('application/x-protobuf');
      expect(e.headers.authorization).toBe(`Bearer ${collectorToken}`);
    }
  });

  it('has an HTTP server span per request, named by the route template, with method, status and tenant', () => {
    const me = spans.filter((s) => s.name === 'GET /api/v1/me');
    expect(me.length).toBeGreaterThanOrEqual(2);
    for (const s of me) {
      expect(s.kind).toBe(2); // SERVER
      expect(s.attributes['http.route']).toBe('/api/v1/me');
      expect(s.attributes['http.request.method']).toBe('GET');
      expect(typeof s.attributes['http.response.status_code']).toBe('number');
    }
    expect(me.map((s) => [s.attributes['http.response.status_code'], s.attributes['ocsuite.tenant_id']])).toContainEqual([200, session.tenantId]);
    // The refused bearer token: a 401 with its problem code, no tenant.
    expect(me.map((s) => [s.attributes['http.response.status_code'], s.attributes['error.type'], s.attributes['ocsuite.tenant_id']])).toContainEqual([401, 'OCS_UNAUTHENTICATED', undefined]);
    const signup = spans.find((s) => s.name === 'POST /api/v1/auth/signup');
    expect(signup?.attributes['http.response.status_code']).toBe(201);
    expect(spans.some((s) => s.name === 'GET /u/:token')).toBe(true);
    // An unrouted path is not named by its URL.
    const unrouted = spans.filter((s) => s.name === 'GET' && s.attributes['http.response.status_code'] === 404);
    expect(unrouted.length).toBeGreaterThan(0);
    for (const s of unrouted) expect(s.attributes['http.route']).toBeUndefined();
  });

  it('has database spans (verb only) as children of the request that ran them', () => {
    expect(isTracedDatabase(t.platform.db)).toBe(true);
    const db = spans.filter((s) => s.name.startsWith('db.'));
    expect(db.length).toBeGreaterThan(10);
    for (const s of db) {
      expect(s.attributes['db.system.name']).toBe('postgresql');
      expect(String(s.attributes['db.operation.name'])).toMatch(/^[A-Z]{2,12}$/);
    }
    const signup = spans.find((s) => s.name === 'POST /api/v1/auth/signup')!;
    expect(db.some((s) => s.traceId === signup.traceId && s.parentSpanId === signup.spanId && s.attributes['db.operation.name'] === 'INSERT')).toBe(true);
  });

  it('has a job span for the webhook delivery, with queue, tenant, attempt and result, and its statements under it', () => {
    const job = spans.find((s) => s.name === 'job webhooks.deliver');
    expect(job?.name, spans.filter((s) => s.name.startsWith('job ')).map((s) => s.name).join(', ')).toBe('job webhooks.deliver');
    expect(job!.kind).toBe(5); // CONSUMER
    expect(job!.attributes['messaging.destination.name']).toBe('webhooks.deliver');
    expect(job!.attributes['ocsuite.tenant_id']).toBe(session.tenantId);
    expect(job!.attributes['ocsuite.job.result']).toBe('completed');
    expect(job!.attributes['ocsuite.job.attempt']).toBe(1);
    expect(spans.some((s) => s.parentSpanId === job!.spanId && s.name.startsWith('db.'))).toBe(true);
  });

  it('lets out only allowlisted attributes, no events, links or status messages', () => {
    const allowed = new Set(['http.request.method', 'http.route', 'http.response.status_code', 'ocsuite.tenant_id', 'messaging.system', 'messaging.destination.name',
      'ocsuite.job.result', 'ocsuite.job.attempt', 'error.type', 'db.system.name', 'db.operation.name']);
    for (const s of spans) {
      for (const k of Object.keys(s.attributes)) expect(allowed.has(k), `${s.name}: ${k}`).toBe(true);
      expect(s.events).toBe(0);
      expect(s.links).toBe(0);
      expect(s.statusMessage).toBe('');
      expect(Object.keys(s.resource).every((k) => k === 'service.name' || k.startsWith('telemetry.sdk.'))).toBe(true);
    }
  });

  it('filters a library span like ours: neutral name, its leaky attributes dropped', () => {
    const lib = spans.filter((s) => s.scope === 'some-instrumentation');
    expect(lib).toHaveLength(1);
    expect(lib[0]!.name).toBe('span');
    expect(lib[0]!.attributes).toEqual({});
    expect(lib[0]!.statusCode).toBe(2);
  });

  it('exports none of the session\'s secrets, tokens, emails or query strings in any byte', () => {
    const bytes = Buffer.concat(otlp.exports.map((e) => e.body));
    expect(bytes.length).toBeGreaterThan(1000);
    const needles = { ...session.secrets, ...Object.fromEntries(session.emails.map((e, i) => [`email${i}`, e])) };
    expect(Object.keys(needles).length).toBeGreaterThan(12);
    for (const [name, value] of Object.entries(needles)) {
      expect(value.length, name).toBeGreaterThan(5);
      expect(bytes.includes(Buffer.from(value)), `${name} was exported`).toBe(false);
      // Base64 of the value (a careless exporter of bodies) is not there either.
      expect(bytes.includes(Buffer.from(Buffer.from(value).toString('base64').slice(0, 16))), `${name} (base64) was exported`).toBe(false);
    }
    for (const needle of ['?token=', '?access_token', 'access_token', 'x-api-key', 'cookie', 'SELECT ', 'INSERT INTO', '@example.com', collectorToken]) {
      expect(bytes.includes(Buffer.from(needle)), `"${needle}" was exported`).toBe(false);
    }
  });
});
