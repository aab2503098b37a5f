import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/**
 * What may leave the process in a span (issue #17, seed 004: an OTLP stream is
 * an exfiltration channel). Every attribute key is on this list with a check of
 * its value; anything else — bodies, query strings, headers, emails, tokens,
 * SQL text or parameters, exception messages — is dropped here, in process,
 * before the exporter serialises a byte. It applies to every span the provider
 * ends, ours and those of instrumentation libraries alike.
 */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const QUEUE = /^[a-z][a-z0-9._-]{0,79}$/;
const CODE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const SQL_VERB = /^[A-Z]{2,12}$/;
const SCOPE = /^[A-Za-z0-9@/._-]{1,80}$/;

const int = (min: number, max: number) => (v: AttributeValue) => (Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? v : undefined);
const matching = (re: RegExp) => (v: AttributeValue) => (typeof v === 'string' && re.test(v) ? v : undefined);
const oneOf = (values: readonly string[]) => (v: AttributeValue) => (typeof v === 'string' && values.includes(v) ? v : undefined);

/**
 * A route template, never a concrete path: segments are parameters (`:id`,
 * `*`) or short words; a segment that looks like an id or a token (long, or
 * mixing digits into something longer than a version tag) refuses the whole
 * value, so a library that puts a raw URL path here exports nothing.
 */
export function isRouteTemplate(v: unknown): v is string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 300 || !v.startsWith('/')) return false;
  if (/[?#%@\s]/.test(v)) return false;
  return v.split('/').slice(1).every((seg) =>
    seg === '' || seg === '*' || /^:[A-Za-z][A-Za-z0-9_]{0,40}$/.test(seg) || /^\{[A-Za-z][A-Za-z0-9_]{0,40}\}$/.test(seg)
    || (/^[A-Za-z.][A-Za-z0-9._-]{0,39}$/.test(seg) && !(seg.length > 12 && /\d/.test(seg))));
}

/**
 * The route templates this process serves. The shape check above is a
 * heuristic (a token of letters only looks like a word); only a template the
 * router registered may leave as `http.route` or in a span name, so a library
 * that records a concrete path (`/reset/<token>`) exports nothing of it.
 */
export type RouteTemplates = ReadonlySet<string>;

const isServedRoute = (v: unknown, routes: RouteTemplates): v is string => typeof v === 'string' && routes.has(v) && isRouteTemplate(v);

type Check = (v: AttributeValue, routes: RouteTemplates) => AttributeValue | undefined;

const ATTRIBUTES: Readonly<Record<string, Check>> = {
  'http.request.method': (v) => (typeof v === 'string' && METHODS.has(v) ? v : '_OTHER'),
  'http.route': (v, routes) => (isServedRoute(v, routes) ? v : undefined),
  'http.response.status_code': int(100, 599),
  'ocsuite.tenant_id': matching(UUID),
  'messaging.system': oneOf(['pg-boss', 'bullmq', 'ocsuite']),
  'messaging.destination.name': matching(QUEUE),
  'ocsuite.job.result': oneOf(['completed', 'failed', 'dead', 'retry', 'defer']),
  'ocsuite.job.attempt': int(1, 1000),
  'error.type': matching(CODE),
  'db.system.name': oneOf(['postgresql']),
  'db.operation.name': matching(SQL_VERB),
};

export const ALLOWED_ATTRIBUTES: readonly string[] = Object.keys(ATTRIBUTES);

export function filterAttributes(attributes: Attributes, routes: RouteTemplates): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    const check = ATTRIBUTES[key];
    if (!check || value === undefined || value === null) continue;
    const kept = check(value, routes);
    if (kept !== undefined) out[key] = kept;
  }
  return out;
}

/**
 * Span names follow the attributes: `GET /api/v1/things/:id` (`GET` unrouted), `db.query`,
 * `job webhooks.deliver`. Any other name (a library's `GET /path?token=…`,
 * `SELECT … FROM users WHERE email = …`) becomes the neutral `span`.
 */
export function filterSpanName(name: string, routes: RouteTemplates): string {
  if (METHODS.has(name)) return name;
  const space = name.indexOf(' ');
  if (space > 0 && METHODS.has(name.slice(0, space)) && isServedRoute(name.slice(space + 1), routes)) return name;
  if (/^db\.(query|raw|scoped_query)$/.test(name)) return name;
  if (name.startsWith('job ') && QUEUE.test(name.slice(4))) return name;
  return 'span';
}

const RESOURCE_KEYS = new Set(['service.name', 'service.version', 'telemetry.sdk.name', 'telemetry.sdk.language', 'telemetry.sdk.version']);
const SAFE_RESOURCE_VALUE = /^[A-Za-z0-9._@/-]{1,80}$/;
const resources = new WeakMap<Resource, Resource>();

/** Resource attributes from OTEL_RESOURCE_ATTRIBUTES or detectors (host names, command lines) are dropped too. */
function filterResource(resource: Resource): Resource {
  let out = resources.get(resource);
  if (!out) {
    const kept: Attributes = {};
    for (const [k, v] of Object.entries(resource.attributes)) {
      if (RESOURCE_KEYS.has(k) && typeof v === 'string' && SAFE_RESOURCE_VALUE.test(v)) kept[k] = v;
    }
    out = resourceFromAttributes(kept);
    resources.set(resource, out);
  }
  return out;
}

/** The span as it may leave: allowlisted attributes and name, no events (exception messages), no links, no status message. */
export function filterSpan(span: ReadableSpan, routes: RouteTemplates): ReadableSpan {
  const scope = span.instrumentationScope;
  return {
    name: filterSpanName(span.name, routes),
    kind: span.kind,
    spanContext: () => span.spanContext(),
    ...(span.parentSpanContext ? { parentSpanContext: span.parentSpanContext } : {}),
    startTime: span.startTime,
    endTime: span.endTime,
    duration: span.duration,
    ended: span.ended,
    status: { code: span.status.code },
    attributes: filterAttributes(span.attributes, routes),
    links: [],
    events: [],
    resource: filterResource(span.resource),
    instrumentationScope: {
      name: SCOPE.test(scope.name) ? scope.name : 'unknown',
      ...(scope.version && SCOPE.test(scope.version) ? { version: scope.version } : {}),
    },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** The exporter wrapper: whatever reaches the OTLP exporter went through `filterSpan`. */
export class AllowlistSpanExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #routes: RouteTemplates;
  constructor(inner: SpanExporter, routes: RouteTemplates) {
    this.#inner = inner;
    this.#routes = routes;
  }
  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.#inner.export(spans.map((s) => filterSpan(s, this.#routes)), resultCallback);
  }
  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}
