import { findSecrets, replaceFindings } from '../redact/index.ts';

/**
 * Field names that hold a secret wherever they appear in a log object: the
 * secret fields of the request and response schemas (passwords, one-time
 * tokens, API keys, webhook and SSO shared secrets, MFA seeds) and the
 * credential headers. test/observability/log-redaction.test.ts walks every
 * route schema and fails on a secret-named property missing here.
 */
export const SECRET_FIELDS = [
  'password', 'newPassword', 'currentPassword', 'oldPassword', 'passphrase',
  'token', 'accessToken', 'refreshToken', 'idToken', 'bearer', 'otp', 'totp', 'recoveryCode', 'recoveryCodes',
  'secret', 'clientSecret', 'sharedSecret', 'signingSecret', 'previousSecret', 'otpauthUri',
  'apiKey', 'api_key', 'privateKey', 'key', 'sso', 'sig',
  'authorization', 'cookie', 'set-cookie', 'x-api-key',
] as const;

/** A schema property whose name says it carries a secret (the same words as kernel/redact's secret-assignment rule). */
export const SECRET_NAME = /^(?:password|newpassword|currentpassword|oldpassword|passphrase|token|accesstoken|refreshtoken|idtoken|secret|clientsecret|sharedsecret|signingsecret|previoussecret|apikey|api_key|privatekey|otpauthuri|recoverycodes?|authorization|cookie)$/i;

const ident = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const seg = (name: string) => (ident.test(name) ? `.${name}` : `["${name}"]`);

/**
 * pino (fast-redact) paths: each secret field at the top level and up to three
 * levels deep (`err.details.token`), and the credential headers of any object
 * that carries headers.
 */
export function redactPaths(): string[] {
  const out = new Set<string>();
  for (const f of SECRET_FIELDS) {
    const s = seg(f);
    out.add(s.startsWith('.') ? s.slice(1) : s);
    out.add(`*${s}`);
    out.add(`*.*${s}`);
    out.add(`*.*.*${s}`);
  }
  return [...out];
}

/**
 * The second wall: strings of a log line are masked by kernel/redact's secret
 * rules (tokens `ocs_…`, `whsec_…`, JWTs, bearer values, `password=…`), so a
 * secret that reaches a message or an unlisted field still does not reach the log.
 */
export function maskSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    if (value.length < 8) return value;
    const findings = findSecrets(value);
    return findings.length === 0 ? value : replaceFindings(value, findings, (f) => `[redacted:${f.kind}]`);
  }
  if (depth >= 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, depth + 1));
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  if (value instanceof Error) {
    // What the err serializer keeps of an error, masked (driver extras such as `params` are not copied).
    const e = value as Error & { code?: unknown };
    return { type: e.name, message: maskSecrets(e.message, depth + 1), stack: maskSecrets(e.stack, depth + 1), ...(e.code !== undefined ? { code: e.code } : {}) };
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = maskSecrets(v, depth + 1);
  return out;
}
