import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { AllowlistSpanExporter, filterAttributes, filterSpanName, isRouteTemplate } from '../../src/kernel/telemetry/span-filter.ts';
import { checkOtlpEndpoint, otlpHeadersOf, parseOtlpHeaders, TracingConfigError } from '../../src/kernel/telemetry/tracing.ts';
import { isTracedDatabase, sqlVerb } from '../../src/kernel/telemetry/traced-db.ts';
import { bootPlatform } from '../../src/boot.ts';
import { startApp } from '../support/app.ts';

const fixedResolve = (address: string) => (async () => [{ address, family: address.includes(':') ? 6 : 4 }]) as never;

describe('the OTLP endpoint', () => {
  it('must be https in production unless the collector is on loopback', () => {
    const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://u:a-long-password-1@db/x', PUBLIC_URL: 'https://ocsuite.example', OCSUITE_MASTER_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}` };
    expect(() => loadConfig({ ...prod, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.internal:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT: must be https/);
    try {
      loadConfig({ ...prod, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.internal:4318' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
    }
    for (const ok of ['https://collector.internal:4318', 'http://127.0.0.1:4318', 'http://localhost:4318', 'http://[::1]:4318']) {
      expect(loadConfig({ ...prod, OTEL_EXPORTER_OTLP_ENDPOINT: ok }).otlpEndpoint).toBe(ok);
    }
    // Outside production plain http is allowed (a local collector in development).
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector.internal:4318' }).otlpEndpoint).toBe('http://collector.internal:4318');
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector.internal' })).toThrow(ConfigError);
  });

  it('passes the egress checks that fit a collector: no credentials, no service port, no metadata or multicast address', async () => {
    await expect(checkOtlpEndpoint('https://user:pw@collector.internal', false, fixedResolve('10.0.0.5'))).rejects.toThrow(/credentials/);
    await expect(checkOtlpEndpoint('https://collector.internal:22', false, fixedResolve('10.0.0.5'))).rejects.toThrow(/port 22/);
    await expect(checkOtlpEndpoint('https://collector.internal/?token=x', false, fixedResolve('10.0.0.5'))).rejects.toThrow(/query/);
    await expect(checkOtlpEndpoint('http://169.254.169.254', false)).rejects.toThrow(/linkLocal/);
    await expect(checkOtlpEndpoint('https://metadata.evil', false, fixedResolve('169.254.169.254'))).rejects.toThrow(/linkLocal/);
    await expect(checkOtlpEndpoint('https://metadata.evil', false, fixedResolve('fe80::1'))).rejects.toThrow(/linkLocal/);
    await expect(checkOtlpEndpoint('https://mc.evil', false, fixedResolve('224.0.0.1'))).rejects.toThrow(/multicast/);
    await expect(checkOtlpEndpoint('http://0.0.0.0:4318', false)).rejects.toThrow(/unspecified/);
    await expect(checkOtlpEndpoint('http://collector.internal:4318', true, fixedResolve('10.0.0.5'))).rejects.toThrow(TracingConfigError);
    // Private and loopback collectors are where collectors live.
    await expect(checkOtlpEndpoint('https://collector.internal:4318', true, fixedResolve('10.0.0.5'))).resolves.toBeInstanceOf(URL);
    await expect(checkOtlpEndpoint('http://127.0.0.1:4318', true)).resolves.toBeInstanceOf(URL);
  });

  it('a refused endpoint stops the start-up', async () => {
    // Before any database is opened: nothing to clean up.
    await expect(bootPlatform(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://169.254.169.254:4318', OCSUITE_DATA_DIR: '/nonexistent/never-opened' }))).rejects.toThrow(TracingConfigError);
  });
});

describe('exporter headers', () => {
  it('parses key=value pairs with percent-encoded values, refusing control characters and bad names', () => {
    expect(parseOtlpHeaders('Authorization=Bearer%20abc, x-tenant = ops')).toEqual({ authorization: 'Bearer abc', 'x-tenant': 'ops' });
    expect(parseOtlpHeaders(undefined)).toEqual({});
    expect(() => parseOtlpHeaders('authorization=a%0d%0ax-evil: 1')).toThrow(/control character/);
    expect(() => parseOtlpHeaders('bad name=x')).toThrow(TracingConfigError);
    expect(() => parseOtlpHeaders('authorization=%E0%A4%A')).toThrow(/percent-encoding/);
  });

  it('reads the secret from a mounted file, which wins over the environment', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ocsuite-otlp-'));
    const file = path.join(dir, 'headers');
    writeFileSync(file, 'authorization=Bearer%20from-file\n', { mode: 0o600 });
    expect(otlpHeadersOf({ otlpHeaders: 'authorization=Bearer%20from-env,x-scope=a', otlpHeadersFile: file })).toEqual({ authorization: 'Bearer from-file', 'x-scope': 'a' });
  });
});

describe('the span allowlist', () => {
  it('accepts route templates, refuses concrete paths and query strings', () => {
    for (const ok of ['/api/v1/me', '/api/v1/things/:id', '/sso/discourse/:tenantId', '/u/:token', '/.well-known/jwks.json', '/api/v1/*', '/v2']) expect(isRouteTemplate(ok), ok).toBe(true);
    for (const bad of ['/api/v1/me?token=x', '/u/ptkAbCdEf0123456789xyz', '/api/v1/things/6c0421a5-d29b-462c-a992-1b281d452aae', 'api/v1', '/a b', '/x%2Fy', '/x#frag', '/login/user@example.com', '']) {
      expect(isRouteTemplate(bad), bad).toBe(false);
    }
  });

  it('keeps only known span names: a route in a name must be one the server serves', () => {
    const routes = new Set(['/api/v1/me', '/u/:token']);
    expect(filterSpanName('GET /api/v1/me', routes)).toBe('GET /api/v1/me');
    expect(filterSpanName('GET', routes)).toBe('GET');
    expect(filterSpanName('db.query', routes)).toBe('db.query');
    expect(filterSpanName('job webhooks.deliver', routes)).toBe('job webhooks.deliver');
    for (const bad of ['GET /api/v1/me?token=abc', "SELECT * FROM users WHERE email = 'a@b.c'", 'job x y', 'drizzle.operation', 'POST https://evil/',
      // Shaped like a template (a token of letters only), but no route of ours.
      'GET /reset/ptkEZcWMFLOyLGN-EgxhpaSNOSC', 'GET /api/v1/things/:id']) expect(filterSpanName(bad, routes)).toBe('span');
  });

  it('lets out http.route only for a template the server serves, whatever its shape', () => {
    const routes = new Set(['/api/v1/things/:id']);
    expect(filterAttributes({ 'http.route': '/api/v1/things/:id' }, routes)).toEqual({ 'http.route': '/api/v1/things/:id' });
    for (const leaky of ['/reset/ptkEZcWMFLOyLGN-EgxhpaSNOSC', '/u/abcdefghijkl', '/api/v1/things/x']) {
      expect(isRouteTemplate(leaky), leaky).toBe(true);
      expect(filterAttributes({ 'http.route': leaky }, routes), leaky).toEqual({});
    }
  });

  it('drops attributes off the list and values that fail their check; events, links, status messages and resource extras too', async () => {
    const memory = new InMemorySpanExporter();
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'ocsuite', 'host.name': 'db-primary-7', 'process.command_args': '--token=x' }),
      spanProcessors: [new SimpleSpanProcessor({ exporter: new AllowlistSpanExporter(memory, new Set(['/api/v1/things/:id'])) })],
    });
    const span = provider.getTracer('t').startSpan('GET /api/v1/things/:id', { kind: SpanKind.SERVER, attributes: {
      'http.route': '/api/v1/things/:id', 'http.request.method': 'BREW', 'http.response.status_code': 200, 'ocsuite.tenant_id': 'not-a-uuid',
      'messaging.destination.name': 'Bad Queue!', 'db.operation.name': "SELECT 'x'", 'error.type': 'OCS_FORBIDDEN', 'url.query': 'token=x', 'user.email': 'a@b.c',
    } });
    span.addEvent('exception', { 'exception.message': 'secret' });
    span.addLink({ context: span.spanContext() });
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'secret in message' });
    span.end();
    await provider.forceFlush();
    const [out] = memory.getFinishedSpans();
    expect(out!.attributes).toEqual({ 'http.route': '/api/v1/things/:id', 'http.request.method': '_OTHER', 'http.response.status_code': 200, 'error.type': 'OCS_FORBIDDEN' });
    expect(out!.events).toEqual([]);
    expect(out!.links).toEqual([]);
    expect(out!.status).toEqual({ code: SpanStatusCode.ERROR });
    expect(out!.resource.attributes).toEqual({ 'service.name': 'ocsuite' });
    await provider.shutdown();
  });

  it('a statement span carries its verb, never its text', () => {
    expect(sqlVerb('  SELECT * FROM users WHERE email = $1')).toBe('SELECT');
    expect(sqlVerb('/* c */ insert into x values ($1)')).toBe('INSERT');
    expect(sqlVerb("'quoted' stuff")).toBe('OTHER');
  });
});

describe('tracing off', () => {
  it('without OTEL_EXPORTER_OTLP_ENDPOINT: no tracing, and the database is the driver\'s own (no wrapper on the path)', async () => {
    const t = await startApp();
    try {
      expect(t.platform.tracing).toBeNull();
      expect(isTracedDatabase(t.platform.db)).toBe(false);
      // No span hook on the request path: the request still answers, with nothing to export to.
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});
