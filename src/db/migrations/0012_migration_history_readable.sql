-- `serve` (NODE_ENV=production) and `ocsuite doctor` check that no migration is pending with the
-- application's login, which is not the owner: it reads the history as the maintenance role.
-- (The owner's own policy is kept by src/db/migrate.ts: with RLS forced, a non-superuser owner
-- saw no rows and could not record a migration.)
GRANT SELECT ON ocsuite_schema_migrations TO ocsuite_maintenance;
CREATE POLICY ocsuite_schema_migrations_maintenance ON ocsuite_schema_migrations FOR SELECT TO ocsuite_maintenance USING (true);
