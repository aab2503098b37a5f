// RFC 9457 problem details. `type` is a stable URN per problem kind; nothing
// internal (stack, SQL, ids of other tenants) ever goes into a problem body.

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export type ProblemKind =
  | 'validation-failed'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'rate-limited'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'tenant-required'
  | 'signup-disabled'
  | 'invalid-credentials'
  | 'invalid-token'
  | 'role-escalation'
  | 'last-owner'
  | 'mfa-required'
  | 'step-up-required'
  | 'locked-out'
  | 'refresh-race'
  | 'service-unavailable'
  | 'queue-full'
  | 'request-timeout'
  | 'internal';

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
  'last-owner': 'A tenant must keep at least one owner',
  'mfa-required': 'Multi-factor authentication is required',
  'step-up-required': 'Confirm with your second factor',
  'locked-out': 'Temporarily locked after repeated failures',
  'refresh-race': 'Refresh token already rotated moments ago',
  'service-unavailable': 'Service unavailable',
  'queue-full': 'Job queue at capacity',
  'request-timeout': 'Request timeout',
  internal: 'Internal server error',
};

export function problemType(kind: ProblemKind): string {
  return `urn:ocsuite:problem:${kind}`;
}

/** An error that becomes a problem+json response; `code` is stable for clients. */
export class ProblemError extends Error {
  readonly kind: ProblemKind;
  readonly status: number;
  readonly detail: string | undefined;
  readonly extensions: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    kind: ProblemKind,
    status: number,
    detail?: string,
    options?: { extensions?: Record<string, unknown>; headers?: Record<string, string> },
  ) {
    super(detail ?? titles[kind]);
    this.name = 'ProblemError';
    this.kind = kind;
    this.status = status;
    this.detail = detail;
    this.extensions = options?.extensions;
    this.headers = options?.headers;
  }

  get code(): string {
    return `OCS_${this.kind.toUpperCase().replaceAll('-', '_')}`;
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
