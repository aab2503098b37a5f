-- Outreach campaigns and their sends (issue #15 §2). One send row per (campaign, contact): the
-- state machine that makes delivery idempotent per recipient (docs/outreach.md):
--   queued ──claim──► claimed ──SMTP accepted──► sent
--      │                 │ └──SMTP refused (5xx)──► failed
--      │                 └──lease expired (worker died)──► claimed again, same Message-ID
--      └──suppressed / not consented / erased, checked in the claiming transaction──► refused

CREATE TABLE outreach_campaigns (
  tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                uuid NOT NULL DEFAULT gen_random_uuid(),
  name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  subject           text NOT NULL CHECK (length(subject) BETWEEN 1 AND 300),
  body_text         text NOT NULL CHECK (length(body_text) BETWEEN 1 AND 100000),
  -- Each edit of a draft is a new version; the sends record the version they carried.
  version           integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  -- NULL: every subscribed contact; otherwise exactly these contacts.
  contact_ids       uuid[] CHECK (contact_ids IS NULL OR cardinality(contact_ids) BETWEEN 1 AND 10000),
  status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sending', 'sent')),
  created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  -- Who asked for the send (user or API key, as the audit actor spells it), and under which approval.
  send_requested_by text CHECK (length(send_requested_by) <= 200),
  send_requested_at timestamptz,
  approval_id       uuid,
  completed_at      timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outreach_campaigns_page_idx ON outreach_campaigns (tenant_id, created_at DESC, id DESC);
SELECT ocsuite_enable_tenant_rls('outreach_campaigns');
SELECT ocsuite_enable_tenant_erasure('outreach_campaigns');
GRANT SELECT, INSERT,
  UPDATE (name, subject, body_text, version, contact_ids, status, updated_at, send_requested_by, send_requested_at, approval_id, completed_at)
  ON outreach_campaigns TO ocsuite_runtime;

CREATE TABLE outreach_sends (
  tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  campaign_id    uuid NOT NULL,
  -- NULL once the contact is erased: the row stays as the record of what was sent, without the person.
  contact_id     uuid,
  campaign_version integer NOT NULL,
  state          text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'claimed', 'sent', 'failed', 'refused')),
  refused_reason text CHECK (refused_reason IN ('suppressed', 'unconsented', 'erased')),
  -- Fixed when the row is made: a re-send after a lost attempt carries the same Message-ID (RFC 5322 §3.6.4),
  -- so the receiving side can drop the duplicate.
  message_id     text NOT NULL CHECK (length(message_id) BETWEEN 3 AND 250),
  attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  claimed_at     timestamptz,
  sent_at        timestamptz,
  last_error     text CHECK (length(last_error) <= 300),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, campaign_id, contact_id),
  FOREIGN KEY (tenant_id, campaign_id) REFERENCES outreach_campaigns (tenant_id, id),
  FOREIGN KEY (tenant_id, contact_id) REFERENCES outreach_contacts (tenant_id, id) ON DELETE SET NULL (contact_id),
  CHECK ((state = 'refused') = (refused_reason IS NOT NULL)),
  CHECK (state <> 'sent' OR sent_at IS NOT NULL)
);
CREATE INDEX outreach_sends_work_idx ON outreach_sends (tenant_id, campaign_id, state);
CREATE INDEX outreach_sends_page_idx ON outreach_sends (tenant_id, created_at DESC, id DESC);
CREATE INDEX outreach_sends_contact_idx ON outreach_sends (tenant_id, contact_id);
SELECT ocsuite_enable_tenant_rls('outreach_sends');
SELECT ocsuite_enable_tenant_erasure('outreach_sends');
-- No DELETE: a send is a record. A row only moves forward (trigger below).
GRANT SELECT, INSERT, UPDATE (contact_id, state, refused_reason, attempts, claimed_at, sent_at, last_error, updated_at) ON outreach_sends TO ocsuite_runtime;

-- The state machine, enforced where every writer passes: terminal states never change.
CREATE FUNCTION outreach_sends_forward_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF OLD.state IN ('sent', 'failed', 'refused') AND NEW.state IS DISTINCT FROM OLD.state THEN
    RAISE EXCEPTION 'a send in state % is final', OLD.state USING ERRCODE = 'OC552';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER outreach_sends_forward_only BEFORE UPDATE ON outreach_sends
  FOR EACH ROW EXECUTE FUNCTION outreach_sends_forward_only();
