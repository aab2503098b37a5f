-- Signup without oracles (issue #22 §1).
--
-- With OCSUITE_SIGNUP_CONFIRMATION=email a signup only records a request and mails a link; the
-- account and tenant are created when the link is followed. A request for an address that already
-- has an account names that user and carries no password: its link asks for the password (and every
-- factor) before anything is created.
CREATE TABLE signup_requests (
  token_hash    text PRIMARY KEY,
  email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  tenant_name   text NOT NULL CHECK (length(tenant_name) BETWEEN 1 AND 200),
  password_hash text,
  user_id       uuid REFERENCES users (id) ON DELETE CASCADE,
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  -- A new account brings its password hash; an existing one proves its own password later.
  CHECK ((user_id IS NULL) = (password_hash IS NOT NULL))
);
CREATE INDEX signup_requests_expiry_idx ON signup_requests (expires_at);
ALTER TABLE signup_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE signup_requests FORCE ROW LEVEL SECURITY;
CREATE POLICY signup_requests_identity ON signup_requests TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (used_at) ON signup_requests TO ocsuite_identity;

-- An existing account with a second factor that opens another tenant gets a ticket for the
-- tenant it asked for, not a tenant: the tenant is created when the second factor is proved.
ALTER TABLE mfa_tickets ALTER COLUMN tenant_id DROP NOT NULL;
ALTER TABLE mfa_tickets ADD COLUMN signup_tenant_name text CHECK (length(signup_tenant_name) BETWEEN 1 AND 200);
ALTER TABLE mfa_tickets ADD CONSTRAINT mfa_tickets_tenant_or_signup CHECK ((tenant_id IS NULL) = (signup_tenant_name IS NOT NULL));

-- Expired requests are removed as new ones arrive: an address nobody confirmed is not kept.
GRANT DELETE ON signup_requests TO ocsuite_identity;
