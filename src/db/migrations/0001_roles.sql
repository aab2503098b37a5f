-- Roles of DESIGN.md §4. Created once per cluster; none may log in, own tables
-- or bypass RLS. The application's login is granted membership and switches
-- into them per transaction with set_config('role', …, true).
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['ocsuite_runtime', 'ocsuite_identity', 'ocsuite_maintenance'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', r);
    END IF;
  END LOOP;
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ocsuite_runtime, ocsuite_identity, ocsuite_maintenance;

-- The migration history is for the owner only: RLS forced and no policy.
ALTER TABLE ocsuite_schema_migrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE ocsuite_schema_migrations FORCE ROW LEVEL SECURITY;
