-- Two owners demoting (or removing) each other at the same time each saw the
-- other still an owner and both committed: a tenant without owners (write skew
-- under READ COMMITTED). Owner removals now take a per-tenant lock first, so
-- the second one's check reads what the first committed and is refused.
CREATE OR REPLACE FUNCTION memberships_keep_an_owner() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF OLD.role = 'owner' AND (TG_OP = 'DELETE' OR NEW.role <> 'owner') THEN
    PERFORM pg_advisory_xact_lock(hashtext('ocsuite:tenant-owners'), hashtext(OLD.tenant_id::text));
    IF EXISTS (SELECT 1 FROM tenants t WHERE t.id = OLD.tenant_id)
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
