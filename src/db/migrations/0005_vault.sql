-- Secrets vault (issue #5, docs/security/encryption-key-rotation.md): the
-- master keys a database has seen, tenant data keys with versions, rotation
-- runs, the connectors module, and tenant deletion by crypto-shredding.
--
-- Key management spans tenants, so it runs as ocsuite_maintenance (the CLI and
-- the scheduled rotation job alike). The runtime role never gets cross-tenant
-- access: it reads and creates its own tenant's data key through RLS, nothing
-- more. The maintenance role reads ciphertext and wrapped keys only; opening
-- them needs the master keys, which live outside the database.

-- ─── Master keys ────────────────────────────────────────────────────────────
-- One row per master key id ever configured. first_seen_at gives key ages
-- (doctor, /metrics, rotation schedule); retired_at is set by `ocsuite keys
-- retire` once nothing depends on the key, and every process then refuses it.
CREATE TABLE master_keys (
  id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,32}$'),
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  retired_at    timestamptz
);
ALTER TABLE master_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE master_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY master_keys_maintenance ON master_keys TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (retired_at) ON master_keys TO ocsuite_maintenance;

-- ─── Tenant data keys ───────────────────────────────────────────────────────
-- Envelope level two: one data key per tenant and version, wrapped by a master
-- key (`okw1.<masterKeyId>.…`, AAD = tenant + version + master key id). One
-- version is active (new seals); `previous` versions still open values until a
-- data-key rotation has re-encrypted them, then they are destroyed (the
-- wrapped key is erased). Deleting every version of a tenant crypto-shreds it.
CREATE TABLE tenant_data_keys (
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  version      integer NOT NULL CHECK (version >= 1),
  state        text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'previous', 'destroyed')),
  wrapped_key  text CHECK (wrapped_key ~ '^okw1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]+$'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  destroyed_at timestamptz,
  PRIMARY KEY (tenant_id, version),
  CHECK ((state = 'destroyed') = (wrapped_key IS NULL))
);
CREATE UNIQUE INDEX tenant_data_keys_one_active ON tenant_data_keys (tenant_id) WHERE state = 'active';
-- The scheduled rotation and the key-age gauge look for the oldest active keys.
CREATE INDEX tenant_data_keys_active_age_idx ON tenant_data_keys (created_at) WHERE state = 'active';
ALTER TABLE tenant_data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_data_keys_tenant ON tenant_data_keys TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY tenant_data_keys_maintenance ON tenant_data_keys TO ocsuite_maintenance USING (true) WITH CHECK (true);
-- A request may create its tenant's first key (state defaults to active; no grant on state),
-- never change or remove one.
GRANT SELECT, INSERT (tenant_id, version, wrapped_key) ON tenant_data_keys TO ocsuite_runtime;
GRANT SELECT, INSERT, UPDATE (state, wrapped_key, destroyed_at), DELETE ON tenant_data_keys TO ocsuite_maintenance;

-- ─── Rotation runs ──────────────────────────────────────────────────────────
-- What `ocsuite keys rotate-*` and the scheduled job are doing or did. The work
-- itself is found from the data (every value not under the target key), so a
-- killed run resumes by running again; a run row keeps the cutoff of a
-- `--all` rotation so a resumed run does not rotate tenants it already did.
CREATE TABLE key_rotation_runs (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind        text NOT NULL CHECK (kind IN ('master', 'tenants')),
  target      text NOT NULL CHECK (length(target) BETWEEN 1 AND 100),
  cutoff      timestamptz,
  started_by  text NOT NULL CHECK (length(started_by) BETWEEN 1 AND 200),
  started_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  outcome     text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'completed', 'failed')),
  progress    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX key_rotation_runs_open_idx ON key_rotation_runs (kind, target) WHERE finished_at IS NULL;
ALTER TABLE key_rotation_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE key_rotation_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY key_rotation_runs_maintenance ON key_rotation_runs TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (updated_at, finished_at, outcome, progress) ON key_rotation_runs TO ocsuite_maintenance;

-- ─── Platform secrets sealed under the master key ───────────────────────────
-- Master-key rotation reseals them (src/kernel/crypto/sealed-columns.ts lists
-- every sealed column); the maintenance role reads and swaps ciphertext only.
CREATE POLICY signing_keys_maintenance ON signing_keys TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT (kid, private_key_sealed), UPDATE (private_key_sealed) ON signing_keys TO ocsuite_maintenance;
CREATE POLICY translog_keys_maintenance ON translog_keys TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT (key_id, private_key_sealed), UPDATE (private_key_sealed) ON translog_keys TO ocsuite_maintenance;

-- ─── Connectors ─────────────────────────────────────────────────────────────
-- Third-party credentials of a tenant. The secret is sealed with the tenant's
-- data key (AAD: tenant, table, column, connector id, data-key version); the
-- API shows only its fingerprint and last four characters.
CREATE TABLE connectors (
  tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                 uuid NOT NULL,
  name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  provider           text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
  kind               text NOT NULL CHECK (kind IN ('oauth_refresh_token', 'api_key')),
  scopes             text[] NOT NULL DEFAULT '{}' CHECK (cardinality(scopes) <= 64),
  metadata           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object' AND length(metadata::text) <= 8192),
  secret_sealed      text NOT NULL CHECK (secret_sealed ~ '^osv1\.[1-9][0-9]*\.[A-Za-z0-9_-]+$'),
  secret_fingerprint text NOT NULL CHECK (secret_fingerprint ~ '^sha256:[0-9a-f]{16}$'),
  secret_last_four   text NOT NULL CHECK (length(secret_last_four) <= 4),
  secret_updated_at  timestamptz NOT NULL DEFAULT now(),
  last_used_at       timestamptz,
  created_by         uuid REFERENCES users (id) ON DELETE SET NULL,
  updated_by         uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX connectors_list_idx ON connectors (tenant_id, created_at, id);
ALTER TABLE connectors ENABLE ROW LEVEL SECURITY;
ALTER TABLE connectors FORCE ROW LEVEL SECURITY;
CREATE POLICY connectors_tenant ON connectors TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY connectors_maintenance ON connectors TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT, INSERT,
  UPDATE (name, scopes, metadata, secret_sealed, secret_fingerprint, secret_last_four, secret_updated_at, last_used_at, updated_by, updated_at),
  DELETE ON connectors TO ocsuite_runtime;
-- Rotation swaps ciphertext; tenant deletion erases the rows.
GRANT SELECT (tenant_id, id, secret_sealed), UPDATE (secret_sealed), DELETE ON connectors TO ocsuite_maintenance;

-- ─── Tenant deletion ────────────────────────────────────────────────────────
-- A deleted tenant stays as a tombstone (status suspended, deleted_at set):
-- its audit log is append-only and references it. Its data keys are destroyed
-- in the same transaction, so whatever was sealed for it is unreadable.
ALTER TABLE tenants ADD COLUMN deleted_at timestamptz;
CREATE POLICY tenants_maintenance ON tenants TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT (id, name, status, created_at, deleted_at), UPDATE (name, status, deleted_at) ON tenants TO ocsuite_maintenance;
