-- The transactional outbox (issue #23 §1, docs/jobs.md "Outbox"): every job a request or a job
-- enqueues is first a row here, written in the same transaction as the change that caused it. A
-- relay (jobs/outbox.ts) hands rows to the queue driver with the row's id as the job id, marks
-- them sent, and the job marks its row done when it completes or is dead-lettered. A row sent long
-- ago and not done is handed to the driver again under the same id: the driver refuses the
-- duplicate while it keeps the job, and re-creates it when it lost it (a Redis flush).

CREATE TABLE job_outbox (
  -- The tenant of the transaction that wrote the row (RLS); NULL for identity and platform flows.
  -- The job's own tenant travels in the envelope ({ v: 1, tenantId, data }).
  tenant_id      uuid REFERENCES tenants (id) ON DELETE CASCADE,
  -- The job id in the driver: stable, so a second hand-over of the row is the same job.
  id             uuid PRIMARY KEY,
  queue          text NOT NULL CHECK (length(queue) BETWEEN 1 AND 100),
  -- The driver's namespace (OCSUITE_JOBS_PREFIX on BullMQ): a relay hands over its own deployment's rows only.
  namespace      text NOT NULL DEFAULT '' CHECK (length(namespace) <= 100),
  envelope       jsonb NOT NULL,
  run_after      timestamptz NOT NULL DEFAULT now(),
  created_at     timestamptz NOT NULL DEFAULT now(),
  -- A relay's claim: rows claimed by a relay that died are claimable again after it.
  claimed_until  timestamptz,
  relay_attempts integer NOT NULL DEFAULT 0 CHECK (relay_attempts >= 0),
  last_error     text CHECK (length(last_error) <= 500),
  sent_at        timestamptz,
  done_at        timestamptz
);
CREATE INDEX job_outbox_tenant_idx ON job_outbox (tenant_id, created_at);
CREATE INDEX job_outbox_open_idx ON job_outbox (namespace, created_at) WHERE done_at IS NULL;
CREATE INDEX job_outbox_done_idx ON job_outbox (done_at) WHERE done_at IS NOT NULL;

SELECT ocsuite_enable_tenant_rls('job_outbox');
-- Flows before a tenant is known (signup, password reset) write platform rows, or rows of the tenant they act for.
CREATE POLICY job_outbox_identity ON job_outbox TO ocsuite_identity
  USING (tenant_id IS NULL OR tenant_id = (SELECT ocsuite_current_tenant()))
  WITH CHECK (tenant_id IS NULL OR tenant_id = (SELECT ocsuite_current_tenant()));
-- The relay, metrics, doctor and retention: every row.
CREATE POLICY job_outbox_maintenance ON job_outbox TO ocsuite_maintenance USING (true) WITH CHECK (true);
-- RETURNING (did the idempotency key create a row?) needs SELECT; the row's own tenant only.
GRANT SELECT, INSERT ON job_outbox TO ocsuite_runtime, ocsuite_identity;
GRANT SELECT, INSERT, UPDATE (claimed_until, relay_attempts, last_error, sent_at, done_at), DELETE ON job_outbox TO ocsuite_maintenance;
