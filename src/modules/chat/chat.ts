import { ProblemError } from '../../http/problem.ts';
import type { Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';
import { inProcessBus, redisBus, type ChatBus } from './bus.ts';
import { createExports } from './export.ts';
import { ChatHub } from './hub.ts';
import { FloodGate, socketLimits, type SocketLimits } from './limits.ts';
import { createModeration } from './moderation.ts';
import { createChatService } from './service.ts';
import { createTickets } from './tickets.ts';

/**
 * The chat of one API process: services over the tenant's tables, the fan-out
 * bus (Redis pub/sub with REDIS_URL, in process otherwise) and the hub of this
 * process's sockets, which every event from the bus reaches.
 */
export function createChat(platform: Platform, overrides: Partial<SocketLimits> = {}) {
  const limits: SocketLimits = { ...socketLimits, ...overrides };
  const log = platform.log.child({ module: 'chat' });
  const bus: ChatBus = platform.config.redisUrl ? redisBus(platform.config.redisUrl, `${platform.config.jobsPrefix}:chat`, log) : inProcessBus();
  const publish = (event: Parameters<ChatBus['publish']>[0]) => bus.publish(event);
  const rooms = createChatService(platform, publish);
  const flood = new FloodGate(limits.messagesPerSecond, limits.burst);
  const hub = new ChatHub(platform, limits, log, async (conn, roomId) => (await rooms.access(conn.principal, roomId)).read);
  bus.subscribe((event) => hub.deliver(event));

  return {
    config: platform.config,
    limits,
    bus,
    hub,
    rooms,
    moderation: createModeration(platform, publish),
    exports: createExports(platform),
    tickets: createTickets(platform),
    /** Posting, from REST or a socket: the user's flood budget first (per user on this process), then the service. */
    async post(principal: Principal, roomId: string, text: string) {
      const key = `${principal.tenantId}/${principal.userId}`;
      const waitMs = flood.take(key);
      if (waitMs > 0) {
        throw new ProblemError('rate-limited', 429, `At most ${limits.messagesPerSecond} messages a second (burst ${limits.burst}); retry in ${waitMs} ms.`, {
          extensions: { retryAfterMs: waitMs }, headers: { 'retry-after': String(Math.ceil(waitMs / 1000)) },
        });
      }
      try {
        return await rooms.post(principal, roomId, text);
      } catch (err) {
        flood.refund(key);
        throw err;
      }
    },
    async close() {
      hub.closeAll();
      await bus.close();
    },
  };
}

export type Chat = ReturnType<typeof createChat>;
