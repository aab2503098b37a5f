import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Transform } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { rawAccessLine } from './access-log.ts';
import { PROBLEM_CONTENT_TYPE, ProblemError } from './problem.ts';

/**
 * Slow clients (slowloris, slow POST, idle keep-alive): `OCSUITE_REQUEST_TIMEOUT_MS`
 * bounds receiving a whole request, headers and body, for every client.
 *
 * - Headers: Node's `headersTimeout`, checked every CHECK_INTERVAL_MS (Node's default
 *   is every 30 s, which is how a 10 s timeout became 60–90 s in practice).
 * - Body: a deadline on the body stream (preParsing), so the 408 is a normal Fastify
 *   answer — problem+json, rate-limited, access-logged; Node's `requestTimeout` a
 *   little later is the backstop for anything the deadline did not cover.
 * - A response sent before the body arrived closes the connection, so a client
 *   cannot keep the socket by never finishing a body nobody will read.
 * - Idle keep-alive connections close on their own, shorter timer.
 */
export const CHECK_INTERVAL_MS = 250;
const BACKSTOP_MS = 500;

export function serverTimeouts(limits: { requestTimeoutMs: number; keepAliveTimeoutMs: number }) {
  const t = limits.requestTimeoutMs;
  return {
    requestTimeout: t + BACKSTOP_MS,
    keepAliveTimeout: Math.min(limits.keepAliveTimeoutMs, t),
    // Socket inactivity: a backstop far behind the request bounds (a handler is bounded by statement_timeout).
    connectionTimeout: t * 2 + BACKSTOP_MS,
    http: { headersTimeout: t, requestTimeout: t + BACKSTOP_MS, connectionsCheckingInterval: CHECK_INTERVAL_MS },
  } as const;
}

const timeoutProblem = () => new ProblemError('request-timeout', 408, 'The request was not received in time.');

const expectsBody = (request: FastifyRequest) => {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
};

/** A pass-through of the body that fails with 408 once the deadline passes before its end. */
function bodyWithDeadline(payload: NodeJS.ReadableStream, response: NodeJS.EventEmitter, ms: number): Transform {
  const guarded = new Transform({ transform: (chunk, _enc, done) => done(null, chunk) });
  const timer = setTimeout(() => {
    guarded.destroy(Object.assign(timeoutProblem(), { statusCode: 408 }));
  }, Math.max(0, ms));
  const stop = () => clearTimeout(timer);
  guarded.once('end', stop);
  guarded.once('close', stop);
  // Answered without reading the body (415, 401…): the deadline has nothing left to guard.
  response.once('finish', stop);
  response.once('close', stop);
  // The body reader listens for errors while it reads; after that a late one must not crash the process.
  guarded.on('error', () => {});
  payload.once('error', (err) => guarded.destroy(err));
  payload.pipe(guarded);
  return guarded;
}

export function registerSlowClientGuards(app: FastifyInstance, requestTimeoutMs: number): void {
  app.decorateRequest('receivedAt', 0);
  app.addHook('onRequest', (request, _reply, done) => {
    request.receivedAt = Date.now();
    done();
  });
  app.addHook('preParsing', (request, reply, payload, done) => {
    // Most bodies arrive with their headers: nothing to guard.
    if (request.raw.complete || !expectsBody(request)) return done(null, payload);
    done(null, bodyWithDeadline(payload, reply.raw, requestTimeoutMs - (Date.now() - request.receivedAt)));
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    // Answered before the body finished arriving (a 401 in onRequest, a 408, a 413): close rather
    // than keep reading a body nobody will use.
    if (!request.raw.complete) reply.header('connection', 'close');
    done(null, payload);
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** When Fastify saw the request (ms since epoch): the body deadline counts from here. */
    receivedAt: number;
  }
}

/** A problem written straight on the socket, for answers given before any request was parsed. */
function writeRawProblem(socket: Duplex, problem: ProblemError, requestId: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(problem.toBody(requestId));
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\n`
    + `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\n${extra}connection: close\r\n\r\n${body}`);
}

/**
 * Node's `clientError`: a request the HTTP parser could not read (a malformed
 * request line, Content-Length with Transfer-Encoding, oversized headers, a
 * request that did not arrive in time) never reaches Fastify. It is answered
 * here as problem+json — unless a response was already sent on this socket, in
 * which case nothing more is written — and the socket is destroyed either way.
 */
export function answerClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const problem = status === 408
    ? timeoutProblem()
    : new ProblemError('validation-failed', status, status === 431 ? 'The request headers are too large.' : 'The request is not valid HTTP.');
  const requestId = randomUUID();
  writeRawProblem(socket, problem, requestId);
  socket.destroy();
  this.accessLog?.push(rawAccessLine((socket as Socket).remoteAddress, status, requestId));
}

/**
 * At most `max` open connections per client IP: one client cannot hold every
 * socket the process can serve. More are answered 503 and closed at accept.
 */
export function limitConnectionsPerIp(app: FastifyInstance, max: number): void {
  const open = new Map<string, number>();
  app.server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? '';
    const count = (open.get(ip) ?? 0) + 1;
    if (count > max) {
      const requestId = randomUUID();
      writeRawProblem(socket, new ProblemError('service-unavailable', 503, 'Too many open connections from this address.'), requestId, { 'retry-after': '1' });
      socket.destroy();
      app.accessLog?.push(rawAccessLine(ip, 503, requestId));
      return;
    }
    open.set(ip, count);
    socket.once('close', () => {
      const left = (open.get(ip) ?? 1) - 1;
      if (left > 0) open.set(ip, left);
      else open.delete(ip);
    });
  });
}
