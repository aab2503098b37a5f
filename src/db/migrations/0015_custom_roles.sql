-- Tenant-defined roles (issue #11 §4): a custom role is a named set of catalogued
-- permissions; a member holds at most one built-in role (memberships.role, now
-- optional) and any number of custom roles (member_roles). Permissions are
-- resolved from these rows on every session check, so a change reaches live
-- sessions within the 5 s session bound.

ALTER TABLE memberships ALTER COLUMN role DROP NOT NULL;

-- The last-owner rule, kept for a role that becomes NULL (`NULL <> 'owner'` is not true, so the
-- old check would let the last owner be demoted to "no built-in role"), and lifted for a deleted
-- tenant, whose memberships tenant deletion erases.
CREATE OR REPLACE FUNCTION memberships_keep_an_owner() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF OLD.role = 'owner' AND (TG_OP = 'DELETE' OR NEW.role IS DISTINCT FROM 'owner') THEN
    PERFORM pg_advisory_xact_lock(hashtext('ocsuite:tenant-owners'), hashtext(OLD.tenant_id::text));
    IF EXISTS (SELECT 1 FROM tenants t WHERE t.id = OLD.tenant_id AND t.deleted_at IS NULL)
       AND NOT EXISTS (
         SELECT 1 FROM memberships m
         WHERE m.tenant_id = OLD.tenant_id AND m.role = 'owner' AND m.user_id <> OLD.user_id
       ) THEN
      RAISE EXCEPTION 'a tenant must keep at least one owner' USING ERRCODE = 'OC001';
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TABLE tenant_roles (
  tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  -- Built-in names are reserved: a custom "Owner" must not be mistaken for the real one.
  name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$' AND lower(name) NOT IN ('owner', 'admin', 'member', 'viewer')),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  permissions text[] NOT NULL CHECK (cardinality(permissions) BETWEEN 1 AND 200),
  created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tenant_roles_name_key ON tenant_roles (tenant_id, lower(name));
SELECT ocsuite_enable_tenant_rls('tenant_roles');
GRANT SELECT, INSERT, UPDATE (name, description, permissions, updated_at), DELETE ON tenant_roles TO ocsuite_runtime;

CREATE TABLE member_roles (
  tenant_id  uuid NOT NULL,
  user_id    uuid NOT NULL,
  role_id    uuid NOT NULL,
  granted_by uuid REFERENCES users (id) ON DELETE SET NULL,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, role_id),
  FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE,
  -- A role in use cannot be deleted (the API answers 409 role-in-use before this fires).
  FOREIGN KEY (tenant_id, role_id) REFERENCES tenant_roles (tenant_id, id) ON DELETE RESTRICT
);
CREATE INDEX member_roles_role_idx ON member_roles (tenant_id, role_id);
SELECT ocsuite_enable_tenant_rls('member_roles');
GRANT SELECT, INSERT, DELETE ON member_roles TO ocsuite_runtime;

-- API keys act for their creator: the key lookup (identity role, before a tenant is known) reads the
-- creator's custom roles to narrow the key's scopes.
CREATE POLICY tenant_roles_identity ON tenant_roles FOR SELECT TO ocsuite_identity USING (true);
CREATE POLICY member_roles_identity ON member_roles FOR SELECT TO ocsuite_identity USING (true);
GRANT SELECT ON tenant_roles, member_roles TO ocsuite_identity;
