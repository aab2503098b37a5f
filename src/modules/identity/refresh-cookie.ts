import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProblemError } from '../../http/problem.ts';

/**
 * Cookie mode for browser clients (the admin console): the refresh token never
 * reaches JavaScript. A client opts in with `x-ocsuite-refresh: cookie` on login,
 * MFA verification and refresh; the token then travels only in an HttpOnly,
 * Secure, SameSite=Strict cookie whose Path is the refresh route, so no other
 * request carries it. API clients keep the token in the body as before.
 *
 * CSRF: the custom header cannot be sent cross-origin without a CORS preflight
 * (and it is not in the CORS allow-list), and the Origin must be this server's.
 */
export const REFRESH_MODE_HEADER = 'x-ocsuite-refresh';
export const REFRESH_COOKIE = '__Secure-ocsuite-refresh';
export const REFRESH_COOKIE_PATH = '/api/v1/auth/refresh';

export function wantsCookie(req: FastifyRequest): boolean {
  return req.headers[REFRESH_MODE_HEADER] === 'cookie';
}

const crossSite = () => new ProblemError('forbidden', 403, 'Cookie refresh is only accepted from the console\'s own origin.');

/** Same-origin proof for cookie mode: Origin is this server (as the browser addressed it, or PUBLIC_URL). */
export function assertSameOrigin(req: FastifyRequest, publicUrl: string): void {
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') throw crossSite();
  if (typeof origin !== 'string') throw crossSite();
  const host = req.headers.host;
  const allowed = [new URL(publicUrl).origin, ...(host ? [`http://${host}`, `https://${host}`] : [])];
  if (!allowed.includes(origin)) throw crossSite();
}

export function readRefreshCookie(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === REFRESH_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function setRefreshCookie(reply: FastifyReply, token: string, maxAgeSeconds: number): void {
  reply.header('set-cookie', `${REFRESH_COOKIE}=${token}; Path=${REFRESH_COOKIE_PATH}; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Strict`);
  reply.header('cache-control', 'no-store');
}

export function clearRefreshCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${REFRESH_COOKIE}=; Path=${REFRESH_COOKIE_PATH}; Max-Age=0; HttpOnly; Secure; SameSite=Strict`);
}

/** In cookie mode the body keeps everything but the refresh token, which goes into the cookie. */
export function deliverTokens<T extends object>(req: FastifyRequest, reply: FastifyReply, result: T, maxAgeSeconds: number): T {
  if (!wantsCookie(req) || !('refreshToken' in result) || typeof result.refreshToken !== 'string') return result;
  setRefreshCookie(reply, result.refreshToken, maxAgeSeconds);
  const { refreshToken: _sent, ...rest } = result;
  return rest as T;
}
