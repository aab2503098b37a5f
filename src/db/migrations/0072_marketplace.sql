-- Marketplace installs (issue #16 §3): one row per install of a catalogued module in a tenant, with
-- what it was granted (exactly the module's declared permissions and event types) and the machine
-- credential it acts with. Uninstalling revokes the credential in the same transaction; the row stays
-- as the record of what the module held and when.
CREATE TABLE marketplace_installs (
  tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  module_key     text NOT NULL CHECK (module_key ~ '^[a-z][a-z0-9-]{1,62}$'),
  module_version text NOT NULL CHECK (length(module_version) BETWEEN 1 AND 40),
  scopes         text[] NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 64),
  events         text[] NOT NULL DEFAULT '{}' CHECK (cardinality(events) <= 64),
  credential_id  uuid NOT NULL,
  installed_by   uuid REFERENCES users (id) ON DELETE SET NULL,
  installed_at   timestamptz NOT NULL DEFAULT now(),
  uninstalled_by uuid REFERENCES users (id) ON DELETE SET NULL,
  uninstalled_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, credential_id) REFERENCES api_keys (tenant_id, id)
);
-- At most one live install of a module per tenant.
CREATE UNIQUE INDEX marketplace_installs_live_key ON marketplace_installs (tenant_id, module_key) WHERE uninstalled_at IS NULL;
CREATE INDEX marketplace_installs_page_idx ON marketplace_installs (tenant_id, installed_at DESC, id DESC);
SELECT ocsuite_enable_tenant_rls('marketplace_installs');
SELECT ocsuite_enable_tenant_erasure('marketplace_installs');

-- What an install was granted never changes, and an uninstall is final (a reinstall is a new row
-- with a new credential). Nulling a person out (erasure, a deleted account) is allowed.
CREATE FUNCTION marketplace_installs_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF NEW.module_key <> OLD.module_key OR NEW.scopes <> OLD.scopes OR NEW.events <> OLD.events OR NEW.credential_id <> OLD.credential_id
     OR (OLD.uninstalled_at IS NOT NULL AND NEW.uninstalled_at IS DISTINCT FROM OLD.uninstalled_at)
     OR (NEW.installed_by IS NOT NULL AND NEW.installed_by IS DISTINCT FROM OLD.installed_by) THEN
    RAISE EXCEPTION 'an install''s grant does not change, and an uninstall is final' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION marketplace_installs_guard() FROM PUBLIC;
CREATE TRIGGER marketplace_installs_guard BEFORE UPDATE ON marketplace_installs FOR EACH ROW EXECUTE FUNCTION marketplace_installs_guard();

GRANT SELECT, INSERT, UPDATE (installed_by, uninstalled_by, uninstalled_at) ON marketplace_installs TO ocsuite_runtime;
