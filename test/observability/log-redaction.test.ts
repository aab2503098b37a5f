import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/kernel/telemetry/logger.ts';
import { SECRET_FIELDS } from '../../src/kernel/telemetry/log-redaction.ts';
import { startApp, type TestApp } from '../support/app.ts';
import { runSession, type Session } from './session.ts';

/** Issue #17 item 4: the app's log stream of a scripted session holds none of the secrets it created. */
let t: TestApp;
let session: Session;

beforeAll(async () => {
  t = await startApp({ LOG_LEVEL: 'debug', OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32', OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1' });
  session = await runSession(t);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

/** A schema that can hold text (a string, or a union or array with one): counts like `maxTokens` cannot carry a secret. */
function holdsText(schema: unknown): boolean {
  if (!schema || typeof schema !== 'object') return false;
  const s = schema as Record<string, unknown>;
  if (s.type === 'string' || (Array.isArray(s.type) && s.type.includes('string'))) return true;
  if (s.type === 'array') return holdsText(s.items);
  return ['anyOf', 'oneOf', 'allOf'].some((k) => Array.isArray(s[k]) && (s[k] as unknown[]).some(holdsText));
}

/** Names of the text-holding properties of every request and response schema of the OpenAPI document. */
function propertyNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const n of node) propertyNames(n, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o.properties && typeof o.properties === 'object') {
      for (const [k, v] of Object.entries(o.properties as Record<string, unknown>)) if (holdsText(v)) out.add(k);
    }
    for (const v of Object.values(o)) propertyNames(v, out);
  }
  return out;
}

describe('log redaction', () => {
  it('the session logged, and no line holds any secret or token it created', () => {
    const lines = t.logs.join('').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(15);
    expect(lines.some((l) => l.includes('"route":"/api/v1/auth/login"'))).toBe(true);
    const secrets = Object.entries(session.secrets);
    expect(secrets.length).toBeGreaterThan(12);
    for (const line of lines) {
      for (const [name, value] of secrets) expect(line.includes(value), `${name} in ${line.slice(0, 300)}`).toBe(false);
      expect(line).not.toMatch(/\?(token|access_token|secret|key)=/);
    }
  });

  it('covers every secret-named field of the route schemas (request bodies and answers)', () => {
    const names = [...propertyNames(t.app.swagger())];
    const secretish = names.filter((n) => /password|secret|token|apikey|api_key|authorization|cookie|privatekey|passphrase|otpauth|recoverycode/i.test(n)
      && !/(Fingerprint|LastFour|ExpiresAt|UpdatedAt|At|Quota|Type|Id|Ids|Count|Expires|Ttl|Pattern|Prefix|Hint|Url|Set|Required|Seconds|Days|Version|Name)$/.test(n));
    expect(secretish.length).toBeGreaterThan(3);
    const listed = new Set<string>(SECRET_FIELDS);
    expect(secretish.filter((n) => !listed.has(n))).toEqual([]);
  });

  it('censors listed fields at any depth, credential headers, and secrets inside strings', () => {
    const lines: string[] = [];
    const log = createLogger('info', new Writable({ write(c, _e, done) { lines.push(String(c)); done(); } }) as never);
    const token = `ocs_rt_${'a1B2'.repeat(8)}`;
    const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
    log.info({ password: 'p-1-secret-value', body: { refreshToken: 'p-2-secret-value', deeper: { more: { apiKey: 'p-3-secret-value' } } },
      req: { headers: { authorization: 'Bearer p-4-secret-value', cookie: 'sid=p-5-secret-value', 'x-api-key': 'p-6-secret-value' } },
      note: `retrying with ${token}`, err: Object.assign(new Error(`upstream said ${jwt}`), { params: ['p-7-secret-value'] }) }, `login for password=p-8-secret-value`);
    const out = lines.join('');
    for (let i = 1; i <= 8; i++) expect(out).not.toContain(`p-${i}-secret-value`);
    expect(out).not.toContain(token);
    expect(out).not.toContain(jwt);
    expect(out).toContain('[redacted]');
    expect(out).toContain('[redacted:ocsuite-token]');
    expect(out).toContain('"type":"Error"');
  });
});
