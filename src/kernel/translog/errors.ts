// Every failure in the transparency log core is a TranslogError with a stable
// string `code`; messages are for operators, codes are for programs.

export type TranslogErrorCode =
  | 'ERR_TRANSLOG_INVALID_ARGUMENT'
  | 'ERR_TRANSLOG_NODE_MISSING'
  | 'ERR_TRANSLOG_NODE_CONFLICT'
  | 'ERR_TRANSLOG_PROOF_INVALID'
  | 'ERR_TRANSLOG_CHECKPOINT_MALFORMED'
  | 'ERR_TRANSLOG_CHECKPOINT_UNVERIFIED'
  | 'ERR_TRANSLOG_SIGNATURE_INVALID'
  | 'ERR_TRANSLOG_KEY_INVALID'
  | 'ERR_TRANSLOG_KEY_RETIRED';

export class TranslogError extends Error {
  readonly code: TranslogErrorCode;

  constructor(code: TranslogErrorCode, message: string) {
    super(message);
    this.name = 'TranslogError';
    this.code = code;
  }
}
