-- Tenant deletion erases every module table of the tenant (issue #11 §2): each
-- module's eraseTenant hook runs in one transaction as the maintenance role
-- with the tenant set. The shared helper below gives a table the one policy
-- that allows it, and only for a tenant that is already deleted: the erasure
-- path cannot be turned against a live tenant, whatever the code above it does.

-- Whether the transaction's tenant is deleted (a tombstone). Evaluated once per statement in policies.
CREATE FUNCTION ocsuite_current_tenant_deleted() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = public.ocsuite_current_tenant() AND t.deleted_at IS NOT NULL);

REVOKE ALL ON FUNCTION ocsuite_current_tenant_deleted() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocsuite_current_tenant_deleted() TO ocsuite_maintenance;

-- The erasure policy `<table>_erasure` for the maintenance role: it sees and deletes rows of the
-- transaction's tenant once that tenant is deleted, and can write none (WITH CHECK false).
CREATE FUNCTION ocsuite_enable_tenant_erasure(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  EXECUTE format(
    'CREATE POLICY %I ON %s TO ocsuite_maintenance'
    ' USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (SELECT ocsuite_current_tenant_deleted()))'
    ' WITH CHECK (false)',
    (SELECT relname || '_erasure' FROM pg_class WHERE oid = tbl), tbl);
  EXECUTE format('GRANT SELECT, DELETE ON %s TO ocsuite_maintenance', tbl);
END
$$;
REVOKE ALL ON FUNCTION ocsuite_enable_tenant_erasure(regclass) FROM PUBLIC;

-- The module tables of today (connectors and the jobs tables already grant the maintenance role more).
SELECT ocsuite_enable_tenant_erasure('knowledge_entries');
SELECT ocsuite_enable_tenant_erasure('memberships');
SELECT ocsuite_enable_tenant_erasure('sessions');
SELECT ocsuite_enable_tenant_erasure('refresh_tokens');
SELECT ocsuite_enable_tenant_erasure('invitations');
SELECT ocsuite_enable_tenant_erasure('api_keys');
SELECT ocsuite_enable_tenant_erasure('mfa_tickets');
SELECT ocsuite_enable_tenant_erasure('external_tenants');
SELECT ocsuite_enable_tenant_erasure('tenant_roles');
SELECT ocsuite_enable_tenant_erasure('member_roles');
GRANT DELETE ON job_completions TO ocsuite_maintenance;
