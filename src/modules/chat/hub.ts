import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Principal } from '../../kernel/auth/principal.ts';
import { sessionStatuses, type SessionStatus } from '../../kernel/auth/session-state.ts';
import type { Platform } from '../../kernel/platform.ts';
import type { ChatEvent } from './events.ts';
import { CLOSE, type SocketLimits } from './limits.ts';

/** One open socket: who it speaks for (re-checked every revalidation) and the rooms it joined. */
export interface Connection {
  ws: WebSocket;
  principal: Principal;
  rooms: Set<string>;
  alive: boolean;
}

const roomKey = (tenantId: string, roomId: string) => `${tenantId}/${roomId}`;
const userKey = (tenantId: string, userId: string) => `${tenantId}/${userId}`;

/**
 * The sockets of this process, indexed by tenant and room. Delivery looks up
 * `tenant/room`, so an event reaches only sockets of its own tenant that the
 * service let join that room. Sessions behind sockets are re-checked together,
 * one statement per tenant, so a revoked session or a lost chat:read closes
 * its sockets within `revalidateMs` on every process.
 */
export class ChatHub {
  readonly #connections = new Set<Connection>();
  readonly #byRoom = new Map<string, Set<Connection>>();
  readonly #byUser = new Map<string, Set<Connection>>();
  readonly #perTenant = new Map<string, number>();
  readonly #timers: NodeJS.Timeout[] = [];
  #revalidating = false;

  private readonly platform: Pick<Platform, 'queryAsTenant' | 'permissions'>;
  private readonly limits: SocketLimits;
  private readonly log: Logger;
  private readonly onAccessChanged: (conn: Connection, roomId: string) => Promise<boolean>;

  constructor(
    platform: Pick<Platform, 'queryAsTenant' | 'permissions'>,
    limits: SocketLimits,
    log: Logger,
    onAccessChanged: (conn: Connection, roomId: string) => Promise<boolean>,
  ) {
    this.platform = platform;
    this.limits = limits;
    this.log = log;
    this.onAccessChanged = onAccessChanged;
    this.#timers.push(setInterval(() => this.#heartbeat(), limits.heartbeatMs).unref());
    this.#timers.push(setInterval(() => void this.revalidate(), limits.revalidateMs).unref());
  }

  get size(): number {
    return this.#connections.size;
  }

  /** Whether one more socket fits the per-user and per-tenant caps. */
  admits(principal: Principal): boolean {
    const user = this.#byUser.get(userKey(principal.tenantId, principal.userId ?? ''))?.size ?? 0;
    return user < this.limits.socketsPerUser && (this.#perTenant.get(principal.tenantId) ?? 0) < this.limits.socketsPerTenant;
  }

  add(ws: WebSocket, principal: Principal): Connection {
    const conn: Connection = { ws, principal, rooms: new Set(), alive: true };
    this.#connections.add(conn);
    const uk = userKey(principal.tenantId, principal.userId ?? '');
    this.#byUser.set(uk, (this.#byUser.get(uk) ?? new Set()).add(conn));
    this.#perTenant.set(principal.tenantId, (this.#perTenant.get(principal.tenantId) ?? 0) + 1);
    ws.on('pong', () => { conn.alive = true; });
    ws.once('close', () => this.#remove(conn));
    return conn;
  }

  join(conn: Connection, roomId: string): void {
    conn.rooms.add(roomId);
    const key = roomKey(conn.principal.tenantId, roomId);
    this.#byRoom.set(key, (this.#byRoom.get(key) ?? new Set()).add(conn));
  }

  leave(conn: Connection, roomId: string): void {
    conn.rooms.delete(roomId);
    const key = roomKey(conn.principal.tenantId, roomId);
    const set = this.#byRoom.get(key);
    set?.delete(conn);
    if (set?.size === 0) this.#byRoom.delete(key);
  }

  /** A frame to one socket, unless it is a slow reader: past the send buffer bound it is dropped, not buffered without limit. */
  send(conn: Connection, frame: string | Buffer): void {
    if (conn.ws.readyState !== conn.ws.OPEN) return;
    if (conn.ws.bufferedAmount > this.limits.sendBufferBytes) {
      this.close(conn, CLOSE.slowConsumer);
      return;
    }
    // A text frame either way; a Buffer is sent as it is, without a UTF-8 encoding per recipient.
    conn.ws.send(frame, { binary: false });
  }

  close(conn: Connection, [code, reason]: readonly [number, string]): void {
    this.#remove(conn);
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.close(code, reason);
    // A peer that does not answer the close handshake is cut off.
    setTimeout(() => conn.ws.terminate(), 2_000).unref();
  }

  /** An event from the bus (this process's or another's). */
  deliver(event: ChatEvent): void {
    if (event.type === 'access-changed') {
      void this.#recheck(event.tenantId, event.userId, event.roomId);
      return;
    }
    const targets = this.#byRoom.get(roomKey(event.tenantId, event.roomId));
    if (!targets || targets.size === 0) return;
    // One serialisation and one UTF-8 encoding for every recipient.
    const frame = Buffer.from(event.type === 'message-removed'
      ? JSON.stringify({ type: 'message-removed', roomId: event.roomId, id: event.messageId, state: event.state })
      : JSON.stringify({ ...event.message, type: event.type === 'message' ? 'message' : 'message-updated' }));
    for (const conn of targets) this.send(conn, frame);
  }

  /** Re-checks every session behind a socket of this process: one statement per tenant. */
  async revalidate(): Promise<void> {
    if (this.#revalidating) return;
    this.#revalidating = true;
    try {
      const byTenant = new Map<string, Connection[]>();
      for (const conn of this.#connections) byTenant.set(conn.principal.tenantId, [...(byTenant.get(conn.principal.tenantId) ?? []), conn]);
      for (const [tenantId, conns] of byTenant) {
        let statuses: Map<string, SessionStatus>;
        try {
          statuses = await sessionStatuses(this.platform, tenantId, [...new Set(conns.map((c) => c.principal.sessionId!))]);
        } catch (err) {
          this.log.warn({ err: (err as Error).message, tenantId }, 'chat: session re-check failed; retrying next interval');
          continue;
        }
        for (const conn of conns) {
          const status = statuses.get(conn.principal.sessionId!);
          if (!status?.active) this.close(conn, CLOSE.sessionEnded);
          else if (!status.permissions.has('chat:read')) this.close(conn, CLOSE.forbidden);
          // Narrowed or widened: posting and moderation on this socket follow the session's current permissions.
          else conn.principal = { ...conn.principal, roles: status.roles, permissions: status.permissions };
        }
      }
    } finally {
      this.#revalidating = false;
    }
  }

  logError(err: unknown): void {
    this.log.error({ err }, 'chat: frame failed');
  }

  /** Closes every socket (shutdown). */
  closeAll(): void {
    for (const timer of this.#timers) clearInterval(timer);
    for (const conn of [...this.#connections]) this.close(conn, CLOSE.shutdown);
  }

  async #recheck(tenantId: string, userId: string, roomId: string | null): Promise<void> {
    for (const conn of this.#byUser.get(userKey(tenantId, userId)) ?? []) {
      for (const room of roomId ? [roomId] : [...conn.rooms]) {
        if (!conn.rooms.has(room)) continue;
        try {
          if (!(await this.onAccessChanged(conn, room))) {
            this.leave(conn, room);
            this.send(conn, JSON.stringify({ type: 'left', roomId: room, reason: 'access-revoked' }));
          }
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'chat: access re-check failed');
        }
      }
    }
  }

  #heartbeat(): void {
    for (const conn of this.#connections) {
      if (!conn.alive) {
        this.#remove(conn);
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }

  #remove(conn: Connection): void {
    if (!this.#connections.delete(conn)) return;
    for (const room of [...conn.rooms]) this.leave(conn, room);
    const uk = userKey(conn.principal.tenantId, conn.principal.userId ?? '');
    const set = this.#byUser.get(uk);
    set?.delete(conn);
    if (set?.size === 0) this.#byUser.delete(uk);
    const n = (this.#perTenant.get(conn.principal.tenantId) ?? 1) - 1;
    if (n <= 0) this.#perTenant.delete(conn.principal.tenantId);
    else this.#perTenant.set(conn.principal.tenantId, n);
  }
}
