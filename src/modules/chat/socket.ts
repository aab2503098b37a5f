import type { RawData, WebSocket } from 'ws';
import { KernelError } from '../../kernel/errors.ts';
import type { Principal } from '../../kernel/auth/principal.ts';
import type { Chat } from './chat.ts';
import type { Connection } from './hub.ts';
import { CLOSE } from './limits.ts';

type ClientFrame =
  | { type: 'join'; roomId: string }
  | { type: 'leave'; roomId: string }
  | { type: 'message'; roomId: string; text: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A client frame, or why it is not one (frames are JSON objects of three shapes, nothing more). */
function parseFrame(data: RawData, isBinary: boolean): ClientFrame | string {
  if (isBinary) return 'Frames are JSON text.';
  let value: unknown;
  try {
    value = JSON.parse(data.toString());
  } catch {
    return 'The frame is not JSON.';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'A frame is a JSON object.';
  const f = value as Record<string, unknown>;
  const keys = Object.keys(f).sort().join(',');
  if (typeof f.roomId !== 'string' || !UUID.test(f.roomId)) return 'roomId must be a room id.';
  if ((f.type === 'join' || f.type === 'leave') && keys === 'roomId,type') return { type: f.type, roomId: f.roomId.toLowerCase() };
  if (f.type === 'message' && keys === 'roomId,text,type' && typeof f.text === 'string') return { type: 'message', roomId: f.roomId.toLowerCase(), text: f.text };
  return 'Unknown frame: send join, leave or message with exactly their fields.';
}

/** Kernel and problem errors become error frames with their stable code; anything else is logged and said plainly. */
function errorFrame(err: unknown): { code: string; message: string; retryAfterMs?: number } {
  if (err instanceof KernelError) {
    const retry = err.extensions?.retryAfterMs;
    return { code: err.kind, message: err.detail ?? err.kind, ...(typeof retry === 'number' ? { retryAfterMs: retry } : {}) };
  }
  return { code: 'internal', message: 'The server could not handle this frame.' };
}

/**
 * One socket's conversation: join and leave rooms the service lets the
 * principal read (the same rule and the same 404 as REST, so another tenant's
 * room and a private room one is not in look like no room), post through the
 * same path as REST (flood limit, mutes, sanitising renderer). Every refusal is
 * an error frame; only a broken protocol closes the socket.
 */
export function attachSocket(chat: Chat, ws: WebSocket, principal: Principal): Connection {
  const conn = chat.hub.add(ws, principal);
  const send = (frame: Record<string, unknown>) => chat.hub.send(conn, JSON.stringify(frame));
  const fail = (err: unknown, roomId?: string) => {
    const frame = errorFrame(err);
    if (frame.code === 'internal') chat.hub.logError(err);
    send({ type: 'error', ...frame, ...(roomId ? { roomId } : {}) });
  };
  let badFrames = 0;

  ws.on('message', (data, isBinary) => {
    const frame = parseFrame(data, isBinary);
    if (typeof frame === 'string') {
      // A client that keeps sending garbage is not a client of this protocol.
      if (++badFrames > 10) chat.hub.close(conn, CLOSE.badFrame);
      else send({ type: 'error', code: 'bad-frame', message: frame });
      return;
    }
    void handle(frame).catch((err) => fail(err, frame.roomId));
  });

  async function handle(frame: ClientFrame): Promise<void> {
    const current = conn.principal;
    if (frame.type === 'leave') {
      chat.hub.leave(conn, frame.roomId);
      send({ type: 'left', roomId: frame.roomId, reason: 'requested' });
      return;
    }
    if (frame.type === 'join') {
      if (!conn.rooms.has(frame.roomId) && conn.rooms.size >= chat.limits.roomsPerSocket) {
        throw new KernelError('conflict', `A socket joins at most ${chat.limits.roomsPerSocket} rooms.`);
      }
      const room = await chat.rooms.visibleRoom(current, frame.roomId);
      if (ws.readyState !== ws.OPEN) return;
      chat.hub.join(conn, room.id);
      send({ type: 'joined', roomId: room.id, kind: room.kind, name: room.name });
      return;
    }
    if (!current.permissions.has('chat:write')) throw new KernelError('forbidden', 'This action requires the chat:write permission.');
    await chat.post(current, frame.roomId, frame.text);
  }

  return conn;
}
