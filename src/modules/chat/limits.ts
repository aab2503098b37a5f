/**
 * The socket's bounds (issue #14 §2–3). Fixed here rather than configurable:
 * they are part of the protocol a client is written against, and
 * `GET /api/v1/chat/ws` (without an upgrade) reports them.
 */
export const socketLimits = {
  /** Largest frame accepted; a larger one closes the socket with 1009 (RFC 6455 §7.4.1). */
  maxFrameBytes: 16 * 1024,
  /** Messages per second per user on one process, and the burst above that rate. */
  messagesPerSecond: 5,
  burst: 10,
  /** Sockets one user, and one tenant, may hold open on one process. */
  socketsPerUser: 10,
  socketsPerTenant: 2_000,
  /** Bytes queued for one socket before it counts as a slow reader and is dropped (4409). */
  sendBufferBytes: 1024 * 1024,
  /** Ping interval; a socket that missed a whole interval without a pong is terminated. */
  heartbeatMs: 30_000,
  /** How often sessions behind open sockets are re-checked (revocation, role changes): well inside the 5 s bound. */
  revalidateMs: 2_000,
  /** Joined rooms per socket. */
  roomsPerSocket: 100,
} as const;

export type SocketLimits = { -readonly [K in keyof typeof socketLimits]: number };

/** Close codes (4000–4999 are the application's, RFC 6455 §7.4.2), each naming its reason. */
export const CLOSE = {
  badFrame: [4400, 'bad-frame'],
  sessionEnded: [4401, 'session-ended'],
  forbidden: [4403, 'forbidden'],
  heartbeat: [4408, 'heartbeat-timeout'],
  slowConsumer: [4409, 'slow-consumer'],
  shutdown: [1001, 'server-shutdown'],
} as const;

/**
 * A token bucket: `rate` tokens a second up to `burst`. Per user, shared by the
 * REST route and every socket of the user on this process.
 */
export class FloodGate {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly rate: number;
  readonly burst: number;
  constructor(rate: number, burst: number) {
    this.rate = rate;
    this.burst = burst;
  }

  /** 0 when allowed (a token is spent), else milliseconds until the next token. */
  take(key: string, now = Date.now()): number {
    const b = this.#buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.#buckets.set(key, b);
      return 0;
    }
    this.#buckets.set(key, b);
    if (this.#buckets.size > 100_000) this.#sweep(now);
    return Math.ceil(((1 - b.tokens) / this.rate) * 1000);
  }

  /** Gives back the token of a message that was refused after all (no such room, muted): only posted messages count. */
  refund(key: string): void {
    const b = this.#buckets.get(key);
    if (b) b.tokens = Math.min(this.burst, b.tokens + 1);
  }

  /** Full buckets carry no state worth keeping. */
  #sweep(now: number) {
    for (const [key, b] of this.#buckets) if (b.tokens + ((now - b.at) / 1000) * this.rate >= this.burst) this.#buckets.delete(key);
  }
}
