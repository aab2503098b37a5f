import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A real HTTP receiver on 127.0.0.1: it records every request and answers with
 * the status its script says for that path (then 200), optionally echoing the
 * request back (to prove the delivery log does not keep what it echoes).
 */
export async function startReceiver() {
  const received: Received[] = [];
  const scripts = new Map<string, number[]>();
  const always = new Map<string, number>();
  const echo = new Set<string>();
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ path, headers: req.headers, body });
      const status = scripts.get(path)?.shift() ?? always.get(path) ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(echo.has(path) ? `echo ${JSON.stringify(req.headers)} ${body}` : `ok ${status}`);
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received,
    at: (path: string) => received.filter((r) => r.path === path),
    /** Answers these statuses in turn on `path`, then 200. */
    script: (path: string, statuses: number[]) => scripts.set(path, [...statuses]),
    alwaysAnswer: (path: string, status: number) => always.set(path, status),
    echo: (path: string) => echo.add(path),
    /** Resolves once `path` has received `count` requests (bounded by `ms`). */
    async waitFor(path: string, count: number, ms = 20_000): Promise<Received[]> {
      const deadline = Date.now() + ms;
      while (received.filter((r) => r.path === path).length < count) {
        if (Date.now() > deadline) throw new Error(`receiver: ${path} got ${received.filter((r) => r.path === path).length} of ${count} requests`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
      return received.filter((r) => r.path === path);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Polls `fn` until it returns a value that is not undefined (bounded). */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 150));
  }
}
