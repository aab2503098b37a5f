import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { EgressFailedError } from './errors.ts';
import type { EgressTarget } from './target.ts';

export interface EgressRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Bound on the whole exchange, connect to last byte (default 10 s). */
  timeoutMs?: number;
  /** Responses larger than this fail with `too-large` (default 1 MiB). */
  maxResponseBytes?: number;
}

export interface EgressResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The address the request was sent to (what was checked). */
  address: string;
}

/**
 * Sends one request to an address already checked. The socket connects to that
 * address (a lookup function that answers it), so a second DNS answer cannot
 * rebind the name to an internal one; TLS still verifies the certificate
 * against the host name. Redirects are returned, never followed.
 */
export function sendPinned(target: EgressTarget, pinned: { address: string; family: 4 | 6 }, req: EgressRequest): Promise<EgressResponse> {
  const timeoutMs = req.timeoutMs ?? 10_000;
  const maxBytes = req.maxResponseBytes ?? 1_048_576;
  const lookup: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const transport = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = transport.request(
      {
        method: req.method ?? 'POST',
        host: target.host,
        port: target.port,
        path: `${target.url.pathname}${target.url.search}`,
        headers: { ...(req.body !== undefined ? { 'content-length': String(Buffer.byteLength(req.body)) } : {}), ...req.headers },
        lookup,
        agent: false,
        ...(target.url.protocol === 'https:' ? { servername: target.host } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            outgoing.destroy(new EgressFailedError('too-large', `the response exceeded ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), address: pinned.address });
        });
        res.on('error', fail);
      },
    );
    const timer = setTimeout(() => outgoing.destroy(new EgressFailedError('timeout', `no complete answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: unknown) {
      clearTimeout(timer);
      if (err instanceof EgressFailedError) reject(err);
      else reject(new EgressFailedError(isProtocolError(err) ? 'protocol' : 'connect', 'the target could not be reached'));
    }
    outgoing.on('error', fail);
    outgoing.end(req.body);
  });
}

const isProtocolError = (err: unknown) => typeof (err as { code?: unknown })?.code === 'string' && String((err as { code: string }).code).startsWith('HPE_');
