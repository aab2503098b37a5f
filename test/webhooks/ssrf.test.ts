import dns from 'node:dns';
import { syncBuiltinESMExports } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { eventually, startReceiver } from './receiver.ts';

/**
 * SSRF: endpoint URLs pass the egress guard when they are registered or
 * changed, and again at every delivery. The app runs WITHOUT an address
 * allowlist but with plain http allowed for the loopback names, so a guard that
 * let one through would reach the real receiver listening on 127.0.0.1 — which
 * must see nothing.
 */
let t: TestApp;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let A: Account;

// The resolver the guard uses (node:dns/promises), answering chosen names as a DNS server would.
const fakeAnswers = new Map<string, string[]>();
const realLookup = dns.promises.lookup;
function installResolver() {
  dns.promises.lookup = (async (host: string, options?: unknown) => {
    const answers = fakeAnswers.get(host);
    if (!answers) return (realLookup as (h: string, o?: unknown) => Promise<unknown>)(host, options);
    const all = answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    return (options as { all?: boolean } | undefined)?.all ? all : all[0];
  }) as typeof dns.promises.lookup;
  syncBuiltinESMExports();
}

const api = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1/webhooks${url}`, headers: bearer(A), ...(payload ? { payload } : {}) });

beforeAll(async () => {
  installResolver();
  rx = await startReceiver();
  t = await startApp({ OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1,localhost,rebind.example,mixed.example', OCSUITE_WEBHOOK_RETRY_SCHEDULE: '0' });
  A = await signup(t.app, 'SSRF tenant');
});

afterAll(async () => {
  dns.promises.lookup = realLookup;
  syncBuiltinESMExports();
  await t?.close();
  await rx?.close();
});

describe('at registration', () => {
  it('refuses every internal target with a 400 egress-refused problem and stores nothing', async () => {
    const p = rx.port;
    fakeAnswers.set('mixed.example', ['1.1.1.1', '10.0.0.7']);
    const targets: Record<string, string> = {
      loopback: `http://127.0.0.1:${p}/hook`,
      'loopback over https': `https://127.0.0.1:${p}/hook`,
      'private 10/8': 'https://10.0.0.1/hook',
      'private 192.168/16': 'https://192.168.1.1/hook',
      'cloud metadata': 'https://169.254.169.254/latest/meta-data/',
      'AWS IPv6 metadata': 'https://[fd00:ec2::254]/latest/meta-data/',
      'IPv6 loopback': `https://[::1]:${p}/hook`,
      'IPv4-mapped IPv6 loopback': `https://[::ffff:127.0.0.1]:${p}/hook`,
      'hex IPv4': `http://0x7f000001:${p}/hook`,
      'decimal IPv4': `http://2130706433:${p}/hook`,
      'octal IPv4': `http://0177.0.0.1:${p}/hook`,
      'unspecified': `https://0.0.0.0:${p}/hook`,
      'CGNAT': 'https://100.64.0.1/hook',
      'name resolving to loopback': `http://localhost:${p}/hook`,
      'name resolving public and private': `http://mixed.example:${p}/hook`,
      'plain http to a public host': 'http://1.1.1.1/hook',
      'credentials in the URL': 'https://user:pass@1.1.1.1/hook',
      'SSH port': 'https://1.1.1.1:22/hook',
    };
    for (const [name, url] of Object.entries(targets)) {
      const res = await api('POST', '/endpoints', { url, eventTypes: ['webhooks.test'] });
      expect(res.statusCode, `${name}: ${url} → ${res.body}`).toBe(400);
      expect(json(res).type, name).toBe('urn:ocsuite:problem:egress-refused');
      expect(json(res).secret, name).toBeUndefined();
    }
    expect(json(await api('GET', '/endpoints')).items).toEqual([]);
    expect(rx.received).toEqual([]);
  });

  it('refuses changing an endpoint to an internal URL, and leaves it as it was', async () => {
    fakeAnswers.set('rebind.example', ['1.1.1.1']);
    const e = json(await api('POST', '/endpoints', { url: 'https://rebind.example/ok', eventTypes: ['webhooks.test'] }));
    expect(e.id).toBeTypeOf('string');
    const res = await api('PATCH', `/endpoints/${e.id}`, { url: 'https://169.254.169.254/latest/meta-data/' });
    expect(res.statusCode).toBe(400);
    expect(json(res).type).toBe('urn:ocsuite:problem:egress-refused');
    expect(json(await api('GET', `/endpoints/${e.id}`)).url).toBe('https://rebind.example/ok');
  });
});

describe('at delivery', () => {
  it('refuses a name that resolved public at registration and resolves to loopback at delivery: nothing is sent', async () => {
    fakeAnswers.set('rebind.example', ['1.1.1.1']);
    const e = json(await api('POST', '/endpoints', { url: `http://rebind.example:${rx.port}/rebound`, eventTypes: ['webhooks.test'] }));
    expect(e.id, JSON.stringify(e)).toBeTypeOf('string');
    // The DNS answer changes behind the platform's back.
    fakeAnswers.set('rebind.example', ['127.0.0.1']);
    const sent = json(await api('POST', `/endpoints/${e.id}/test`));
    const d = await eventually(async () => {
      const x = json(await api('GET', `/deliveries/${sent.deliveryId}`));
      return x.status === 'pending' ? undefined : x;
    });
    expect(d.status).toBe('dead');
    expect(d.attemptLog).toHaveLength(1);
    expect(d.attemptLog[0]).toMatchObject({ responseStatus: null, error: 'refused: address' });
    expect(rx.received).toEqual([]);
  });
});
