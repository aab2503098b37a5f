import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { buildServer } from '../../src/server.ts';
import { json, PASSWORD, signup, startApp, type TestApp } from '../support/app.ts';

/**
 * Issue #20 §2: X-Forwarded-For is read only from the configured proxies, right to
 * left, stopping at the first untrusted hop. The client IP it yields is the one of
 * the access log, the sessions (audit, lock-out) and the per-IP rate limit.
 */
let t: TestApp;
const servers: Record<'none' | 'elsewhere' | 'ours', FastifyInstance> = {} as never;
const BUDGET = 4;

beforeAll(async () => {
  t = await startApp({ OCSUITE_ACCESS_LOG_FLUSH_MS: '60000' });
  // One platform, three request paths: without the setting, trusting other ranges only, trusting ours.
  const withProxies = (trustedProxies: string[], extra: Partial<TestApp['platform']['config']> = {}) =>
    buildServer({ ...t.platform, config: { ...t.platform.config, trustedProxies, ...extra } });
  servers.none = await withProxies([], { rateLimitPerMinute: BUDGET });
  servers.elsewhere = await withProxies(['10.0.0.0/8']);
  servers.ours = await withProxies(['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8'], { rateLimitPerMinute: BUDGET });
});
afterAll(async () => {
  for (const s of Object.values(servers)) await s?.close();
  await t?.close();
});

async function loggedIp(server: FastifyInstance, requestId: string): Promise<string | null> {
  await server.accessLog!.flush();
  const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ ip: string | null }>(sql`
    SELECT ip FROM platform_access_logs WHERE request_id = ${requestId} UNION ALL SELECT ip FROM access_logs WHERE request_id = ${requestId}`));
  return row?.ip ?? null;
}

const cases: Array<{ name: string; server: keyof typeof servers; peer: string; xff?: string; client: string }> = [
  { name: 'no setting: a spoofed header is ignored', server: 'none', peer: '192.0.2.50', xff: '203.0.113.7', client: '192.0.2.50' },
  { name: 'untrusted peer: its header is ignored', server: 'elsewhere', peer: '192.0.2.50', xff: '203.0.113.7', client: '192.0.2.50' },
  { name: 'untrusted peer claiming to be a trusted hop', server: 'ours', peer: '192.0.2.50', xff: '203.0.113.7, 10.0.0.9', client: '192.0.2.50' },
  { name: 'one trusted proxy: the address it saw', server: 'ours', peer: '10.0.0.5', xff: '203.0.113.7', client: '203.0.113.7' },
  { name: 'chain of trusted proxies: right to left to the first untrusted hop', server: 'ours', peer: '10.0.0.5', xff: '198.51.100.66, 203.0.113.7, 10.1.2.3, 10.0.0.4', client: '203.0.113.7' },
  { name: 'a client-supplied prefix left of the real client is never read', server: 'ours', peer: '10.0.0.5', xff: '10.9.9.9, 203.0.113.8', client: '203.0.113.8' },
  { name: 'IPv6 proxy and client', server: 'ours', peer: 'fd00::1', xff: '2001:db8::42', client: '2001:db8::42' },
  { name: 'trusted proxy without the header: the proxy is the client', server: 'ours', peer: '10.0.0.5', client: '10.0.0.5' },
];

describe('client IP behind proxies', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const res = await servers[c.server].inject({ method: 'GET', url: '/healthz', remoteAddress: c.peer, headers: c.xff ? { 'x-forwarded-for': c.xff } : {} });
      expect(res.statusCode).toBe(200);
      expect(await loggedIp(servers[c.server], String(res.headers['x-request-id']))).toBe(c.client);
    });
  }

  it('over real HTTP: the session records the forwarded client only through a trusted proxy', async () => {
    const owner = await signup(t.app);
    const ips: Record<string, string> = {};
    for (const name of ['none', 'ours'] as const) {
      const s = servers[name];
      if (!s.server.listening) await s.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
      const login = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.99' },
        body: JSON.stringify({ email: owner.email, password: PASSWORD, tenant: owner.tenantId }),
      });
      expect(login.status).toBe(200);
      const { accessToken } = (await login.json()) as { accessToken: string };
      const list = await fetch(`${base}/api/v1/sessions`, { headers: { authorization: `Bearer ${accessToken}` } });
      const body = (await list.json()) as { items: Array<{ current: boolean; ip: string }> };
      ips[name] = body.items.find((x) => x.current)!.ip;
    }
    expect(ips).toEqual({ none: '127.0.0.1', ours: '203.0.113.99' });
  });

  it('without trusted proxies, rotating X-Forwarded-For does not escape the per-IP budget', async () => {
    const codes = [];
    for (let i = 0; i < BUDGET + 2; i++) {
      codes.push((await servers.none.inject({ method: 'GET', url: `/nothing/${i}`, remoteAddress: '192.0.2.77', headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } })).statusCode);
    }
    expect(codes).toEqual([...Array(BUDGET).fill(404), 429, 429]);
  });

  it('behind a trusted proxy, each forwarded client has its own budget and the proxy none', async () => {
    const hit = (client: string) => servers.ours.inject({ method: 'GET', url: '/nothing', remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': client } });
    const a = [];
    for (let i = 0; i < BUDGET + 1; i++) a.push((await hit('203.0.113.50')).statusCode);
    expect(a).toEqual([...Array(BUDGET).fill(404), 429]);
    // Another client behind the same proxy is unaffected by the first one's exhaustion.
    expect((await hit('203.0.113.51')).statusCode).toBe(404);
    expect(json((await hit('203.0.113.50'))).code).toBe('OCS_RATE_LIMITED');
  });
});
