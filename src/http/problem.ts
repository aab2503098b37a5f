// RFC 9457 problem details. `type` is a stable URN per problem kind; nothing
// internal (stack, SQL, ids of other tenants) ever goes into a problem body.
// The kernel raises coded errors (kernel/errors.ts); this file is the one place
// that gives each kind its HTTP status.
import { KernelError, type ErrorKind } from '../kernel/errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export type ProblemKind = ErrorKind;

const titles: Record<ProblemKind, string> = {
  'validation-failed': 'Request validation failed',
  unauthenticated: 'Authentication required',
  forbidden: 'Forbidden',
  'not-found': 'Not found',
  conflict: 'Conflict',
  'rate-limited': 'Too many requests',
  'payload-too-large': 'Payload too large',
  'unsupported-media-type': 'Unsupported media type',
  'tenant-required': 'Choose a tenant',
  'signup-disabled': 'Self-serve signup is disabled',
  'invalid-credentials': 'Invalid credentials',
  'invalid-token': 'Invalid or expired token',
  'role-escalation': 'Role assignment not allowed',
  'role-in-use': 'The role is assigned to members',
  'last-owner': 'A tenant must keep at least one owner',
  'mfa-required': 'Multi-factor authentication is required',
  'step-up-required': 'Confirm with your second factor',
  'locked-out': 'Temporarily locked after repeated failures',
  'refresh-race': 'Refresh token already rotated moments ago',
  'service-unavailable': 'Service unavailable',
  'insufficient-storage': 'Insufficient storage',
  'queue-full': 'Job queue at capacity',
  'request-timeout': 'Request timeout',
  'idempotency-key-reused': 'Idempotency key already used for another request',
  'idempotency-key-in-flight': 'A request with this idempotency key is in progress',
  'egress-refused': 'The target URL may not be reached',
  'egress-failed': 'The target did not answer',
  internal: 'Internal server error',
};

export function problemType(kind: ProblemKind): string {
  return `urn:ocsuite:problem:${kind}`;
}

/** The status of each kernel error kind (a route may still raise a problem of a kind with another status). */
const statusOf: Record<ProblemKind, number> = {
  'validation-failed': 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'rate-limited': 429,
  'payload-too-large': 413,
  'unsupported-media-type': 415,
  'tenant-required': 400,
  'signup-disabled': 403,
  'invalid-credentials': 401,
  'invalid-token': 401,
  'role-escalation': 403,
  'role-in-use': 409,
  'last-owner': 409,
  'mfa-required': 403,
  'step-up-required': 403,
  'locked-out': 429,
  'refresh-race': 409,
  'service-unavailable': 503,
  'insufficient-storage': 507,
  'queue-full': 503,
  'request-timeout': 408,
  'idempotency-key-reused': 422,
  'idempotency-key-in-flight': 409,
  'egress-refused': 400,
  'egress-failed': 502,
  internal: 500,
};

/** An error that becomes a problem+json response; `code` is stable for clients. */
export class ProblemError extends KernelError {
  readonly status: number;
  readonly headers: Record<string, string> | undefined;

  constructor(
    kind: ProblemKind,
    status: number,
    detail?: string,
    options?: { extensions?: Record<string, unknown>; headers?: Record<string, string> },
  ) {
    super(kind, detail, options?.extensions ? { extensions: options.extensions } : {});
    this.name = 'ProblemError';
    this.message = detail ?? titles[kind];
    this.status = status;
    this.headers = options?.headers;
  }

  /** A kernel error as the problem its kind stands for. */
  static of(err: KernelError): ProblemError {
    if (err instanceof ProblemError) return err;
    const headers: Record<string, string> = {};
    if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
    if (err.kind === 'unauthenticated') headers['www-authenticate'] = 'Bearer';
    return new ProblemError(err.kind, statusOf[err.kind], err.detail, {
      ...(err.extensions ? { extensions: err.extensions } : {}),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
    });
  }

  toBody(requestId: string): Record<string, unknown> {
    return {
      type: problemType(this.kind),
      title: titles[this.kind],
      status: this.status,
      // RFC 9457 §3.1.4: a human-readable explanation of this occurrence; the title when there is no better one.
      detail: this.detail ?? titles[this.kind],
      code: this.code,
      requestId,
      ...this.extensions,
    };
  }
}

export const notFound = (what = 'resource') => new ProblemError('not-found', 404, `No such ${what}.`);
export const forbidden = (detail: string) => new ProblemError('forbidden', 403, detail);
export const unauthenticated = (detail = 'A valid bearer token is required.') =>
  new ProblemError('unauthenticated', 401, detail, { headers: { 'www-authenticate': 'Bearer' } });
export const conflict = (detail: string) => new ProblemError('conflict', 409, detail);
