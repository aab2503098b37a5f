-- Tenants, users, memberships, sessions, refresh tokens, invitations, signing keys.
-- Tenant tables: RLS enabled and forced, USING and WITH CHECK on the tenant set
-- by withTenant; no tenant set means no rows. The identity role serves the flows
-- that run before a tenant is known (signup, login, refresh, invitation
-- acceptance) and is granted these identity tables only, never module tables.

CREATE TABLE tenants (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_runtime ON tenants FOR SELECT TO ocsuite_runtime
  USING (id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY tenants_identity ON tenants TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT ON tenants TO ocsuite_runtime;
GRANT SELECT, INSERT ON tenants TO ocsuite_identity;

CREATE TABLE users (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email            text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  email_normalized text GENERATED ALWAYS AS (lower(email)) STORED,
  password_hash    text,
  display_name     text CHECK (length(display_name) <= 200),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_normalized_key ON users (email_normalized);
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;

CREATE TABLE memberships (
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY memberships_tenant ON memberships TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY memberships_identity ON memberships TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE, DELETE ON memberships TO ocsuite_runtime;
GRANT SELECT, INSERT ON memberships TO ocsuite_identity;

-- A runtime request sees itself and the members of its tenant, nobody else.
CREATE POLICY users_runtime ON users FOR SELECT TO ocsuite_runtime
  USING (
    id = (SELECT nullif(current_setting('app.user_id', true), '')::uuid)
    OR EXISTS (
      SELECT 1 FROM memberships m
      WHERE m.user_id = users.id
        AND m.tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid)
    )
  );
CREATE POLICY users_identity ON users TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT ON users TO ocsuite_runtime;
GRANT SELECT, INSERT, UPDATE (password_hash, display_name, updated_at) ON users TO ocsuite_identity;

-- A tenant always keeps an owner: the database refuses the change that would remove the last one.
CREATE FUNCTION memberships_keep_an_owner() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF OLD.role = 'owner' AND (TG_OP = 'DELETE' OR NEW.role <> 'owner')
     AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = OLD.tenant_id)
     AND NOT EXISTS (
       SELECT 1 FROM memberships m
       WHERE m.tenant_id = OLD.tenant_id AND m.role = 'owner' AND m.user_id <> OLD.user_id
     ) THEN
    RAISE EXCEPTION 'a tenant must keep at least one owner' USING ERRCODE = 'OC001';
  END IF;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER memberships_keep_an_owner
  AFTER UPDATE OR DELETE ON memberships DEFERRABLE INITIALLY IMMEDIATE
  FOR EACH ROW EXECUTE FUNCTION memberships_keep_an_owner();

-- A session is one login (the `sid` claim); each refresh rotates its refresh token.
CREATE TABLE sessions (
  tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  last_used_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at     timestamptz,
  revoked_reason text,
  user_agent     text,
  ip             text,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (id)
);
CREATE INDEX sessions_tenant_user_idx ON sessions (tenant_id, user_id);
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY sessions_tenant ON sessions TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY sessions_identity ON sessions TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE (revoked_at, revoked_reason) ON sessions TO ocsuite_runtime;
GRANT SELECT, INSERT, UPDATE (last_used_at, revoked_at, revoked_reason) ON sessions TO ocsuite_identity;

-- Refresh tokens are stored as SHA-256 of 256 random bits; the token itself is shown once.
CREATE TABLE refresh_tokens (
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  token_hash  text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (tenant_id, session_id);
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_identity ON refresh_tokens TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (used_at) ON refresh_tokens TO ocsuite_identity;

CREATE TABLE invitations (
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
  token_hash  text NOT NULL UNIQUE,
  invited_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
  revoked_at  timestamptz,
  PRIMARY KEY (tenant_id, id)
);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_tenant ON invitations TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY invitations_identity ON invitations TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (revoked_at) ON invitations TO ocsuite_runtime;
GRANT SELECT, UPDATE (accepted_at, accepted_by) ON invitations TO ocsuite_identity;

-- Signing keys of the built-in token issuer: private halves sealed under the master key.
CREATE TABLE signing_keys (
  kid                text PRIMARY KEY,
  alg                text NOT NULL CHECK (alg = 'EdDSA'),
  public_jwk         jsonb NOT NULL,
  private_key_sealed text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  retired_at         timestamptz
);
ALTER TABLE signing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE signing_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY signing_keys_identity ON signing_keys TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON signing_keys TO ocsuite_identity;
