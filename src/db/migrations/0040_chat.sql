-- Chat (issue #14): rooms, members, messages, reports, sanctions and one-time socket tickets.
-- Every table is a tenant table (RLS on the tenant, erased with the tenant). Messages are stored
-- as the author's plain text; HTML is rendered on the way out by the one sanitising renderer,
-- so a fix to the renderer applies to every stored message.

CREATE TABLE chat_rooms (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  -- public: every reader of the tenant; private: its members only; direct: two members, no name.
  kind       text NOT NULL CHECK (kind IN ('public', 'private', 'direct')),
  name       text CHECK (name IS NULL OR length(name) BETWEEN 1 AND 80),
  topic      text NOT NULL DEFAULT '' CHECK (length(topic) <= 500),
  -- The sorted pair of a direct room's users: at most one direct room per pair.
  direct_key text,
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CHECK ((kind = 'direct') = (direct_key IS NOT NULL)),
  CHECK (kind = 'direct' OR name IS NOT NULL)
);
CREATE UNIQUE INDEX chat_rooms_direct_key ON chat_rooms (tenant_id, direct_key) WHERE direct_key IS NOT NULL;
SELECT ocsuite_enable_tenant_rls('chat_rooms');
SELECT ocsuite_enable_tenant_erasure('chat_rooms');
GRANT SELECT, INSERT, UPDATE (name, topic, created_by), DELETE ON chat_rooms TO ocsuite_runtime;

-- Members of private and direct rooms; in public rooms a row only carries the read marker.
-- Leaving the tenant ends every room membership (the membership row is the anchor).
CREATE TABLE chat_members (
  tenant_id    uuid NOT NULL,
  room_id      uuid NOT NULL,
  user_id      uuid NOT NULL,
  role         text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
  joined_at    timestamptz NOT NULL DEFAULT now(),
  last_read_id uuid,
  last_read_at timestamptz,
  PRIMARY KEY (tenant_id, room_id, user_id),
  FOREIGN KEY (tenant_id, room_id) REFERENCES chat_rooms (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX chat_members_user_idx ON chat_members (tenant_id, user_id);
SELECT ocsuite_enable_tenant_rls('chat_members');
SELECT ocsuite_enable_tenant_erasure('chat_members');
GRANT SELECT, INSERT, UPDATE (role, last_read_id, last_read_at), DELETE ON chat_members TO ocsuite_runtime;

CREATE TABLE chat_messages (
  tenant_id  uuid NOT NULL,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  room_id    uuid NOT NULL,
  author_id  uuid REFERENCES users (id) ON DELETE SET NULL,
  text       text NOT NULL CHECK (length(text) <= 4000),
  created_at timestamptz NOT NULL DEFAULT now(),
  edited_at  timestamptz,
  -- Soft deletion (by the author) and moderation (hide, delete): the text is kept for
  -- moderators and exports, members see only that the message was removed.
  deleted_at timestamptz,
  removed_by text CHECK (removed_by IN ('author', 'moderator')),
  hidden_at  timestamptz,
  moderated_by uuid REFERENCES users (id) ON DELETE SET NULL,
  moderation_reason text CHECK (length(moderation_reason) <= 500),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, room_id) REFERENCES chat_rooms (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX chat_messages_room_idx ON chat_messages (tenant_id, room_id, created_at DESC, id DESC);
CREATE INDEX chat_messages_author_idx ON chat_messages (tenant_id, author_id);
SELECT ocsuite_enable_tenant_rls('chat_messages');
SELECT ocsuite_enable_tenant_erasure('chat_messages');
GRANT SELECT, INSERT, UPDATE (text, edited_at, deleted_at, removed_by, hidden_at, moderated_by, moderation_reason), DELETE ON chat_messages TO ocsuite_runtime;

CREATE TABLE chat_reports (
  tenant_id   uuid NOT NULL,
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  message_id  uuid NOT NULL,
  reporter_id uuid REFERENCES users (id) ON DELETE SET NULL,
  reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'actioned')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, message_id) REFERENCES chat_messages (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX chat_reports_once ON chat_reports (tenant_id, message_id, reporter_id);
CREATE INDEX chat_reports_list_idx ON chat_reports (tenant_id, created_at DESC, id DESC);
SELECT ocsuite_enable_tenant_rls('chat_reports');
SELECT ocsuite_enable_tenant_erasure('chat_reports');
GRANT SELECT, INSERT, UPDATE (status), DELETE ON chat_reports TO ocsuite_runtime;

-- Mutes (for a time) and bans, in one room or (room_id NULL) in the whole tenant's chat.
CREATE TABLE chat_sanctions (
  tenant_id  uuid NOT NULL,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  kind       text NOT NULL CHECK (kind IN ('mute', 'ban')),
  room_id    uuid,
  user_id    uuid NOT NULL,
  until      timestamptz,
  reason     text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CHECK (kind = 'ban' OR until IS NOT NULL),
  FOREIGN KEY (tenant_id, room_id) REFERENCES chat_rooms (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX chat_sanctions_user_idx ON chat_sanctions (tenant_id, user_id);
SELECT ocsuite_enable_tenant_rls('chat_sanctions');
SELECT ocsuite_enable_tenant_erasure('chat_sanctions');
GRANT SELECT, INSERT, DELETE ON chat_sanctions TO ocsuite_runtime;

-- One-time socket tickets: SHA-256 of 256 random bits, 30 s, single use, bound to a session.
CREATE TABLE chat_tickets (
  tenant_id  uuid NOT NULL,
  digest     bytea NOT NULL,
  session_id uuid NOT NULL,
  user_id    uuid NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  PRIMARY KEY (tenant_id, digest),
  FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX chat_tickets_expiry_idx ON chat_tickets (tenant_id, expires_at);
SELECT ocsuite_enable_tenant_rls('chat_tickets');
SELECT ocsuite_enable_tenant_erasure('chat_tickets');
GRANT SELECT, INSERT, UPDATE (used_at), DELETE ON chat_tickets TO ocsuite_runtime;
