-- Tenant isolation written once. A new tenant table gets it with
--   SELECT ocsuite_enable_tenant_rls('my_table');
-- plus its grants (docs/security/tenancy.md). Earlier migrations keep their hand-written
-- policies: applied migrations are history and never change.

-- The request's tenant and user, set transaction-locally by withTenant / queryAsTenant; NULL when
-- unset, and `tenant_id = NULL` matches no row. Policies call them as `(SELECT …)`, so PostgreSQL
-- evaluates them once per statement (an InitPlan) and the index on tenant_id still serves.
-- SQL-standard bodies (RETURN) are parsed once, here, and stored with every name resolved, so no
-- caller's search_path can change what they call. No SET search_path clause on purpose: it would
-- stop the planner from inlining them and add a function call to every statement.
CREATE FUNCTION ocsuite_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
RETURN nullif(current_setting('app.tenant_id', true), '')::uuid;

CREATE FUNCTION ocsuite_current_user() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
RETURN nullif(current_setting('app.user_id', true), '')::uuid;

REVOKE ALL ON FUNCTION ocsuite_current_tenant(), ocsuite_current_user() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocsuite_current_tenant(), ocsuite_current_user()
  TO ocsuite_runtime, ocsuite_identity, ocsuite_maintenance;

-- RLS enabled and forced, and the policy `<table>_tenant` for the runtime role with USING and
-- WITH CHECK on the tenant: the form the schema lint (src/db/lint.ts) accepts. For the owner
-- who migrates only (ALTER TABLE needs ownership anyway).
CREATE FUNCTION ocsuite_enable_tenant_rls(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format(
    'CREATE POLICY %I ON %s TO ocsuite_runtime'
    ' USING (tenant_id = (SELECT ocsuite_current_tenant()))'
    ' WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()))',
    (SELECT relname || '_tenant' FROM pg_class WHERE oid = tbl), tbl);
END
$$;

REVOKE ALL ON FUNCTION ocsuite_enable_tenant_rls(regclass) FROM PUBLIC;
