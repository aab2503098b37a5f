-- Idempotent creates (issue #23 §4): a POST that creates something may carry an
-- Idempotency-Key (IETF httpapi-idempotency-key-header draft); the first response
-- to a key is kept for 24 hours and returned for the same key and the same request,
-- instead of creating a second resource. Keys belong to one principal of one tenant.
-- The response body is sealed under the tenant's data key (it may hold a secret shown
-- once: an API key, a webhook signing secret, an invitation link).

CREATE TABLE idempotency_keys (
  tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- `user:<uuid>` or `api_key:<uuid>`: who sent the key; the same key of another principal is another key.
  principal        text NOT NULL CHECK (principal ~ '^(user|api_key):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
  idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  -- The row id of the sealed response (its AAD); a new one when an expired or abandoned key is taken over.
  id               uuid NOT NULL,
  -- What the key was first used for: method, route and a SHA-256 of params, query and body.
  route            text NOT NULL CHECK (length(route) <= 300),
  fingerprint      text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
  -- NULL while the first request is in flight.
  status           smallint CHECK (status BETWEEN 200 AND 299),
  response_headers jsonb,
  response_sealed  text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  PRIMARY KEY (tenant_id, principal, idempotency_key),
  CONSTRAINT idempotency_keys_completed CHECK ((status IS NULL) = (completed_at IS NULL) AND (status IS NULL) = (response_sealed IS NULL))
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (created_at);
CREATE UNIQUE INDEX idempotency_keys_id_idx ON idempotency_keys (tenant_id, id);
SELECT ocsuite_enable_tenant_rls('idempotency_keys');
SELECT ocsuite_enable_tenant_erasure('idempotency_keys');
GRANT SELECT, INSERT, DELETE, UPDATE (id, route, fingerprint, status, response_headers, response_sealed, created_at, completed_at)
  ON idempotency_keys TO ocsuite_runtime;

-- The hourly prune removes keys older than 24 hours across tenants, and nothing younger.
CREATE POLICY idempotency_keys_prune ON idempotency_keys FOR DELETE TO ocsuite_maintenance
  USING (created_at < now() - interval '24 hours');

-- Key rotation re-seals the stored responses like every registered sealed column (see 0052).
CREATE POLICY idempotency_keys_rotation_read ON idempotency_keys FOR SELECT TO ocsuite_maintenance USING (true);
CREATE POLICY idempotency_keys_rotation ON idempotency_keys FOR UPDATE TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT UPDATE (response_sealed) ON idempotency_keys TO ocsuite_maintenance;
