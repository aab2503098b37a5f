-- DiscourseConnect provider (issue #17 §1): one configuration per tenant, and the nonces seen.
-- The shared secret, the per-tenant external_id key and the optional admin API key are sealed
-- with the tenant data key (AAD names this row); none is ever read back by the API.
CREATE TABLE discourse_integrations (
  tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                 uuid NOT NULL DEFAULT gen_random_uuid(),
  origin             text NOT NULL CHECK (origin ~ '^https?://[^/?#@]+$' AND length(origin) <= 300),
  secret_sealed      text NOT NULL CHECK (secret_sealed ~ '^osv1\.[1-9][0-9]*\.[A-Za-z0-9_-]+$'),
  secret_fingerprint text NOT NULL CHECK (secret_fingerprint ~ '^hmac:[0-9a-f]{16}$'),
  id_key_sealed      text NOT NULL CHECK (id_key_sealed ~ '^osv1\.[1-9][0-9]*\.[A-Za-z0-9_-]+$'),
  group_mapping      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(group_mapping) = 'array' AND length(group_mapping::text) <= 32768),
  admin_grants       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(admin_grants) = 'array' AND length(admin_grants::text) <= 8192),
  moderator_grants   jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(moderator_grants) = 'array' AND length(moderator_grants::text) <= 8192),
  api_key_sealed     text CHECK (api_key_sealed ~ '^osv1\.[1-9][0-9]*\.[A-Za-z0-9_-]+$'),
  api_username       text CHECK (length(api_username) BETWEEN 1 AND 60),
  created_by         uuid REFERENCES users (id) ON DELETE SET NULL,
  updated_by         uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT discourse_integrations_api_pair CHECK ((api_key_sealed IS NULL) = (api_username IS NULL))
);
CREATE UNIQUE INDEX discourse_integrations_one_per_tenant ON discourse_integrations (tenant_id);
SELECT ocsuite_enable_tenant_rls('discourse_integrations');
SELECT ocsuite_enable_tenant_erasure('discourse_integrations');
GRANT SELECT, INSERT,
  UPDATE (origin, secret_sealed, secret_fingerprint, group_mapping, admin_grants, moderator_grants, api_key_sealed, api_username, updated_by, updated_at),
  DELETE ON discourse_integrations TO ocsuite_runtime;
-- Data-key rotation swaps the ciphertexts (src/kernel/crypto/sealed-columns.ts walks them).
CREATE POLICY discourse_integrations_maintenance ON discourse_integrations TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT (tenant_id, id, secret_sealed, id_key_sealed, api_key_sealed), UPDATE (secret_sealed, id_key_sealed, api_key_sealed)
  ON discourse_integrations TO ocsuite_maintenance;

-- Nonces of DiscourseConnect requests: first seen (the 10-minute window starts there), used once.
-- Stored as a SHA-256 hash; rows older than a day are pruned on write.
CREATE TABLE discourse_nonces (
  tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  nonce_hash    text NOT NULL CHECK (nonce_hash ~ '^[0-9a-f]{64}$'),
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  used_at       timestamptz,
  PRIMARY KEY (tenant_id, nonce_hash)
);
CREATE INDEX discourse_nonces_age_idx ON discourse_nonces (tenant_id, first_seen_at);
SELECT ocsuite_enable_tenant_rls('discourse_nonces');
SELECT ocsuite_enable_tenant_erasure('discourse_nonces');
GRANT SELECT, INSERT, UPDATE (used_at), DELETE ON discourse_nonces TO ocsuite_runtime;
