import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * Hints between the processes of one deployment that something cached changed in the
 * database: `session.forget` (a session revoked or its member's roles changed: drop the cached
 * check), `keys.changed` (signing or master keys rotated or retired: reload them now). A hint
 * carries no authority — it only makes a node re-read PostgreSQL sooner — so a forged or lost
 * message costs a query or waits for the fallback poll, never grants anything.
 */
export type ClusterTopic = 'session.forget' | 'keys.changed';
export type ClusterHandler = (payload: Record<string, unknown>) => void;

export interface ClusterBus {
  publish(topic: ClusterTopic, payload?: Record<string, unknown>): void;
  /** Handlers see messages of other processes (a process acts on its own change directly). */
  on(topic: ClusterTopic, handler: ClusterHandler): () => void;
  /** Resolves once the subscription is live. */
  ready: Promise<void>;
  close(): Promise<void>;
}

function handlers() {
  const byTopic = new Map<string, Set<ClusterHandler>>();
  return {
    on(topic: string, h: ClusterHandler) {
      const set = byTopic.get(topic) ?? new Set();
      set.add(h);
      byTopic.set(topic, set);
      return () => void set.delete(h);
    },
    emit(topic: string, payload: Record<string, unknown>) {
      for (const h of byTopic.get(topic) ?? []) {
        try {
          h(payload);
        } catch {
          /* a hint handler never breaks the bus */
        }
      }
    },
  };
}

/** Redis pub/sub on `<OCSUITE_JOBS_PREFIX>:cluster`, at most once; the database poll covers a lost message. */
export function redisClusterBus(url: string, channel: string, log: Logger): ClusterBus {
  const self = randomUUID();
  const pub = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2_000, enableOfflineQueue: false });
  const sub = new Redis(url);
  const h = handlers();
  let warned = false;
  for (const c of [pub, sub]) {
    c.on('error', (err: Error) => {
      if (warned) return;
      warned = true;
      log.warn({ err: err.message }, 'cluster bus: redis error; nodes fall back to polling the database');
    });
  }
  sub.on('ready', () => (warned = false));
  const ready = sub.subscribe(channel).then(() => {});
  ready.catch(() => {});
  sub.on('message', (from: string, raw: string) => {
    if (from !== channel) return;
    try {
      const m = JSON.parse(raw) as { from?: string; topic?: string; payload?: Record<string, unknown> };
      if (m.from === self || typeof m.topic !== 'string') return;
      h.emit(m.topic, m.payload && typeof m.payload === 'object' ? m.payload : {});
    } catch {
      /* not ours */
    }
  });
  return {
    publish(topic, payload = {}) {
      pub.publish(channel, JSON.stringify({ from: self, topic, payload })).catch(() => {});
    },
    on: h.on,
    ready,
    async close() {
      // QUIT on a client that is reconnecting waits for Redis to come back: while it is down, disconnect.
      await Promise.allSettled([sub, pub].map((c) => (c.status === 'reconnecting' ? c.disconnect() : c.quit())));
    },
  };
}

/** One process: nothing to tell anyone. */
export function localClusterBus(): ClusterBus {
  const h = handlers();
  return { publish: () => {}, on: h.on, ready: Promise.resolve(), close: async () => {} };
}

/** Publishes one hint from a short-lived process (the CLI) and disconnects. */
export async function publishOnce(url: string, channel: string, topic: ClusterTopic, payload: Record<string, unknown> = {}): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, connectTimeout: 3_000, retryStrategy: () => null });
  try {
    await r.connect();
    await r.publish(channel, JSON.stringify({ from: 'cli', topic, payload }));
  } finally {
    r.disconnect();
  }
}

export const clusterChannel = (jobsPrefix: string) => `${jobsPrefix}:cluster`;
