-- Issue #22 §3: the log signing key rotates.
-- At rotation the old key's row gets `retired_at`, and for every log the
-- largest size it had signed is recorded here: a checkpoint signed by a
-- retired key for a larger size (or for a log it never signed) was made after
-- its retirement and is refused by verifiers. Rows are written once, in the
-- rotation's transaction, and never change.
CREATE TABLE translog_key_retirements (
  key_id    text NOT NULL REFERENCES translog_keys (key_id),
  log       text NOT NULL CHECK (log = 'platform' OR log ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
  last_size bigint NOT NULL CHECK (last_size >= 0),
  PRIMARY KEY (key_id, log)
);
COMMENT ON TABLE translog_key_retirements IS '@append-only per log, the last tree size a retired log key signed';
ALTER TABLE translog_key_retirements ENABLE ROW LEVEL SECURITY;
ALTER TABLE translog_key_retirements FORCE ROW LEVEL SECURITY;
CREATE TRIGGER translog_key_retirements_append_only BEFORE UPDATE OR DELETE ON translog_key_retirements FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER translog_key_retirements_no_truncate BEFORE TRUNCATE ON translog_key_retirements FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE POLICY translog_key_retirements_identity ON translog_key_retirements TO ocsuite_identity USING (true) WITH CHECK (true);
CREATE POLICY translog_key_retirements_maintenance ON translog_key_retirements TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT ON translog_key_retirements TO ocsuite_identity;
GRANT SELECT, INSERT ON translog_key_retirements TO ocsuite_maintenance;

-- The rotation runs as the maintenance role (it reads every log's checkpoints).
GRANT SELECT, INSERT, UPDATE (retired_at) ON translog_keys TO ocsuite_maintenance;
-- Signing checks, in its own transaction, that its key is still the active one
-- (a process holding a retired key re-reads the key instead of signing). The
-- runtime role signs tenant checkpoints but has no access to translog_keys:
-- it asks this function, which answers one boolean about a public key id.
CREATE POLICY translog_keys_owner ON translog_keys FOR SELECT TO CURRENT_USER USING (true);
CREATE FUNCTION translog_key_is_active(id text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM translog_keys WHERE key_id = id AND retired_at IS NULL)
$$;
REVOKE ALL ON FUNCTION translog_key_is_active(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION translog_key_is_active(text) TO ocsuite_runtime, ocsuite_identity, ocsuite_maintenance;
