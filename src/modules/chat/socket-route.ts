import websocket from '@fastify/websocket';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { forbidden, ProblemError } from '../../http/problem.ts';
import type { Chat } from './chat.ts';
import { CLOSE } from './limits.ts';
import * as S from './schemas.ts';
import { attachSocket } from './socket.ts';

/** The subprotocol of this API's frames; the only one the server ever selects. */
export const PROTOCOL = 'ocsuite.v1';

/**
 * Browser origins allowed to open a socket: CORS_ORIGINS and PUBLIC_URL's own.
 * A browser always sends Origin on an upgrade (RFC 6455 §4.1), so a page of
 * another site is refused (cross-site WebSocket hijacking); a client without
 * Origin is not a browser and is judged by its credential alone. `*` in
 * CORS_ORIGINS does not open sockets to every site.
 */
function originAllowed(allowed: ReadonlySet<string>, origin: string | undefined): boolean {
  if (origin === undefined) return true;
  return allowed.has(origin.toLowerCase());
}

export const socketRoutes: FastifyPluginAsync<{ chat: Chat }> = async (app, { chat }) => {
  const allowed = new Set<string>();
  for (const o of chat.config.corsOrigins) if (o !== '*') allowed.add(o.toLowerCase());
  if (chat.config.publicUrl) allowed.add(new URL(chat.config.publicUrl).origin.toLowerCase());

  // @fastify/websocket routes every upgrade of the server through Fastify, and an answered
  // (refused) upgrade leaves its socket open: Node no longer owns it after 'upgrade'. Upgrades of
  // any other path are refused at once, and every answered upgrade of this one is closed after it.
  const socketPath = `${app.prefix}/ws`;
  const refuseOtherPaths = (req: IncomingMessage, socket: Duplex) => {
    if ((req.url ?? '').split('?')[0] !== socketPath) socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  };
  app.server.prependListener('upgrade', refuseOtherPaths);
  app.addHook('onClose', async () => void app.server.off('upgrade', refuseOtherPaths));
  app.addHook('onResponse', async (req) => {
    if (req.headers.upgrade !== undefined) req.raw.socket?.destroy();
  });

  await app.register(websocket, {
    options: {
      maxPayload: chat.limits.maxFrameBytes,
      // Only our protocol is ever selected, so an offered `bearer.<token>` is never echoed back.
      handleProtocols: (offered: Set<string>) => (offered.has(PROTOCOL) ? PROTOCOL : false),
      perMessageDeflate: false,
    },
    preClose: (done) => {
      chat.hub.closeAll();
      done();
    },
  });

  const info = {
    protocol: PROTOCOL,
    maxFrameBytes: chat.limits.maxFrameBytes,
    maxTextLength: S.MAX_TEXT,
    messagesPerSecond: chat.limits.messagesPerSecond,
    burst: chat.limits.burst,
  };

  app.route({
    method: 'GET',
    url: '/ws',
    config: { security: { policy: { permission: 'chat:read' }, redeemTicket: chat.tickets.redeem }, problems: [429] },
    schema: {
      tags: ['chat'], operationId: 'chatSocket', summary: 'The chat socket (upgrade); without an upgrade, its limits',
      querystring: S.SocketQuery, response: { 200: S.SocketInfo },
    },
    preHandler: async (req: FastifyRequest) => {
      if (!req.ws) return;
      if (!originAllowed(allowed, req.headers.origin)) throw forbidden('This origin may not open chat sockets.');
      const principal = req.principal!;
      if (!principal.sessionId || !principal.userId) throw forbidden('Chat sockets are for user sessions, not API keys.');
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      if (!offered.includes(PROTOCOL)) throw new ProblemError('validation-failed', 400, `Offer the subprotocol ${PROTOCOL}.`);
      if (!chat.hub.admits(principal)) throw new ProblemError('rate-limited', 429, 'Too many open chat sockets for this user or tenant.');
    },
    handler: async () => info,
    wsHandler: (socket, req) => {
      const principal = req.principal;
      if (!principal) {
        socket.close(...CLOSE.sessionEnded);
        return;
      }
      attachSocket(chat, socket, principal);
    },
  });
};
