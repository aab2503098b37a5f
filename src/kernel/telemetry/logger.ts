import pino, { type DestinationStream, type Logger } from 'pino';
import { maskSecrets, redactPaths } from './log-redaction.ts';

/**
 * Paths pino censors wherever they appear: the secret fields of the schemas and
 * the credential headers (log-redaction.ts). Our request log never includes
 * headers or bodies anyway; this is the wall behind that habit.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  ...redactPaths(),
];

/**
 * Database drivers attach the failed statement to their errors (PGlite: `query`
 * and `params`), and parameters hold ciphertext, fingerprints and request
 * values: an error is logged without them, wherever it is logged.
 */
const STATEMENT_FIELDS = ['query', 'params', 'parameters', 'values'];

function errWithoutStatement(err: unknown) {
  if (typeof err !== 'object' || err === null) return err;
  // A copy: the serializer may hand back the caller's own object. An Error arrives already
  // turned into { type, message, stack, code } by maskSecrets (the log formatter runs first).
  const out = { ...(err instanceof Error ? pino.stdSerializers.err(err) as object : err) } as Record<string, unknown>;
  for (const field of STATEMENT_FIELDS) delete out[field];
  return out;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'ocsuite' },
    serializers: { err: errWithoutStatement },
    // Strings that still carry a secret (a token in an error message) are masked by kernel/redact's rules.
    formatters: { log: (obj) => maskSecrets(obj) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? maskSecrets(a) : a)) as Parameters<typeof method>);
      },
    },
  }, destination);
}
