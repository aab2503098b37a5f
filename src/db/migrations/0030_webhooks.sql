-- Webhooks in and out (issue #13). Outbound: a tenant's endpoints, the messages
-- its modules publish, one delivery per (message, endpoint) and every attempt of
-- it. Inbound: receivers with their own secrets, and the events they accepted —
-- whose (receiver, webhook-id) uniqueness is the replay store.

-- Outbound endpoints. The signing secret is sealed with the tenant's data key; during a rotation the
-- previous one stays (sealed too) until previous_secret_expires_at and both signatures are sent.
CREATE TABLE webhook_endpoints (
  tenant_id                  uuid NOT NULL REFERENCES tenants (id),
  id                         uuid NOT NULL DEFAULT gen_random_uuid(),
  url                        text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
  description                text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  event_types                text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
  status                     text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  disabled_reason            text CHECK (length(disabled_reason) <= 200),
  secret_sealed              text NOT NULL,
  secret_fingerprint         text NOT NULL,
  previous_secret_sealed     text,
  previous_secret_expires_at timestamptz,
  -- Deliveries dead-lettered in a row (a success resets it); the endpoint is disabled at the configured bound.
  consecutive_failures       integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  last_success_at            timestamptz,
  last_failure_at            timestamptz,
  created_by                 uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
);
CREATE INDEX webhook_endpoints_list_idx ON webhook_endpoints (tenant_id, created_at, id);
SELECT ocsuite_enable_tenant_rls('webhook_endpoints');
SELECT ocsuite_enable_tenant_erasure('webhook_endpoints');
GRANT SELECT, INSERT, UPDATE (url, description, event_types, status, disabled_reason, secret_sealed, secret_fingerprint,
  previous_secret_sealed, previous_secret_expires_at, consecutive_failures, last_success_at, last_failure_at, updated_at),
  DELETE ON webhook_endpoints TO ocsuite_runtime;
-- Key rotation re-encrypts the sealed columns across tenants (kernel/crypto/sealed-columns.ts); it reads
-- and updates, and deletes only through the erasure policy (a deleted tenant).
CREATE POLICY webhook_endpoints_rotation_read ON webhook_endpoints FOR SELECT TO ocsuite_maintenance USING (true);
CREATE POLICY webhook_endpoints_rotation ON webhook_endpoints FOR UPDATE TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT UPDATE (secret_sealed, previous_secret_sealed) ON webhook_endpoints TO ocsuite_maintenance;

-- What a module published for the tenant: the exact body that is signed and sent (retries and replays
-- send the same bytes under the same webhook-id).
CREATE TABLE webhook_messages (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  event_type  text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
  body        text NOT NULL CHECK (octet_length(body) <= 262144),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhook_messages_list_idx ON webhook_messages (tenant_id, created_at, id);
SELECT ocsuite_enable_tenant_rls('webhook_messages');
SELECT ocsuite_enable_tenant_erasure('webhook_messages');
GRANT SELECT, INSERT, DELETE ON webhook_messages TO ocsuite_runtime;

-- One message to one endpoint: pending until delivered, or dead after the last scheduled attempt.
CREATE TABLE webhook_deliveries (
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  message_id      uuid NOT NULL,
  endpoint_id     uuid NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'dead')),
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz,
  last_status     integer,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, message_id) REFERENCES webhook_messages (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (tenant_id, created_at, id);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (tenant_id, endpoint_id, created_at);
CREATE INDEX webhook_deliveries_message_idx ON webhook_deliveries (tenant_id, message_id);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
SELECT ocsuite_enable_tenant_rls('webhook_deliveries');
SELECT ocsuite_enable_tenant_erasure('webhook_deliveries');
GRANT SELECT, INSERT, UPDATE (status, attempts, next_attempt_at, last_status, updated_at), DELETE ON webhook_deliveries TO ocsuite_runtime;
-- The sweep (a platform schedule) finds overdue deliveries of every tenant to enqueue them again; ids only.
CREATE POLICY webhook_deliveries_sweep ON webhook_deliveries FOR SELECT TO ocsuite_maintenance USING (true);
GRANT SELECT (tenant_id, id, status, attempts, next_attempt_at) ON webhook_deliveries TO ocsuite_maintenance;

-- Every attempt, as the delivery log shows it. The response body is truncated and scrubbed of our secret.
CREATE TABLE webhook_attempts (
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  delivery_id     uuid NOT NULL,
  attempt         integer NOT NULL CHECK (attempt >= 1),
  started_at      timestamptz NOT NULL DEFAULT now(),
  latency_ms      integer NOT NULL CHECK (latency_ms >= 0),
  response_status integer,
  response_body   text NOT NULL DEFAULT '' CHECK (length(response_body) <= 1024),
  error           text CHECK (length(error) <= 200),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, delivery_id, attempt),
  FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE webhook_attempts IS '@append-only: the delivery log';
SELECT ocsuite_enable_tenant_rls('webhook_attempts');
SELECT ocsuite_enable_tenant_erasure('webhook_attempts');
GRANT SELECT, INSERT ON webhook_attempts TO ocsuite_runtime;

-- Inbound receivers (POST /hooks/{id}): a secret per receiver (Standard Webhooks or plain HMAC-SHA256),
-- an optional CIDR allowlist, a body cap and the event types accepted.
CREATE TABLE webhook_receivers (
  tenant_id                  uuid NOT NULL REFERENCES tenants (id),
  id                         uuid NOT NULL DEFAULT gen_random_uuid(),
  name                       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  scheme                     text NOT NULL CHECK (scheme IN ('standard-webhooks', 'hmac-sha256')),
  secret_sealed              text NOT NULL,
  secret_fingerprint         text NOT NULL,
  previous_secret_sealed     text,
  previous_secret_expires_at timestamptz,
  allowed_cidrs              text[] NOT NULL DEFAULT '{}' CHECK (cardinality(allowed_cidrs) <= 50),
  max_body_bytes             integer NOT NULL DEFAULT 65536 CHECK (max_body_bytes BETWEEN 64 AND 1048576),
  event_types                text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
  enabled                    boolean NOT NULL DEFAULT true,
  refused_count              bigint NOT NULL DEFAULT 0,
  last_refused_at            timestamptz,
  -- Refusals are audited at most once a minute per receiver (a flood must not flood the log).
  last_refusal_audited_at    timestamptz,
  created_by                 uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
);
CREATE UNIQUE INDEX webhook_receivers_id_key ON webhook_receivers (id);
CREATE INDEX webhook_receivers_list_idx ON webhook_receivers (tenant_id, created_at, id);
SELECT ocsuite_enable_tenant_rls('webhook_receivers');
SELECT ocsuite_enable_tenant_erasure('webhook_receivers');
GRANT SELECT, INSERT, UPDATE (name, secret_sealed, secret_fingerprint, previous_secret_sealed, previous_secret_expires_at, allowed_cidrs,
  max_body_bytes, event_types, enabled, refused_count, last_refused_at, last_refusal_audited_at, updated_at),
  DELETE ON webhook_receivers TO ocsuite_runtime;
CREATE POLICY webhook_receivers_rotation_read ON webhook_receivers FOR SELECT TO ocsuite_maintenance USING (true);
CREATE POLICY webhook_receivers_rotation ON webhook_receivers FOR UPDATE TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT UPDATE (secret_sealed, previous_secret_sealed) ON webhook_receivers TO ocsuite_maintenance;
-- A hook request names only the receiver: the identity role (before any tenant is known) may learn
-- which tenant it belongs to, and nothing else of it.
CREATE POLICY webhook_receivers_identity ON webhook_receivers FOR SELECT TO ocsuite_identity USING (true);
GRANT SELECT (id, tenant_id) ON webhook_receivers TO ocsuite_identity;

-- Verified inbound events. UNIQUE (receiver, webhook-id) refuses a replay; status says whether the
-- event was handed to its subscribers (the sweep re-queues one whose job was lost).
CREATE TABLE webhook_inbound_events (
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  receiver_id  uuid NOT NULL,
  webhook_id   text NOT NULL CHECK (length(webhook_id) BETWEEN 1 AND 256),
  event_type   text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
  payload      jsonb NOT NULL,
  status       text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'dispatched')),
  received_at  timestamptz NOT NULL DEFAULT now(),
  dispatched_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, receiver_id, webhook_id),
  FOREIGN KEY (tenant_id, receiver_id) REFERENCES webhook_receivers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_inbound_events_list_idx ON webhook_inbound_events (tenant_id, received_at, id);
SELECT ocsuite_enable_tenant_rls('webhook_inbound_events');
SELECT ocsuite_enable_tenant_erasure('webhook_inbound_events');
GRANT SELECT, INSERT, UPDATE (status, dispatched_at), DELETE ON webhook_inbound_events TO ocsuite_runtime;
CREATE POLICY webhook_inbound_events_sweep ON webhook_inbound_events FOR SELECT TO ocsuite_maintenance USING (true);
GRANT SELECT (tenant_id, id, status, received_at) ON webhook_inbound_events TO ocsuite_maintenance;
