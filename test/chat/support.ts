import type { FastifyInstance } from 'fastify';
import { bearer, json, type Account } from '../support/app.ts';

export const api = (app: FastifyInstance, who: Account, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  app.inject({ method, url: `/api/v1/chat${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });

export async function createRoom(app: FastifyInstance, who: Account, body: { kind: 'public' | 'private' | 'direct'; name?: string; members?: string[] }) {
  const res = await api(app, who, 'POST', '/rooms', body);
  if (res.statusCode !== 201) throw new Error(`room: ${res.statusCode} ${res.body}`);
  return json<{ id: string; kind: string; name: string | null }>(res);
}

export async function postMessage(app: FastifyInstance, who: Account, roomId: string, text: string) {
  const res = await api(app, who, 'POST', `/rooms/${roomId}/messages`, { text });
  if (res.statusCode !== 201) throw new Error(`post: ${res.statusCode} ${res.body}`);
  return json<{ id: string; text: string; html: string; state: string }>(res);
}
