import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createEgress, EgressFailedError, EgressRefusedError } from '../../src/kernel/egress/index.ts';

/** The SSRF guard against real sockets: a receiver on loopback that the default policy must never reach. */
let server: Server;
let port: number;
const hits: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/redirect') return void res.writeHead(302, { location: `http://127.0.0.1:${port}/internal` }).end();
      if (req.url === '/silent') return; // never answers
      if (req.url === '/big') return void res.end(Buffer.alloc(64 * 1024, 'x'));
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`got ${req.method} ${body}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const strict = createEgress({ allowCidrs: [], allowHttpHosts: [] });
const local = () => createEgress({ allowCidrs: ['127.0.0.1/32', '::1'], allowHttpHosts: ['127.0.0.1', 'localhost'] });

async function refusal(url: string, egress = strict): Promise<string> {
  const before = hits.length;
  const err = await egress.request(url).then(() => undefined, (e: unknown) => e);
  expect(hits.length).toBe(before);
  expect(err).toBeInstanceOf(EgressRefusedError);
  return (err as EgressRefusedError).reason;
}

describe('egress guard: targets refused before any byte is sent', () => {
  it('refuses plain http unless the host is allowed, and non-http schemes', async () => {
    expect(await refusal('http://example.com/hook')).toBe('scheme');
    expect(await refusal('ftp://example.com/x')).toBe('scheme');
    expect(await refusal('file:///etc/passwd')).toBe('scheme');
    expect(await refusal('not a url')).toBe('scheme');
  });

  it('refuses credentials in the URL and service ports', async () => {
    expect(await refusal('https://user:pw@example.com/')).toBe('credentials');
    expect(await refusal('https://example.com:22/')).toBe('port');
    expect(await refusal('https://example.com:25/')).toBe('port');
  });

  it.each([
    'https://127.0.0.1/', 'https://127.1.2.3/', 'https://0.0.0.0/', 'https://10.0.0.1/', 'https://172.16.5.4/', 'https://192.168.1.1/',
    'https://169.254.169.254/latest/meta-data/', 'https://100.64.0.1/', 'https://224.0.0.1/', 'https://255.255.255.255/',
    'https://[::1]/', 'https://[::]/', 'https://[::ffff:127.0.0.1]/', 'https://[::ffff:7f00:1]/', 'https://[fd00::1]/', 'https://[fe80::1]/',
    'https://[2002:7f00:1::1]/', 'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', 'https://[64:ff9b::7f00:1]/',
    // WHATWG URL turns these into 127.0.0.1: the guard must see the same address the socket would.
    'https://2130706433/', 'https://0177.0.0.1/', 'https://0x7f.1/', 'https://127.1/',
  ])('refuses the non-public address %s', async (url) => {
    expect(await refusal(url)).toBe('address');
  });

  it('refuses a name that resolves to loopback (localhost) and a name that does not resolve', async () => {
    expect(await refusal(`https://localhost:${port}/`)).toBe('address');
    expect(await refusal('https://does-not-exist.invalid/')).toBe('dns');
  });

  it('check() refuses the same targets without sending', async () => {
    await expect(strict.check('https://169.254.169.254/')).rejects.toBeInstanceOf(EgressRefusedError);
    await expect(strict.check(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ reason: 'scheme' });
    await expect(local().check(`http://127.0.0.1:${port}/`)).resolves.toBeUndefined();
  });

  it('an allowed range opens only that range', async () => {
    const egress = createEgress({ allowCidrs: ['127.0.0.1/32'], allowHttpHosts: ['127.0.0.2', '10.0.0.1'] });
    expect(await refusal('http://10.0.0.1/', egress)).toBe('address');
    expect(await refusal('http://127.0.0.2/', egress)).toBe('address');
  });
});

describe('egress guard: requests to allowed targets', () => {
  it('sends to the checked address and returns the answer', async () => {
    const res = await local().request(`http://127.0.0.1:${port}/hook?x=1`, { body: 'payload', headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('got POST payload');
    expect(res.address).toBe('127.0.0.1');
    expect(hits.at(-1)).toBe('/hook?x=1');
  });

  it('connects to the address the name was checked against (localhost allowed explicitly)', async () => {
    const res = await local().request(`http://localhost:${port}/named`, { method: 'GET' });
    expect(res.status).toBe(200);
    expect(['127.0.0.1', '::1']).toContain(res.address);
  });

  it('returns a redirect instead of following it', async () => {
    const before = hits.length;
    const res = await local().request(`http://127.0.0.1:${port}/redirect`);
    expect(res.status).toBe(302);
    expect(hits.slice(before)).toEqual(['/redirect']);
  });

  it('bounds the exchange in time and in size', async () => {
    await expect(local().request(`http://127.0.0.1:${port}/silent`, { timeoutMs: 300 })).rejects.toMatchObject({ reason: 'timeout' });
    const err = await local().request(`http://127.0.0.1:${port}/big`, { maxResponseBytes: 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressFailedError);
    expect((err as EgressFailedError).reason).toBe('too-large');
  });

  it('reports a closed port as a connect failure', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closed = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    await expect(local().request(`http://127.0.0.1:${closed}/`)).rejects.toMatchObject({ reason: 'connect' });
  });
});

describe('egress configuration', () => {
  it('reads the allow lists and refuses a malformed range', () => {
    const config = loadConfig({ OCSUITE_EGRESS_ALLOW_CIDRS: '10.1.2.0/24, fd00::/8', OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: 'n8n.internal' });
    expect(config.egressAllowCidrs).toEqual(['10.1.2.0/24', 'fd00::/8']);
    expect(config.egressAllowHttpHosts).toEqual(['n8n.internal']);
    expect(() => loadConfig({ OCSUITE_EGRESS_ALLOW_CIDRS: '10.1.2.0/99' })).toThrow(/OCSUITE_EGRESS_ALLOW_CIDRS/);
  });
});
