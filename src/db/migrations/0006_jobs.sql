-- Job bookkeeping shared by both queue drivers (pg-boss, BullMQ): dead letters
-- and completion records live in PostgreSQL/PGlite, beside the data the jobs
-- change, so they obey the same RLS as everything else (docs/jobs.md).

-- Dead letters of tenant jobs: a tenant admin sees and retries their own
-- tenant's (RLS); platform operators see every tenant's through the
-- maintenance role (CLI and operator routes), never through the runtime role.
CREATE TABLE job_dead_letters (
  tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  queue          text NOT NULL CHECK (length(queue) BETWEEN 1 AND 100),
  job_id         text NOT NULL CHECK (length(job_id) BETWEEN 1 AND 200),
  payload        jsonb,
  error          text NOT NULL CHECK (length(error) <= 2000),
  attempts       integer NOT NULL CHECK (attempts >= 0),
  retryable      boolean NOT NULL DEFAULT true,
  status         text NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'retrying', 'retried', 'discarded')),
  failed_at      timestamptz NOT NULL DEFAULT now(),
  resolved_at    timestamptz,
  resolved_by    text CHECK (length(resolved_by) <= 200),
  retried_job_id text CHECK (length(retried_job_id) <= 200),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, queue, job_id)
);
CREATE INDEX job_dead_letters_status_idx ON job_dead_letters (tenant_id, status, failed_at DESC);
CREATE INDEX job_dead_letters_queue_idx ON job_dead_letters (queue, status);
ALTER TABLE job_dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_dead_letters FORCE ROW LEVEL SECURITY;
CREATE POLICY job_dead_letters_tenant ON job_dead_letters TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY job_dead_letters_maintenance ON job_dead_letters TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (status, resolved_at, resolved_by, retried_job_id) ON job_dead_letters TO ocsuite_runtime;
GRANT SELECT, UPDATE (status, resolved_at, resolved_by, retried_job_id) ON job_dead_letters TO ocsuite_maintenance;

-- Dead letters of platform jobs, and of tenant jobs refused because their
-- tenant no longer exists (claimed_tenant_id keeps what the job claimed).
CREATE TABLE job_platform_dead_letters (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  queue             text NOT NULL CHECK (length(queue) BETWEEN 1 AND 100),
  job_id            text NOT NULL CHECK (length(job_id) BETWEEN 1 AND 200),
  claimed_tenant_id text CHECK (length(claimed_tenant_id) <= 100),
  payload           jsonb,
  error             text NOT NULL CHECK (length(error) <= 2000),
  attempts          integer NOT NULL CHECK (attempts >= 0),
  -- false for payloads that were unparseable or whose tenant is gone: sending them again cannot succeed.
  retryable         boolean NOT NULL DEFAULT true,
  status            text NOT NULL DEFAULT 'dead' CHECK (status IN ('dead', 'retrying', 'retried', 'discarded')),
  failed_at         timestamptz NOT NULL DEFAULT now(),
  resolved_at       timestamptz,
  resolved_by       text CHECK (length(resolved_by) <= 200),
  retried_job_id    text CHECK (length(retried_job_id) <= 200),
  UNIQUE (queue, job_id)
);
CREATE INDEX job_platform_dead_letters_status_idx ON job_platform_dead_letters (status, failed_at DESC);
ALTER TABLE job_platform_dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_platform_dead_letters FORCE ROW LEVEL SECURITY;
CREATE POLICY job_platform_dead_letters_maintenance ON job_platform_dead_letters TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE (status, resolved_at, resolved_by, retried_job_id) ON job_platform_dead_letters TO ocsuite_maintenance;

-- Completion records of tenant jobs, written in the same transaction as the
-- job's own changes: a job delivered again after its transaction committed
-- (the worker died before acknowledging it) sees its record and does nothing.
CREATE TABLE job_completions (
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  job_id       text NOT NULL CHECK (length(job_id) BETWEEN 1 AND 200),
  queue        text NOT NULL CHECK (length(queue) BETWEEN 1 AND 100),
  completed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, job_id)
);
CREATE INDEX job_completions_age_idx ON job_completions (completed_at);
ALTER TABLE job_completions ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_completions FORCE ROW LEVEL SECURITY;
CREATE POLICY job_completions_tenant ON job_completions TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY job_completions_maintenance ON job_completions TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON job_completions TO ocsuite_runtime;
-- Pruning records older than the drivers' idempotency window (schedule jobs.completions.prune).
GRANT SELECT, DELETE ON job_completions TO ocsuite_maintenance;

