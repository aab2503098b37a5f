import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths pino censors wherever they appear; our request log never includes headers or bodies anyway. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.secret',
  '*.authorization',
  '*.cookie',
];

/**
 * Database drivers attach the failed statement to their errors (PGlite: `query`
 * and `params`), and parameters hold ciphertext, fingerprints and request
 * values: an error is logged without them, wherever it is logged.
 */
const STATEMENT_FIELDS = ['query', 'params', 'parameters', 'values'];

function errWithoutStatement(err: unknown) {
  if (typeof err !== 'object' || err === null) return err;
  // A copy: the serializer may hand back the caller's own object.
  const out = { ...(pino.stdSerializers.err(err as Error) as object) } as Record<string, unknown>;
  for (const field of STATEMENT_FIELDS) delete out[field];
  return out;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'ocsuite' },
    serializers: { err: errWithoutStatement },
  }, destination);
}
