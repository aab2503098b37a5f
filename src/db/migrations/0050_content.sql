-- Content generator (issue #15 §4): per-tenant settings (PII policy, what may be stored, content
-- rules, token quota), model providers with sealed keys, drafts, and token usage per UTC day.
-- Prompts and outputs are kept only as the tenant allows, and then sealed with its data key.

CREATE TABLE content_settings (
  tenant_id           uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  -- redact: personal data becomes placeholders before a prompt leaves; refuse: such a prompt is refused.
  pii_policy          text NOT NULL DEFAULT 'redact' CHECK (pii_policy IN ('redact', 'refuse')),
  store_prompts       boolean NOT NULL DEFAULT false,
  store_outputs       boolean NOT NULL DEFAULT false,
  blocked_terms       text[] NOT NULL DEFAULT '{}' CHECK (cardinality(blocked_terms) <= 200),
  required_disclaimer text CHECK (length(required_disclaimer) BETWEEN 1 AND 1000),
  daily_token_quota   integer NOT NULL DEFAULT 200000 CHECK (daily_token_quota BETWEEN 0 AND 100000000),
  phone_region        text CHECK (phone_region ~ '^[A-Z]{2}$'),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
SELECT ocsuite_enable_tenant_rls('content_settings');
SELECT ocsuite_enable_tenant_erasure('content_settings');
GRANT SELECT, INSERT, UPDATE (pii_policy, store_prompts, store_outputs, blocked_terms, required_disclaimer, daily_token_quota, phone_region, updated_at)
  ON content_settings TO ocsuite_runtime;

CREATE TABLE content_providers (
  tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id              uuid NOT NULL DEFAULT gen_random_uuid(),
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  kind            text NOT NULL CHECK (kind IN ('openai-compatible', 'offline')),
  -- Validated by the egress guard when configured and again on every call (DNS may change).
  base_url        text CHECK (length(base_url) BETWEEN 8 AND 500),
  model           text NOT NULL CHECK (length(model) BETWEEN 1 AND 200),
  key_sealed      text,
  key_fingerprint text,
  key_last_four   text CHECK (length(key_last_four) <= 4),
  timeout_ms      integer NOT NULL DEFAULT 30000 CHECK (timeout_ms BETWEEN 1000 AND 120000),
  is_default      boolean NOT NULL DEFAULT false,
  created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CHECK ((kind = 'offline') = (base_url IS NULL)),
  CHECK ((key_sealed IS NULL) = (key_fingerprint IS NULL))
);
CREATE UNIQUE INDEX content_providers_one_default ON content_providers (tenant_id) WHERE is_default;
SELECT ocsuite_enable_tenant_rls('content_providers');
SELECT ocsuite_enable_tenant_erasure('content_providers');
GRANT SELECT, INSERT, UPDATE (name, model, is_default, timeout_ms, updated_at), DELETE ON content_providers TO ocsuite_runtime;

CREATE TABLE content_drafts (
  tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                 uuid NOT NULL DEFAULT gen_random_uuid(),
  kind               text NOT NULL CHECK (kind IN ('template', 'model')),
  title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  provider_id        uuid,
  status             text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
  prompt_sealed      text,
  output_sealed      text,
  prompt_tokens      integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
  completion_tokens  integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
  -- Counts by kind of what was redacted (never the values).
  redaction          jsonb NOT NULL DEFAULT '{}',
  created_by         uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  published_at       timestamptz,
  published_by       uuid REFERENCES users (id) ON DELETE SET NULL,
  -- The approval that let the publication happen (approvals module); kept as a plain id.
  published_approval uuid,
  PRIMARY KEY (tenant_id, id),
  CHECK ((status = 'published') = (published_at IS NOT NULL))
);
CREATE INDEX content_drafts_created_idx ON content_drafts (tenant_id, created_at DESC, id DESC);
SELECT ocsuite_enable_tenant_rls('content_drafts');
SELECT ocsuite_enable_tenant_erasure('content_drafts');
GRANT SELECT, INSERT, UPDATE (status, published_at, published_by, published_approval) ON content_drafts TO ocsuite_runtime;

-- Tokens used per tenant and UTC day. A call reserves its worst case with one conditional upsert
-- (the row lock serialises concurrent calls, so the quota holds), then settles to what it used.
CREATE TABLE content_usage (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  day       date NOT NULL,
  tokens    bigint NOT NULL DEFAULT 0 CHECK (tokens >= 0),
  requests  integer NOT NULL DEFAULT 0 CHECK (requests >= 0),
  PRIMARY KEY (tenant_id, day)
);
SELECT ocsuite_enable_tenant_rls('content_usage');
SELECT ocsuite_enable_tenant_erasure('content_usage');
GRANT SELECT, INSERT, UPDATE (tokens, requests) ON content_usage TO ocsuite_runtime;
