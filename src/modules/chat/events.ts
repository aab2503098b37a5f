import type { Static } from '@fastify/type-provider-typebox';
import type { Message } from './schemas.ts';

export type MessageView = Static<typeof Message>;

/**
 * What one API process tells the others (and itself) about a tenant's chat.
 * Every event names its tenant; a process delivers it only to sockets of that
 * tenant which joined that room, so ids guessed or repeated across tenants
 * never cross.
 */
export type ChatEvent =
  | { type: 'message'; tenantId: string; roomId: string; message: MessageView }
  | { type: 'message-updated'; tenantId: string; roomId: string; message: MessageView }
  | { type: 'message-removed'; tenantId: string; roomId: string; messageId: string; state: 'deleted' | 'removed' }
  /** A member left or was removed from a private room, or was banned (roomId null: the whole tenant): re-check their sockets. */
  | { type: 'access-changed'; tenantId: string; roomId: string | null; userId: string };

export type Publish = (event: ChatEvent) => void;
