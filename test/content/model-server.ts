import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedCall {
  authorization: string | undefined;
  body: { model: string; messages: Array<{ role: string; content: string }>; max_tokens: number };
  raw: string;
}

/**
 * A local OpenAI-compatible server (node:http speaking POST /v1/chat/completions):
 * it records every request and answers with what `reply` returns for it.
 */
export async function startModelServer(reply: (call: CapturedCall) => { status?: number; content?: string; delayMs?: number; raw?: string; usage?: { prompt_tokens: number; completion_tokens: number } } = () => ({ content: 'ok' })) {
  const calls: CapturedCall[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end();
        return;
      }
      const call: CapturedCall = { authorization: req.headers.authorization, body: JSON.parse(raw), raw };
      calls.push(call);
      const r = reply(call);
      const send = () => {
        if (res.destroyed) return;
        if (r.raw !== undefined) {
          res.writeHead(r.status ?? 200, { 'content-type': 'application/json' }).end(r.raw);
          return;
        }
        res.writeHead(r.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify({
          id: 'cmpl-1', object: 'chat.completion', model: call.body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: r.content ?? '' }, finish_reason: 'stop' }],
          usage: r.usage ?? { prompt_tokens: Math.ceil(raw.length / 4), completion_tokens: Math.ceil((r.content ?? '').length / 4) },
        }));
      };
      if (r.delayMs) setTimeout(send, r.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    calls,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** What the guard opens for tests: the loopback receiver, over http. */
export const LOCAL_EGRESS = { OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32', OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1' };
