-- Admin tasks (issue #16 §4): assigned to a member of the same tenant, completed by that
-- assignee, verified by a second person (four-eyes). The application checks every rule first;
-- the database holds the ones that matter even if the application forgot them.

CREATE TABLE admin_tasks (
  tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  description      text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'verified', 'cancelled')),
  -- A member of this very tenant (composite key); leaving the tenant unassigns, nothing else.
  assignee_id      uuid,
  due_at           timestamptz,
  created_by       uuid REFERENCES users (id) ON DELETE SET NULL,
  completed_by     uuid REFERENCES users (id) ON DELETE SET NULL,
  completed_at     timestamptz,
  completion_note  text CHECK (length(completion_note) <= 2000),
  verified_by      uuid REFERENCES users (id) ON DELETE SET NULL,
  verified_at      timestamptz,
  rejected_by      uuid REFERENCES users (id) ON DELETE SET NULL,
  rejected_at      timestamptz,
  rejection_reason text CHECK (length(rejection_reason) <= 2000),
  cancelled_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, assignee_id) REFERENCES memberships (tenant_id, user_id) ON DELETE SET NULL (assignee_id),
  -- Four-eyes: whoever verified is neither the assignee nor whoever completed it (NULL only after erasure).
  CONSTRAINT admin_tasks_four_eyes CHECK (verified_by <> assignee_id AND verified_by <> completed_by),
  CONSTRAINT admin_tasks_verified_state CHECK ((status = 'verified') = (verified_at IS NOT NULL)),
  CONSTRAINT admin_tasks_completed_state CHECK ((status IN ('completed', 'verified')) = (completed_at IS NOT NULL)),
  CONSTRAINT admin_tasks_cancelled_state CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX admin_tasks_page_idx ON admin_tasks (tenant_id, created_at DESC, id DESC);
CREATE INDEX admin_tasks_assignee_idx ON admin_tasks (tenant_id, assignee_id);
SELECT ocsuite_enable_tenant_rls('admin_tasks');
SELECT ocsuite_enable_tenant_erasure('admin_tasks');

-- Who may write which transition, held in the database: a task is born open; only its assignee,
-- acting as themselves (app.user_id), completes it; only someone else, acting as themselves,
-- verifies it; a verified task is final. Nulling a person out (erasure, a deleted account, a
-- member leaving) is always allowed.
CREATE FUNCTION admin_tasks_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
  actor uuid := public.ocsuite_current_user();
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'open' OR NEW.completed_by IS NOT NULL OR NEW.verified_by IS NOT NULL OR NEW.rejected_by IS NOT NULL THEN
      RAISE EXCEPTION 'a task is created open' USING ERRCODE = '42501';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.status = 'verified' AND (NEW.status <> 'verified' OR NEW.title <> OLD.title OR NEW.description <> OLD.description
      OR NEW.assignee_id IS NOT NULL AND NEW.assignee_id IS DISTINCT FROM OLD.assignee_id) THEN
    RAISE EXCEPTION 'a verified task is final' USING ERRCODE = '42501';
  END IF;
  IF NEW.created_by IS NOT NULL AND NEW.created_by IS DISTINCT FROM OLD.created_by THEN
    RAISE EXCEPTION 'the creator of a task does not change' USING ERRCODE = '42501';
  END IF;
  IF NEW.completed_by IS NOT NULL AND NEW.completed_by IS DISTINCT FROM OLD.completed_by THEN
    IF OLD.status <> 'open' OR NEW.status <> 'completed' OR actor IS NULL OR NEW.completed_by <> actor OR NEW.assignee_id IS DISTINCT FROM actor THEN
      RAISE EXCEPTION 'only its assignee completes an open task' USING ERRCODE = '42501';
    END IF;
  END IF;
  IF NEW.status = 'completed' AND OLD.status <> 'completed' AND (NEW.completed_by IS NULL OR NEW.completed_by IS NOT DISTINCT FROM OLD.completed_by) THEN
    RAISE EXCEPTION 'only its assignee completes an open task' USING ERRCODE = '42501';
  END IF;
  IF NEW.verified_by IS NOT NULL AND NEW.verified_by IS DISTINCT FROM OLD.verified_by THEN
    IF OLD.status <> 'completed' OR NEW.status <> 'verified' OR actor IS NULL OR NEW.verified_by <> actor
       OR actor = NEW.assignee_id OR actor = NEW.completed_by THEN
      RAISE EXCEPTION 'four-eyes: a completed task is verified by someone other than its assignee' USING ERRCODE = '42501';
    END IF;
  END IF;
  IF NEW.status = 'verified' AND OLD.status <> 'verified' AND (NEW.verified_by IS NULL OR NEW.verified_by IS NOT DISTINCT FROM OLD.verified_by) THEN
    RAISE EXCEPTION 'four-eyes: a completed task is verified by someone other than its assignee' USING ERRCODE = '42501';
  END IF;
  IF NEW.rejected_by IS NOT NULL AND (NEW.rejected_by IS DISTINCT FROM OLD.rejected_by OR NEW.rejected_at IS DISTINCT FROM OLD.rejected_at)
     AND (OLD.status <> 'completed' OR actor IS NULL OR NEW.rejected_by <> actor OR actor = OLD.assignee_id OR actor = OLD.completed_by) THEN
    RAISE EXCEPTION 'four-eyes: a completed task is rejected by someone other than its assignee' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION admin_tasks_guard() FROM PUBLIC;
CREATE TRIGGER admin_tasks_guard BEFORE INSERT OR UPDATE ON admin_tasks FOR EACH ROW EXECUTE FUNCTION admin_tasks_guard();

GRANT SELECT, INSERT,
  UPDATE (title, description, status, assignee_id, due_at, created_by, completed_by, completed_at, completion_note,
          verified_by, verified_at, rejected_by, rejected_at, rejection_reason, cancelled_at, updated_at)
  ON admin_tasks TO ocsuite_runtime;
