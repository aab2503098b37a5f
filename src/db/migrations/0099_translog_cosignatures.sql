-- Issue #22 §4: witness cosignatures (C2SP tlog-cosignature v1) stored next to
-- the checkpoint they sign. Only cosignatures that verified against a
-- configured witness key are written (by the push job or an operator, both as
-- the maintenance role); the checkpoint endpoints append their lines to the
-- signed note. Append-only like the checkpoints: one row per checkpoint and
-- witness key, the first valid cosignature kept.

CREATE TABLE translog_cosignatures (
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  size         bigint NOT NULL CHECK (size >= 0),
  witness      text NOT NULL CHECK (length(witness) BETWEEN 1 AND 300),
  key_id       text NOT NULL CHECK (key_id ~ '^[0-9a-f]{8}$'),
  signed_at    bigint NOT NULL CHECK (signed_at >= 0),
  line         text NOT NULL CHECK (length(line) <= 1000),
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, size, witness, key_id),
  FOREIGN KEY (tenant_id, size) REFERENCES translog_checkpoints (tenant_id, size)
);
COMMENT ON TABLE translog_cosignatures IS '@append-only verified witness cosignatures of each tenant log''s checkpoints';
SELECT ocsuite_enable_tenant_rls('translog_cosignatures');
-- The push job and operators write across tenants; reports read across tenants.
CREATE POLICY translog_cosignatures_maintenance ON translog_cosignatures TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT ON translog_cosignatures TO ocsuite_runtime;
GRANT SELECT, INSERT ON translog_cosignatures TO ocsuite_maintenance;
CREATE TRIGGER translog_cosignatures_append_only BEFORE UPDATE OR DELETE ON translog_cosignatures FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER translog_cosignatures_no_truncate BEFORE TRUNCATE ON translog_cosignatures FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE TABLE platform_translog_cosignatures (
  log          text NOT NULL DEFAULT 'platform' CHECK (log = 'platform'),
  size         bigint NOT NULL CHECK (size >= 0),
  witness      text NOT NULL CHECK (length(witness) BETWEEN 1 AND 300),
  key_id       text NOT NULL CHECK (key_id ~ '^[0-9a-f]{8}$'),
  signed_at    bigint NOT NULL CHECK (signed_at >= 0),
  line         text NOT NULL CHECK (length(line) <= 1000),
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (log, size, witness, key_id),
  FOREIGN KEY (log, size) REFERENCES platform_translog_checkpoints (log, size)
);
COMMENT ON TABLE platform_translog_cosignatures IS '@append-only verified witness cosignatures of the platform log''s checkpoints';
ALTER TABLE platform_translog_cosignatures ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_translog_cosignatures FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_translog_cosignatures_writers ON platform_translog_cosignatures TO ocsuite_identity, ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON platform_translog_cosignatures TO ocsuite_identity, ocsuite_maintenance;
CREATE TRIGGER platform_translog_cosignatures_append_only BEFORE UPDATE OR DELETE ON platform_translog_cosignatures FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER platform_translog_cosignatures_no_truncate BEFORE TRUNCATE ON platform_translog_cosignatures FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
