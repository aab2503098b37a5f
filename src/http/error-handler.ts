import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isCryptoError } from '../kernel/crypto/errors.ts';
import { CursorError } from '../kernel/pagination/keyset-cursor.ts';
import { KernelError } from '../kernel/errors.ts';
import { unavailableReason, type Availability, type UnavailableReason } from '../db/availability.ts';
import { PROBLEM_CONTENT_TYPE, ProblemError, unauthenticated } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The problem code this request was answered with (set by sendProblem), for spans and metrics. */
    problemCode?: string;
  }
}

/** PostgreSQL error codes that are the client's fault, mapped to problems; anything else is a 500. */
function fromDatabase(err: { code?: string }): ProblemError | undefined {
  switch (err.code) {
    case '23505':
      return new ProblemError('conflict', 409, 'A resource with these values already exists.');
    case '23514': // check_violation
    case '22001': // string_data_right_truncation
    case '22P02': // invalid_text_representation
    case '22003': // numeric_value_out_of_range
    case '22007': // invalid_datetime_format
    case '22008': // datetime_field_overflow
    case '22009': // invalid_time_zone_displacement_value (an offset past ±15:59)
    case '22021': // character_not_in_repertoire (e.g. a NUL byte in text)
    case '22P05': // untranslatable_character (\u0000 in jsonb)
      return new ProblemError('validation-failed', 400, 'A value is outside what is allowed.');
    case 'OC001':
      return new ProblemError('last-owner', 409, 'A tenant must keep at least one owner.');
    case '42501':
      return new ProblemError('forbidden', 403, 'Not allowed.');
    case '53100': // disk_full: the statement was rolled back; the server (or PGlite's data folder) needs space
      return diskFullProblem();
    case '57014':
      return new ProblemError('service-unavailable', 503, 'The operation took too long.', { headers: { 'retry-after': '1' } });
    case '40001': // serialization_failure
    case '40P01': // deadlock_detected: the database chose this request to give way; nothing was changed
      return new ProblemError('service-unavailable', 503, 'The operation met a concurrent one; retry it.', { headers: { 'retry-after': '1' } });
    default:
      return undefined;
  }
}

/** Seconds a client should wait after each kind of outage: a busy pool clears fast, a restart takes a while. */
const retryAfterOf: Record<UnavailableReason, number> = {
  'pool-timeout': 1,
  'too-many-connections': 1,
  'query-timeout': 1,
  'connection-lost': 2,
  'connect-timeout': 5,
  unreachable: 5,
  'shutting-down': 5,
  'starting-up': 5,
  closed: 5,
};

/** A database (or other dependency) that cannot be reached: 503 with Retry-After, never a 500 (issue #23 §2). */
export function unavailableProblem(reason: UnavailableReason): ProblemError {
  const detail = reason === 'pool-timeout' || reason === 'too-many-connections'
    ? 'The database is busy; retry shortly.'
    : 'The database is not reachable right now; retry later.';
  return new ProblemError('service-unavailable', 503, detail, { headers: { 'retry-after': String(retryAfterOf[reason]) } });
}

/** 507: a write refused because the database's disk is full — the operator's to fix, the client may retry later. */
export function diskFullProblem(): ProblemError {
  return new ProblemError('insufficient-storage', 507, 'The database disk is full (no space left on device); nothing was changed. Retry after the operator frees space.', { headers: { 'retry-after': '60' } });
}

/** Disk full as PostgreSQL says it (53100) or as a file system call under PGlite does (ENOSPC). */
function isDiskFull(err: { code?: unknown; errno?: unknown; cause?: unknown }, depth = 0): boolean {
  if (err.code === '53100' || err.code === 'ENOSPC') return true;
  return depth < 3 && typeof err.cause === 'object' && err.cause !== null && isDiskFull(err.cause as typeof err, depth + 1);
}

export function toProblem(err: FastifyError & { code?: string }): ProblemError {
  if (err instanceof KernelError) return ProblemError.of(err);
  // A request that raced its tenant's deletion: the tenant is gone, like its sessions.
  if (isCryptoError(err, 'ERR_TENANT_DELETED')) return unauthenticated('The tenant was deleted.');
  if (err instanceof CursorError) return new ProblemError('validation-failed', 400, 'The cursor is not one this API returned.');
  if (err.validation) {
    const errors = err.validation.map((v) => ({
      location: err.validationContext ?? 'body',
      path: v.instancePath || '/',
      message: v.keyword === 'additionalProperties'
        ? `unknown property "${String((v.params as { additionalProperty?: unknown }).additionalProperty)}"`
        : v.message ?? 'invalid',
    }));
    return new ProblemError('validation-failed', 400, 'The request does not match the schema.', { extensions: { errors } });
  }
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return new ProblemError('validation-failed', 400, 'The URL is not valid (bad percent-encoding).');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ProblemError('validation-failed', 414, 'A path parameter is too long.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError('payload-too-large', 413, 'The request body is too large.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError('unsupported-media-type', 415, 'Send application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ProblemError('validation-failed', 400, 'The body is not valid JSON.');
  }
  if (err.statusCode === 429) {
    return new ProblemError('rate-limited', 429, 'Too many requests; retry later.');
  }
  const unavailable = unavailableReason(err);
  if (unavailable) return unavailableProblem(unavailable);
  if (isDiskFull(err)) return diskFullProblem();
  const db = fromDatabase(err);
  if (db) return db;
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new ProblemError('validation-failed', err.statusCode, 'The request was not understood.');
  }
  return new ProblemError('internal', 500);
}

/**
 * What of an unexpected error goes to the log: never the driver's extra
 * fields, which can carry the statement's parameters (PGlite attaches `query`
 * and `params`: ciphertext, fingerprints, request values).
 */
function loggableError(err: Error & { code?: unknown; routine?: unknown }) {
  return { type: err.name, message: err.message, code: err.code, routine: err.routine, stack: err.stack };
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, problem: ProblemError) {
  request.problemCode = problem.code;
  if (problem.headers) reply.headers(problem.headers);
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem.toBody(request.id));
}

/**
 * `availability`: the request-serving database's. During its outage each request's
 * 503 is logged at debug only: the outage itself is one warning (server.ts).
 */
export function registerErrorHandling(app: FastifyInstance, availability?: Availability): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const problem = toProblem(err);
    const unavailable = problem.status === 503 ? unavailableReason(err) : undefined;
    if (unavailable) {
      if (availability?.isDown) request.log.debug({ reason: unavailable }, 'answered 503: the database is unavailable');
      else request.log.warn({ reason: unavailable, code: (err as { code?: unknown }).code, message: err.message }, 'a dependency is unavailable; answered 503');
    } else if (problem.status === 503 && err instanceof KernelError) {
      // A deliberate 503 (readiness during an outage, a full queue): whoever raised it decided; no stack.
      request.log.debug({ code: problem.code }, 'answered 503');
    } else if (problem.status === 507) {
      // Every write fails until space is freed: the cause, not a stack per request.
      request.log.error({ code: (err as { code?: unknown }).code, message: err.message }, 'database disk full; answered 507');
    } else if (problem.status >= 500) request.log.error({ err: loggableError(err) }, 'request failed');
    else if (!(err instanceof ProblemError)) request.log.debug({ code: err.code }, 'request refused');
    // Headers set earlier (e.g. Retry-After from the rate limiter) are kept.
    return sendProblem(reply, request, problem);
  });
}
