-- Knowledge entries: the first product module's table.
CREATE TABLE knowledge_entries (
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  body       text NOT NULL CHECK (length(body) <= 100000),
  tags       text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 32),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  updated_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
-- Cursor pagination walks (created_at, id) newest first within a tenant.
CREATE INDEX knowledge_entries_page_idx ON knowledge_entries (tenant_id, created_at DESC, id DESC);
ALTER TABLE knowledge_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY knowledge_entries_tenant ON knowledge_entries TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
GRANT SELECT, INSERT, UPDATE (title, body, tags, updated_by, updated_at), DELETE ON knowledge_entries TO ocsuite_runtime;
