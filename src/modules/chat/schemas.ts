import { Type } from '@fastify/type-provider-typebox';

const strict = { additionalProperties: false } as const;
const Uuid = Type.String({ format: 'uuid' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Cursor = Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' });
const Reason = Type.String({ minLength: 1, maxLength: 500 });

/** The longest message text, in characters (frames and REST alike). */
export const MAX_TEXT = 4000;

export const RoomParams = Type.Object({ id: Uuid }, strict);
export const MessageParams = Type.Object({ id: Uuid }, strict);
export const MemberParams = Type.Object({ id: Uuid, userId: Uuid }, strict);

export const PageQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })), cursor: Type.Optional(Cursor) },
  strict,
);

export const CreateRoom = Type.Object(
  {
    kind: Type.Union([Type.Literal('public'), Type.Literal('private'), Type.Literal('direct')]),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 80, pattern: '\\S' })),
    topic: Type.Optional(Type.String({ maxLength: 500 })),
    /** Private rooms: the first members besides the creator; direct rooms: exactly the other person. */
    members: Type.Optional(Type.Array(Uuid, { maxItems: 100, uniqueItems: true })),
  },
  strict,
);

export const Room = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  name: Nullable(Type.String()),
  topic: Type.String(),
  createdBy: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  /** The caller's read marker in this room. */
  lastReadId: Nullable(Type.String()),
});
export const RoomPage = Type.Object({ items: Type.Array(Room), nextCursor: Nullable(Type.String()) });

export const AddMember = Type.Object({ userId: Uuid }, strict);
export const Member = Type.Object({ userId: Type.String(), role: Type.String(), joinedAt: Type.String({ format: 'date-time' }) });
export const MemberList = Type.Object({ items: Type.Array(Member) });

export const PostMessage = Type.Object({ text: Type.String({ minLength: 1, maxLength: MAX_TEXT }) }, strict);
export const EditMessage = PostMessage;
export const Message = Type.Object({
  id: Type.String(),
  roomId: Type.String(),
  authorId: Nullable(Type.String()),
  /** visible; deleted (by its author); removed (by a moderator): the last two carry no text. */
  state: Type.Union([Type.Literal('visible'), Type.Literal('deleted'), Type.Literal('removed')]),
  text: Type.String(),
  html: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  editedAt: Nullable(Type.String({ format: 'date-time' })),
});
export const MessagePage = Type.Object({ items: Type.Array(Message), nextCursor: Nullable(Type.String()) });

export const ReadMarker = Type.Object({ messageId: Uuid }, strict);
export const ReadMarkerSet = Type.Object({ roomId: Type.String(), lastReadId: Type.String(), lastReadAt: Type.String({ format: 'date-time' }) });

export const Ticket = Type.Object({ ticket: Type.String(), expiresAt: Type.String({ format: 'date-time' }) });
export const SocketQuery = Type.Object({ ticket: Type.Optional(Type.String({ maxLength: 200 })) }, strict);
export const SocketInfo = Type.Object({
  protocol: Type.String(),
  maxFrameBytes: Type.Integer(),
  maxTextLength: Type.Integer(),
  messagesPerSecond: Type.Number(),
  burst: Type.Integer(),
});

export const ReportMessage = Type.Object({ reason: Reason }, strict);
export const Report = Type.Object({
  id: Type.String(),
  messageId: Type.String(),
  roomId: Type.String(),
  reporterId: Nullable(Type.String()),
  reason: Type.String(),
  status: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  /** What a moderator judges: the reported message as stored, whatever its state. */
  message: Type.Object({ authorId: Nullable(Type.String()), text: Type.String(), state: Type.String() }),
});
export const ReportPage = Type.Object({ items: Type.Array(Report), nextCursor: Nullable(Type.String()) });
export const ReportCreated = Type.Object({ id: Type.String(), status: Type.String() });

export const Moderate = Type.Object({ reason: Reason }, strict);
export const Moderated = Type.Object({ id: Type.String(), state: Type.String() });

export const Mute = Type.Object(
  { userId: Uuid, durationSeconds: Type.Integer({ minimum: 60, maximum: 31_536_000 }), reason: Reason, scope: Type.Optional(Type.Union([Type.Literal('room'), Type.Literal('tenant')])) },
  strict,
);
export const Ban = Type.Object(
  { userId: Uuid, durationSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 31_536_000 })), reason: Reason, scope: Type.Optional(Type.Union([Type.Literal('room'), Type.Literal('tenant')])) },
  strict,
);
export const Sanction = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  userId: Type.String(),
  roomId: Nullable(Type.String()),
  until: Nullable(Type.String({ format: 'date-time' })),
  reason: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
});

export const ExportedMessage = Type.Object({
  id: Type.String(),
  authorId: Nullable(Type.String()),
  text: Type.String(),
  state: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  editedAt: Nullable(Type.String({ format: 'date-time' })),
  moderationReason: Nullable(Type.String()),
});
export const RoomExport = Type.Object({
  room: Room,
  exportedAt: Type.String({ format: 'date-time' }),
  messages: Type.Array(ExportedMessage),
  /** Set when the room holds more than one export carries: page on with it. */
  nextCursor: Nullable(Type.String()),
});
export const ExportQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 5000 })), cursor: Type.Optional(Cursor) },
  strict,
);
