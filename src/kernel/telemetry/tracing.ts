import { AsyncLocalStorage } from 'node:async_hooks';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import { otlpTransportSafe, type Config } from '../../config/config.ts';
import { parseTarget } from '../egress/target.ts';

export class TracingConfigError extends Error {
  readonly code = 'ERR_TRACING_CONFIG';
}

/**
 * Traces of this process (issue #17): HTTP requests, database statements and
 * jobs as spans, exported over OTLP/HTTP (protobuf) through the attribute
 * allowlist of span-filter.ts. `null` everywhere when OTEL_EXPORTER_OTLP_ENDPOINT
 * is unset: callers check once and the request path pays nothing.
 */
export interface Tracing {
  readonly tracer: Tracer;
  /** Starts a span, child of the span the current async scope runs in (if any). */
  start(name: string, kind: SpanKind, attributes?: Attributes): Span;
  /** Runs `fn` with `span` as the parent of spans started inside it. */
  within<T>(span: Span, fn: () => T): T;
  /** Ends `span` as failed with a code (never a message: messages can quote input). */
  fail(span: Span, code: string): void;
  /** Names a route template the server serves: only those may leave as `http.route` or in a span name. */
  allowRoute(template: string): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

const SCOPE = 'ocsuite';

/** `key=value,key2=value2`, values percent-encoded (the OTEL_EXPORTER_OTLP_HEADERS format). */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    const trimmed = part.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const name = eq > 0 ? trimmed.slice(0, eq).trim() : '';
    if (!/^[A-Za-z0-9-]{1,100}$/.test(name)) throw new TracingConfigError('OTLP headers: expected key=value pairs separated by commas');
    let value: string;
    try {
      value = decodeURIComponent(trimmed.slice(eq + 1).trim());
    } catch {
      throw new TracingConfigError(`OTLP headers: the value of ${name} is not valid percent-encoding`);
    }
    if (/[\r\n\0]/.test(value)) throw new TracingConfigError(`OTLP headers: the value of ${name} holds a control character`);
    out[name.toLowerCase()] = value;
  }
  return out;
}

/**
 * The egress checks that fit an operator's collector: the URL rules of the
 * webhook guard (scheme, no credentials in the URL, no service ports), https
 * in production unless the collector is on this host, and never an address of
 * the link-local (cloud metadata), multicast, broadcast, unspecified or
 * reserved ranges. Private and loopback addresses are allowed: that is where
 * collectors live.
 */
export async function checkOtlpEndpoint(endpoint: string, production: boolean, resolve = lookup): Promise<URL> {
  if (production && !otlpTransportSafe(endpoint)) throw new TracingConfigError('OTEL_EXPORTER_OTLP_ENDPOINT: must be https in production (plain http only to a loopback collector)');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TracingConfigError('OTEL_EXPORTER_OTLP_ENDPOINT: not a valid URL');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  try {
    parseTarget(url, url.protocol === 'http:' ? [host] : []);
  } catch (err) {
    throw new TracingConfigError(`OTEL_EXPORTER_OTLP_ENDPOINT: ${(err as Error).message}`);
  }
  if (url.search || url.hash) throw new TracingConfigError('OTEL_EXPORTER_OTLP_ENDPOINT: no query or fragment (put credentials in the headers)');
  const addresses = ipaddr.isValid(host) ? [host] : (await resolve(host, { all: true })).map((a) => a.address);
  for (const address of addresses) {
    const range = ipaddr.process(address).range();
    if (['linkLocal', 'multicast', 'broadcast', 'unspecified', 'reserved', 'carrierGradeNat'].includes(range)) {
      throw new TracingConfigError(`OTEL_EXPORTER_OTLP_ENDPOINT: ${host} resolves to a ${range} address, which is never a collector`);
    }
  }
  return url;
}

/** Headers from the environment and the mounted secret file (the file wins on a name both set). */
export function otlpHeadersOf(config: Pick<Config, 'otlpHeaders' | 'otlpHeadersFile'>): Record<string, string> {
  const fromFile = config.otlpHeadersFile ? readFileSync(config.otlpHeadersFile, 'utf8').trim() : undefined;
  return { ...parseOtlpHeaders(config.otlpHeaders), ...parseOtlpHeaders(fromFile) };
}

export interface TracingOptions {
  /** Replaces the OTLP exporter (tests); the allowlist still wraps it. */
  exporter?: SpanExporter;
  scheduledDelayMillis?: number;
}

/** Tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set, else null. */
export async function createTracing(config: Config, log: Logger, opts: TracingOptions = {}): Promise<Tracing | null> {
  if (!config.otlpEndpoint) return null;
  let url: URL;
  try {
    url = await checkOtlpEndpoint(config.otlpEndpoint, config.production);
  } catch (err) {
    if (err instanceof TracingConfigError) throw err;
    // A collector name that does not resolve yet (it may start after us): exports fail and are retried later.
    log.warn({ err: { message: (err as Error).message } }, 'the OTLP collector does not resolve; traces are exported once it does');
    url = new URL(config.otlpEndpoint);
  }
  const tracesUrl = `${url.href.replace(/\/+$/, '')}/v1/traces`;
  // Loaded only when tracing is on: a process without it never pays for the SDK's modules.
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, TracerProvider }, { AllowlistSpanExporter }] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-proto'), import('@opentelemetry/resources'), import('@opentelemetry/sdk-trace'), import('./span-filter.ts'),
  ]);
  const routes = new Set<string>();
  const inner = opts.exporter ?? new OTLPTraceExporter({ url: tracesUrl, headers: otlpHeadersOf(config), timeoutMillis: 10_000 });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'ocsuite' }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new AllowlistSpanExporter(inner, routes), scheduledDelayMillis: opts.scheduledDelayMillis ?? 5_000, maxQueueSize: 4096 })],
    spanLimits: { attributeCountLimit: 32, attributeValueLengthLimit: 300, eventCountLimit: 0, linkCountLimit: 0 },
  });
  // Libraries that trace through the global API (drizzle-orm, …) reach the same provider and the same filter.
  trace.setGlobalTracerProvider(provider);
  const tracer = provider.getTracer(SCOPE);
  const scope = new AsyncLocalStorage<Span>();
  log.info({ endpoint: `${url.protocol}//${url.host}` }, 'tracing on: spans are exported over OTLP/HTTP through the attribute allowlist');
  return {
    tracer,
    start(name, kind, attributes) {
      const parent = scope.getStore();
      return tracer.startSpan(name, { kind, ...(attributes ? { attributes } : {}) }, parent ? trace.setSpan(ROOT_CONTEXT, parent) : ROOT_CONTEXT);
    },
    within: (span, fn) => scope.run(span, fn),
    allowRoute: (template) => void routes.add(template),
    fail(span, code) {
      span.setAttribute('error.type', code);
      span.setStatus({ code: SpanStatusCode.ERROR });
    },
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
    },
  };
}

export { SpanKind };
