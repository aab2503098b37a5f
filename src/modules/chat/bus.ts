import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ChatEvent } from './events.ts';

/** Fan-out between API processes: every process receives every event, its own included. */
export interface ChatBus {
  publish(event: ChatEvent): void;
  subscribe(handler: (event: ChatEvent) => void): void;
  /** Resolves once events from other processes arrive (the Redis subscription is live). */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** One process: events go straight to its own sockets (after the current tick, like a network hop). */
export function inProcessBus(): ChatBus {
  const handlers: Array<(event: ChatEvent) => void> = [];
  return {
    publish: (event) => setImmediate(() => { for (const h of handlers) h(event); }),
    subscribe: (handler) => void handlers.push(handler),
    ready: Promise.resolve(),
    close: async () => {},
  };
}

/**
 * Redis pub/sub (the Socket.IO Redis adapter's model): one channel per
 * deployment (`<OCSUITE_JOBS_PREFIX>:chat`), at-most-once. A message is stored
 * before it is published, so a process that missed an event still serves it
 * from history. If Redis is unreachable, this process's own sockets are still served.
 */
export function redisBus(url: string, channel: string, log: Logger): ChatBus {
  // A publish waits at most 2 s for Redis (issue #23 §2): the event is then delivered on this process only.
  const pub = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, commandTimeout: 2_000 });
  const sub = new Redis(url, { lazyConnect: false });
  const handlers: Array<(event: ChatEvent) => void> = [];
  const dispatch = (event: ChatEvent) => { for (const h of handlers) h(event); };
  for (const client of [pub, sub]) client.on('error', (err) => log.warn({ err: err.message }, 'chat fan-out: redis error'));
  const ready = sub.subscribe(channel).then(() => {});
  sub.on('message', (from, payload) => {
    if (from !== channel) return;
    let event: ChatEvent;
    try {
      event = JSON.parse(payload) as ChatEvent;
    } catch {
      return;
    }
    dispatch(event);
  });
  return {
    publish(event) {
      pub.publish(channel, JSON.stringify(event)).catch((err: Error) => {
        log.warn({ err: err.message }, 'chat fan-out: publish failed; delivering on this process only');
        dispatch(event);
      });
    },
    subscribe: (handler) => void handlers.push(handler),
    ready,
    async close() {
      // QUIT (and a SUBSCRIBE still queued) wait for a reconnect while Redis is down: disconnect then.
      if (sub.status === 'reconnecting' || pub.status === 'reconnecting') {
        sub.disconnect();
        pub.disconnect();
        return;
      }
      await ready.catch(() => {});
      await Promise.allSettled([sub.quit(), pub.quit()]);
    },
  };
}
