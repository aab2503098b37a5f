-- Identity to production grade: login throttling, MFA, recovery codes, password
-- reset and email verification, API keys, external identities, step-up.

-- Signing-key rotation retires keys whose successor has signed longer than a token lives.
GRANT UPDATE (retired_at) ON signing_keys TO ocsuite_identity;

-- Failure counters for brute-force protection, keyed by a hash of the account
-- (so an unknown email is throttled exactly like a known one) or by client IP.
CREATE TABLE auth_throttle (
  key               text PRIMARY KEY CHECK (length(key) <= 200),
  failures          integer NOT NULL DEFAULT 0,
  window_started_at timestamptz NOT NULL DEFAULT now(),
  locked_until      timestamptz,
  updated_at        timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE auth_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_throttle FORCE ROW LEVEL SECURITY;
CREATE POLICY auth_throttle_identity ON auth_throttle TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_throttle TO ocsuite_identity;

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
GRANT UPDATE (email_verified_at) ON users TO ocsuite_identity;

-- TOTP: the seed is sealed under the master key (a platform secret: users span tenants).
-- last_step makes every code single-use (RFC 6238 §5.2).
CREATE TABLE user_mfa (
  user_id            uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  totp_secret_sealed text NOT NULL,
  confirmed_at       timestamptz,
  last_step          bigint,
  created_at         timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE user_mfa ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_mfa FORCE ROW LEVEL SECURITY;
-- A request manages only its own user's factor; login (identity role) reads and advances last_step.
CREATE POLICY user_mfa_self ON user_mfa TO ocsuite_runtime
  USING (user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid))
  WITH CHECK (user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid));
CREATE POLICY user_mfa_identity ON user_mfa TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (totp_secret_sealed, confirmed_at, last_step), DELETE ON user_mfa TO ocsuite_runtime;
GRANT SELECT, UPDATE (last_step) ON user_mfa TO ocsuite_identity;

CREATE TABLE mfa_recovery_codes (
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash  text NOT NULL,
  used_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, code_hash)
);
ALTER TABLE mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY mfa_recovery_codes_self ON mfa_recovery_codes TO ocsuite_runtime
  USING (user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid))
  WITH CHECK (user_id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid));
CREATE POLICY mfa_recovery_codes_identity ON mfa_recovery_codes TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON mfa_recovery_codes TO ocsuite_runtime;
GRANT SELECT, UPDATE (used_at) ON mfa_recovery_codes TO ocsuite_identity;

-- The second login step: a short-lived, single-use ticket proving the password step passed.
CREATE TABLE mfa_tickets (
  token_hash text PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
CREATE INDEX mfa_tickets_tenant_idx ON mfa_tickets (tenant_id);
ALTER TABLE mfa_tickets ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_tickets FORCE ROW LEVEL SECURITY;
CREATE POLICY mfa_tickets_identity ON mfa_tickets TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (used_at) ON mfa_tickets TO ocsuite_identity;

-- Password reset and email verification: random single-use tokens stored hashed.
CREATE TABLE user_tokens (
  token_hash text PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose    text NOT NULL CHECK (purpose IN ('password-reset', 'email-verification')),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_tokens_user_idx ON user_tokens (user_id, purpose);
ALTER TABLE user_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY user_tokens_identity ON user_tokens TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (used_at) ON user_tokens TO ocsuite_identity;

-- Sessions remember when MFA was last proven (step-up) and how the user authenticated.
ALTER TABLE sessions ADD COLUMN mfa_at timestamptz;
GRANT UPDATE (mfa_at) ON sessions TO ocsuite_runtime;
GRANT UPDATE (mfa_at) ON sessions TO ocsuite_identity;
-- Users see and end their own sessions; admins those of their tenant's members.
GRANT UPDATE (last_used_at) ON sessions TO ocsuite_identity;

-- Tenants may require MFA for admins and owners.
ALTER TABLE tenants ADD COLUMN mfa_required_for_admins boolean NOT NULL DEFAULT false;
CREATE POLICY tenants_runtime_update ON tenants FOR UPDATE TO ocsuite_runtime
  USING (id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
GRANT UPDATE (mfa_required_for_admins) ON tenants TO ocsuite_runtime;

-- API keys for machines: shown once, stored as SHA-256 of 256 random bits.
CREATE TABLE api_keys (
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  secret_hash  text NOT NULL UNIQUE,
  scopes       text[] NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 64),
  created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz,
  PRIMARY KEY (tenant_id, id)
);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_tenant ON api_keys TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY api_keys_identity ON api_keys TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (revoked_at) ON api_keys TO ocsuite_runtime;
GRANT SELECT, UPDATE (last_used_at) ON api_keys TO ocsuite_identity;

-- External OIDC: subjects linked to local users (by verified email, on first sight),
-- and external organisations mapped to local tenants by an operator.
CREATE TABLE external_identities (
  issuer     text NOT NULL,
  subject    text NOT NULL,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer, subject)
);
ALTER TABLE external_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE external_identities FORCE ROW LEVEL SECURITY;
CREATE POLICY external_identities_identity ON external_identities TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON external_identities TO ocsuite_identity;

CREATE TABLE external_tenants (
  issuer      text NOT NULL,
  external_id text NOT NULL,
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer, external_id)
);
CREATE INDEX external_tenants_tenant_idx ON external_tenants (tenant_id);
ALTER TABLE external_tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE external_tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY external_tenants_identity ON external_tenants TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT ON external_tenants TO ocsuite_identity;
