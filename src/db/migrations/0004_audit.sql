-- Audit trail, transparency logs and access logs (issue #4, docs/security/audit.md).
--
-- Two table families hold audit logs: each tenant's log (tenant_id, RLS-scoped
-- like every tenant table) and the platform log (platform_*, keyed by the
-- constant log = 'platform', no runtime grants at all). Each event row is a
-- leaf of its log (leaf_index, leaf_hash); complete internal nodes of the
-- RFC 6962 tree are stored once; the head row holds size, root and peaks.
-- Events, nodes, checkpoints and access logs are append-only: the roles get
-- INSERT and SELECT, and triggers refuse UPDATE, DELETE and TRUNCATE from
-- anyone (access logs: DELETE of old rows by the maintenance role only).

CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  RAISE EXCEPTION '% on % refused: the table is append-only', TG_OP, TG_TABLE_NAME USING ERRCODE = 'OC002';
END
$$;

-- Retention: only the maintenance role deletes access-log lines, and only lines older than a day.
CREATE FUNCTION access_logs_guard_delete() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_user = 'ocsuite_maintenance' AND OLD.at < now() - interval '1 day' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% on % refused: access logs are append-only except retention pruning', TG_OP, TG_TABLE_NAME USING ERRCODE = 'OC002';
END
$$;

-- ─── Tenant logs ────────────────────────────────────────────────────────────

CREATE TABLE audit_events (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  leaf_index  bigint NOT NULL CHECK (leaf_index >= 0),
  leaf_hash   bytea NOT NULL CHECK (length(leaf_hash) = 32),
  id          uuid NOT NULL,
  occurred_at timestamptz NOT NULL,
  actor_type  text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'operator', 'system')),
  actor_id    text CHECK (length(actor_id) <= 200),
  action      text NOT NULL CHECK (length(action) BETWEEN 3 AND 100),
  target_type text CHECK (length(target_type) <= 100),
  target_id   text CHECK (length(target_id) <= 200),
  outcome     text NOT NULL CHECK (outcome IN ('success', 'failure')),
  reason      text CHECK (length(reason) <= 600),
  metadata    jsonb NOT NULL DEFAULT '{}',
  ip          text CHECK (length(ip) <= 100),
  user_agent  text CHECK (length(user_agent) <= 600),
  request_id  text CHECK (length(request_id) <= 200),
  PRIMARY KEY (tenant_id, leaf_index),
  UNIQUE (tenant_id, id)
);
CREATE INDEX audit_events_time_idx ON audit_events (tenant_id, occurred_at);
COMMENT ON TABLE audit_events IS '@append-only audit events; each row is a leaf of its tenant''s transparency log';

CREATE TABLE translog_nodes (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  level     smallint NOT NULL CHECK (level BETWEEN 1 AND 63),
  idx       bigint NOT NULL CHECK (idx >= 0),
  hash      bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (tenant_id, level, idx)
);
COMMENT ON TABLE translog_nodes IS '@append-only complete internal nodes (level >= 1) of each tenant''s RFC 6962 tree';

CREATE TABLE translog_heads (
  tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
  size       bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
  root       bytea CHECK (length(root) = 32),
  peaks      bytea NOT NULL DEFAULT '\x'::bytea CHECK (length(peaks) % 32 = 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE translog_heads IS 'current head of each tenant log (a cache; signed checkpoints are the commitment)';

CREATE TABLE translog_checkpoints (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  size       bigint NOT NULL CHECK (size >= 0),
  root       bytea NOT NULL CHECK (length(root) = 32),
  note       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, size)
);
COMMENT ON TABLE translog_checkpoints IS '@append-only signed checkpoints (C2SP signed notes) of each tenant log';

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['audit_events', 'translog_nodes', 'translog_heads', 'translog_checkpoints'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY %I ON %I TO ocsuite_runtime
      USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
      WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))$p$, t || '_tenant', t);
    -- Login, signup, refresh and invitation acceptance run before a tenant context exists.
    EXECUTE format('CREATE POLICY %I ON %I TO ocsuite_identity USING (true) WITH CHECK (true)', t || '_identity', t);
    -- Reports, verification and checkpoint publication read across tenants.
    EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO ocsuite_maintenance USING (true)', t || '_maintenance_read', t);
    EXECUTE format('GRANT SELECT ON %I TO ocsuite_maintenance', t);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['audit_events', 'translog_nodes', 'translog_checkpoints'] LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()', t || '_append_only', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()', t || '_no_truncate', t);
  END LOOP;
  -- Heads move forward by UPDATE; they are never deleted.
  CREATE TRIGGER translog_heads_keep BEFORE DELETE ON translog_heads FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
  CREATE TRIGGER translog_heads_no_truncate BEFORE TRUNCATE ON translog_heads FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
END
$$;

GRANT SELECT, INSERT ON audit_events, translog_nodes, translog_checkpoints TO ocsuite_runtime;
GRANT SELECT, INSERT, UPDATE (size, root, peaks, updated_at) ON translog_heads TO ocsuite_runtime;
GRANT INSERT ON audit_events, translog_nodes TO ocsuite_identity;
GRANT SELECT, INSERT, UPDATE (size, root, peaks, updated_at) ON translog_heads TO ocsuite_identity;
-- Checkpoint publication (maintenance) signs every tenant's head.
CREATE POLICY translog_checkpoints_maintenance_write ON translog_checkpoints FOR INSERT TO ocsuite_maintenance WITH CHECK (true);
GRANT INSERT ON translog_checkpoints TO ocsuite_maintenance;

-- ─── The platform log ───────────────────────────────────────────────────────
-- Operator and system actions, failures before a tenant is known, retention
-- runs. Keyed by the constant log = 'platform'; the runtime role has no grant.

CREATE TABLE platform_audit_events (
  log         text NOT NULL DEFAULT 'platform' CHECK (log = 'platform'),
  leaf_index  bigint NOT NULL CHECK (leaf_index >= 0),
  leaf_hash   bytea NOT NULL CHECK (length(leaf_hash) = 32),
  id          uuid NOT NULL UNIQUE,
  occurred_at timestamptz NOT NULL,
  actor_type  text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'operator', 'system')),
  actor_id    text CHECK (length(actor_id) <= 200),
  action      text NOT NULL CHECK (length(action) BETWEEN 3 AND 100),
  target_type text CHECK (length(target_type) <= 100),
  target_id   text CHECK (length(target_id) <= 200),
  outcome     text NOT NULL CHECK (outcome IN ('success', 'failure')),
  reason      text CHECK (length(reason) <= 600),
  metadata    jsonb NOT NULL DEFAULT '{}',
  ip          text CHECK (length(ip) <= 100),
  user_agent  text CHECK (length(user_agent) <= 600),
  request_id  text CHECK (length(request_id) <= 200),
  PRIMARY KEY (log, leaf_index)
);
CREATE INDEX platform_audit_events_time_idx ON platform_audit_events (occurred_at);
COMMENT ON TABLE platform_audit_events IS '@append-only platform audit events; each row is a leaf of the platform transparency log';

CREATE TABLE platform_translog_nodes (
  log   text NOT NULL DEFAULT 'platform' CHECK (log = 'platform'),
  level smallint NOT NULL CHECK (level BETWEEN 1 AND 63),
  idx   bigint NOT NULL CHECK (idx >= 0),
  hash  bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (log, level, idx)
);
COMMENT ON TABLE platform_translog_nodes IS '@append-only complete internal nodes of the platform log';

CREATE TABLE platform_translog_heads (
  log        text PRIMARY KEY DEFAULT 'platform' CHECK (log = 'platform'),
  size       bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
  root       bytea CHECK (length(root) = 32),
  peaks      bytea NOT NULL DEFAULT '\x'::bytea CHECK (length(peaks) % 32 = 0),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform_translog_checkpoints (
  log        text NOT NULL DEFAULT 'platform' CHECK (log = 'platform'),
  size       bigint NOT NULL CHECK (size >= 0),
  root       bytea NOT NULL CHECK (length(root) = 32),
  note       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (log, size)
);
COMMENT ON TABLE platform_translog_checkpoints IS '@append-only signed checkpoints of the platform log';

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['platform_audit_events', 'platform_translog_nodes', 'platform_translog_heads', 'platform_translog_checkpoints'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I TO ocsuite_identity, ocsuite_maintenance USING (true) WITH CHECK (true)', t || '_writers', t);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['platform_audit_events', 'platform_translog_nodes', 'platform_translog_checkpoints'] LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()', t || '_append_only', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()', t || '_no_truncate', t);
  END LOOP;
  CREATE TRIGGER platform_translog_heads_keep BEFORE DELETE ON platform_translog_heads FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
  CREATE TRIGGER platform_translog_heads_no_truncate BEFORE TRUNCATE ON platform_translog_heads FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
END
$$;
GRANT SELECT, INSERT ON platform_audit_events, platform_translog_nodes, platform_translog_checkpoints TO ocsuite_identity, ocsuite_maintenance;
GRANT SELECT, INSERT, UPDATE (size, root, peaks, updated_at) ON platform_translog_heads TO ocsuite_identity, ocsuite_maintenance;

-- ─── The log signing key ────────────────────────────────────────────────────
-- One Ed25519 key signs every log's checkpoints; its private half is sealed
-- under the master key. `key_name` is fixed at creation (origins derive from
-- it), so a later PUBLIC_URL change does not change what verifiers trust.
CREATE TABLE translog_keys (
  key_id             text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{8}$'),
  key_name           text NOT NULL,
  public_key         bytea NOT NULL CHECK (length(public_key) = 32),
  private_key_sealed text NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  retired_at         timestamptz
);
ALTER TABLE translog_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE translog_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY translog_keys_identity ON translog_keys TO ocsuite_identity USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON translog_keys TO ocsuite_identity;

-- ─── Access logs ────────────────────────────────────────────────────────────
-- One line per request, written in batches by the maintenance role (the only
-- role that may insert across tenants here), pruned by it after retention.
CREATE TABLE access_logs (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  at          timestamptz NOT NULL,
  user_id     uuid,
  method      text NOT NULL CHECK (length(method) <= 10),
  route       text NOT NULL CHECK (length(route) <= 300),
  status      smallint NOT NULL,
  duration_ms real NOT NULL,
  ip          text CHECK (length(ip) <= 100),
  request_id  text NOT NULL CHECK (length(request_id) <= 200)
);
CREATE INDEX access_logs_tenant_time_idx ON access_logs (tenant_id, at);
CREATE INDEX access_logs_time_idx ON access_logs (at);
COMMENT ON TABLE access_logs IS '@append-only request log of each tenant; pruned after retention by the maintenance role';

CREATE TABLE platform_access_logs (
  at          timestamptz NOT NULL,
  method      text NOT NULL CHECK (length(method) <= 10),
  route       text NOT NULL CHECK (length(route) <= 300),
  status      smallint NOT NULL,
  duration_ms real NOT NULL,
  ip          text CHECK (length(ip) <= 100),
  request_id  text NOT NULL CHECK (length(request_id) <= 200)
);
CREATE INDEX platform_access_logs_time_idx ON platform_access_logs (at);
COMMENT ON TABLE platform_access_logs IS '@append-only request log of requests without a tenant; pruned after retention';

ALTER TABLE access_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_logs FORCE ROW LEVEL SECURITY;
ALTER TABLE platform_access_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_access_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY access_logs_tenant ON access_logs TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY access_logs_maintenance ON access_logs TO ocsuite_maintenance USING (true) WITH CHECK (true);
CREATE POLICY platform_access_logs_maintenance ON platform_access_logs TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT ON access_logs TO ocsuite_runtime;
GRANT SELECT, INSERT, DELETE ON access_logs, platform_access_logs TO ocsuite_maintenance;
CREATE TRIGGER access_logs_guard BEFORE UPDATE OR DELETE ON access_logs FOR EACH ROW EXECUTE FUNCTION access_logs_guard_delete();
CREATE TRIGGER platform_access_logs_guard BEFORE UPDATE OR DELETE ON platform_access_logs FOR EACH ROW EXECUTE FUNCTION access_logs_guard_delete();
CREATE TRIGGER access_logs_no_truncate BEFORE TRUNCATE ON access_logs FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER platform_access_logs_no_truncate BEFORE TRUNCATE ON platform_access_logs FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
