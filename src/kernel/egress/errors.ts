import { KernelError } from '../errors.ts';

export type EgressRefusal = 'scheme' | 'credentials' | 'port' | 'address' | 'dns' | 'redirect';
export type EgressFailure = 'timeout' | 'connect' | 'too-large' | 'protocol';

/** The target is not one the platform reaches (SSRF guard): a client error when a URL is configured. */
export class EgressRefusedError extends KernelError {
  readonly reason: EgressRefusal;
  constructor(reason: EgressRefusal, detail: string) {
    super('egress-refused', detail, { extensions: { reason } });
    this.name = 'EgressRefusedError';
    this.reason = reason;
  }
}

/** The target was allowed but the exchange did not complete. */
export class EgressFailedError extends KernelError {
  readonly reason: EgressFailure;
  constructor(reason: EgressFailure, detail: string) {
    super('egress-failed', detail, { extensions: { reason } });
    this.name = 'EgressFailedError';
    this.reason = reason;
  }
}
