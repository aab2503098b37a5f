-- Insights and human approval of proposed actions (issue #15 §5). A proposal is an
-- ActionApproval: pending → approved / rejected / expired, executed only after approval.

CREATE TABLE insights (
  tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  provider_id    uuid,
  -- The model's (restored, rule-checked) answer, sealed, only when the tenant stores outputs.
  output_sealed  text,
  created_by     uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX insights_created_idx ON insights (tenant_id, created_at DESC, id DESC);
SELECT ocsuite_enable_tenant_rls('insights');
SELECT ocsuite_enable_tenant_erasure('insights');
GRANT SELECT, INSERT ON insights TO ocsuite_runtime;

CREATE TABLE action_approvals (
  tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                uuid NOT NULL DEFAULT gen_random_uuid(),
  action_type       text NOT NULL CHECK (action_type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$'),
  payload           jsonb NOT NULL,
  summary           text NOT NULL CHECK (length(summary) <= 500),
  risk              text NOT NULL CHECK (risk IN ('low', 'high')),
  origin            text NOT NULL CHECK (origin IN ('user', 'model')),
  insight_id        uuid,
  status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
  requested_by      uuid REFERENCES users (id) ON DELETE SET NULL,
  decided_by        uuid REFERENCES users (id) ON DELETE SET NULL,
  decided_at        timestamptz,
  decision_note     text CHECK (length(decision_note) <= 500),
  executed_at       timestamptz,
  execution_outcome text CHECK (execution_outcome IN ('succeeded', 'failed')),
  execution_result  jsonb,
  expires_at        timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  -- Four-eyes in the schema as well as in the service: a high-risk action is never approved by its requester.
  CHECK (risk <> 'high' OR status <> 'approved' OR decided_by IS DISTINCT FROM requested_by),
  CHECK ((status = 'pending') = (decided_at IS NULL)),
  CHECK (executed_at IS NULL OR status = 'approved')
);
CREATE INDEX action_approvals_status_idx ON action_approvals (tenant_id, status, created_at DESC);
CREATE INDEX action_approvals_expiry_idx ON action_approvals (expires_at) WHERE status = 'pending';
SELECT ocsuite_enable_tenant_rls('action_approvals');
SELECT ocsuite_enable_tenant_erasure('action_approvals');
-- A decision is recorded under the deciding user's own id, never someone else's (app.user_id).
CREATE POLICY action_approvals_decider ON action_approvals AS RESTRICTIVE FOR UPDATE TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND (decided_by IS NULL OR decided_by = (SELECT ocsuite_current_user())));
GRANT SELECT, INSERT, UPDATE (status, decided_by, decided_at, decision_note, executed_at, execution_outcome, execution_result)
  ON action_approvals TO ocsuite_runtime;
-- The expiry schedule finds overdue pending approvals across tenants, then expires each inside its tenant.
CREATE POLICY action_approvals_expiry_scan ON action_approvals FOR SELECT TO ocsuite_maintenance
  USING (status = 'pending' AND expires_at <= now());
