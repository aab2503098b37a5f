export type AuditErrorCode = 'ERR_AUDIT_INVALID' | 'ERR_AUDIT_LOG_CORRUPT' | 'ERR_AUDIT_KEY';

export class AuditError extends Error {
  readonly code: AuditErrorCode;

  constructor(code: AuditErrorCode, message: string) {
    super(message);
    this.name = 'AuditError';
    this.code = code;
  }
}
