-- Tenant deletion (crypto-shredding) also erases the tenant's dead letters, whose payloads are
-- the tenant's data in clear (src/modules/tenants/deletion.ts).
GRANT DELETE ON job_dead_letters TO ocsuite_maintenance;
