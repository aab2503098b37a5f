-- Knowledge ingestion and export (issue #16 §5, docs/knowledge.md).
--
-- knowledge_settings: one row per tenant holding its ingestion redaction policy (no row = 'reject').
-- knowledge_exports: one row per export job; the produced document (entries, signed manifest,
-- the audit leaf that records it and its inclusion proof) is kept for download until erased.

CREATE TABLE knowledge_settings (
  tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  ingest_policy text NOT NULL DEFAULT 'reject' CHECK (ingest_policy IN ('reject', 'redact')),
  updated_by    uuid REFERENCES users (id) ON DELETE SET NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id)
);
SELECT ocsuite_enable_tenant_rls('knowledge_settings');
SELECT ocsuite_enable_tenant_erasure('knowledge_settings');
GRANT SELECT, INSERT, UPDATE (ingest_policy, updated_by, updated_at), DELETE ON knowledge_settings TO ocsuite_runtime;

CREATE TABLE knowledge_exports (
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
  requested_by uuid REFERENCES users (id) ON DELETE SET NULL,
  entries      integer CHECK (entries >= 0),
  document     text,
  error        text CHECK (length(error) <= 500),
  created_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT knowledge_exports_done CHECK ((status = 'done') = (document IS NOT NULL))
);
CREATE INDEX knowledge_exports_page_idx ON knowledge_exports (tenant_id, created_at DESC, id DESC);
SELECT ocsuite_enable_tenant_rls('knowledge_exports');
SELECT ocsuite_enable_tenant_erasure('knowledge_exports');
GRANT SELECT, INSERT, UPDATE (status, entries, document, error, finished_at, requested_by), DELETE ON knowledge_exports TO ocsuite_runtime;

-- Data-subject erasure takes a person's name off the entries they wrote (the entries stay: tenant content).
GRANT UPDATE (created_by) ON knowledge_entries TO ocsuite_runtime;
