/**
 * Coded errors of the kernel. The kernel says *what* went wrong with a stable
 * kind; it never knows about HTTP. `http/problem.ts` maps every kind to its
 * status and RFC 9457 problem type in one table, and modules (which sit above
 * http) may raise problems directly.
 */
export type ErrorKind =
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
  | 'role-in-use'
  | 'last-owner'
  | 'mfa-required'
  | 'step-up-required'
  | 'locked-out'
  | 'refresh-race'
  | 'service-unavailable'
  | 'insufficient-storage'
  | 'queue-full'
  | 'request-timeout'
  | 'idempotency-key-reused'
  | 'idempotency-key-in-flight'
  | 'egress-refused'
  | 'egress-failed'
  | 'internal';

export interface KernelErrorOptions {
  /** Fields a client may act on (e.g. which permissions were missing); never internal state. */
  extensions?: Record<string, unknown>;
  /** When retrying can help: seconds to wait (Retry-After on HTTP). */
  retryAfterSeconds?: number;
}

export class KernelError extends Error {
  readonly kind: ErrorKind;
  readonly detail: string | undefined;
  readonly extensions: Record<string, unknown> | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(kind: ErrorKind, detail?: string, options: KernelErrorOptions = {}) {
    super(detail ?? kind);
    this.name = 'KernelError';
    this.kind = kind;
    this.detail = detail;
    this.extensions = options.extensions;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Stable for clients: `OCS_ROLE_ESCALATION`. */
  get code(): string {
    return `OCS_${this.kind.toUpperCase().replaceAll('-', '_')}`;
  }
}

export const isKernelError = (err: unknown, kind?: ErrorKind): err is KernelError =>
  err instanceof KernelError && (kind === undefined || err.kind === kind);
