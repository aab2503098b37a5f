-- Personal data of audit events kept beside the log, not in it (issue #16 §6, docs/privacy.md).
--
-- An event that names a person (an invited address, an API key's name) stores in its hashed leaf
-- only `metadata.personal` = hex SHA-256(salt || canonical JSON of the fields); the salt and the
-- cleartext fields live here, one row per event. Data-subject erasure deletes the row: the leaf,
-- the tree and every signed checkpoint stay exactly as they were (the log still verifies), and the
-- commitment left behind cannot be tested against a guessed address once its salt is gone.
CREATE TABLE audit_personal (
  tenant_id       uuid NOT NULL REFERENCES tenants (id),
  event_id        uuid NOT NULL,
  -- Whom the fields are about, to find them on erasure: the person's user id and/or address.
  subject_user_id uuid,
  subject_email   text CHECK (length(subject_email) <= 320),
  salt            bytea NOT NULL CHECK (length(salt) = 16),
  fields          jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, event_id),
  FOREIGN KEY (tenant_id, event_id) REFERENCES audit_events (tenant_id, id)
);
CREATE INDEX audit_personal_user_idx ON audit_personal (tenant_id, subject_user_id);
CREATE INDEX audit_personal_email_idx ON audit_personal (tenant_id, lower(subject_email));
SELECT ocsuite_enable_tenant_rls('audit_personal');
SELECT ocsuite_enable_tenant_erasure('audit_personal');
-- Events are also recorded before a tenant context exists (invitation acceptance, login).
CREATE POLICY audit_personal_identity ON audit_personal TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON audit_personal TO ocsuite_runtime;
GRANT SELECT, INSERT, DELETE ON audit_personal TO ocsuite_identity;
GRANT SELECT ON audit_personal TO ocsuite_maintenance;
