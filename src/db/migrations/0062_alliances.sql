-- Alliances CRM (issue #16 §2): partners, their contacts (personal data of people outside the
-- tenant), pipelines, deals and notes. Beyond the tenant wall:
-- * every CRM row is visible only to a transaction holding an alliances permission (app.permissions,
--   migration 0060), so a code path acting for someone without one reads nothing of the CRM;
-- * a note is visible only to its author and to holders of alliances:manage, and only its author
--   (holding alliances:write) adds one — RESTRICTIVE policies, so a query that forgets the filter
--   still returns nobody else's notes.

CREATE TABLE alliance_partners (
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  website    text CHECK (length(website) <= 500),
  tier       text NOT NULL DEFAULT 'standard' CHECK (tier IN ('standard', 'silver', 'gold', 'strategic')),
  status     text NOT NULL DEFAULT 'prospect' CHECK (status IN ('prospect', 'active', 'inactive')),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX alliance_partners_page_idx ON alliance_partners (tenant_id, created_at DESC, id DESC);

CREATE TABLE alliance_contacts (
  tenant_id  uuid NOT NULL,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  partner_id uuid NOT NULL,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  email      text CHECK (length(email) BETWEEN 3 AND 320),
  phone      text CHECK (length(phone) <= 40),
  job_title  text CHECK (length(job_title) <= 200),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, partner_id) REFERENCES alliance_partners (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX alliance_contacts_partner_idx ON alliance_contacts (tenant_id, partner_id);
-- Data-subject requests find a person's contact records by address.
CREATE INDEX alliance_contacts_email_idx ON alliance_contacts (tenant_id, lower(email));

CREATE TABLE alliance_pipelines (
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  stages     text[] NOT NULL CHECK (cardinality(stages) BETWEEN 1 AND 20),
  created_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX alliance_pipelines_page_idx ON alliance_pipelines (tenant_id, created_at DESC, id DESC);

CREATE TABLE alliance_deals (
  tenant_id   uuid NOT NULL,
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  pipeline_id uuid NOT NULL,
  partner_id  uuid NOT NULL,
  title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  stage       text NOT NULL CHECK (length(stage) BETWEEN 1 AND 60),
  value_cents bigint CHECK (value_cents >= 0),
  currency    text CHECK (currency ~ '^[A-Z]{3}$'),
  owner_id    uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, pipeline_id) REFERENCES alliance_pipelines (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, partner_id) REFERENCES alliance_partners (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX alliance_deals_pipeline_idx ON alliance_deals (tenant_id, pipeline_id, stage);
CREATE INDEX alliance_deals_partner_idx ON alliance_deals (tenant_id, partner_id);

CREATE TABLE alliance_notes (
  tenant_id  uuid NOT NULL,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  partner_id uuid NOT NULL,
  deal_id    uuid,
  contact_id uuid,
  -- NULL once the author's user is deleted: then only alliances:manage holders see it (a data-subject
  -- erasure deletes the notes the person wrote instead).
  author_id  uuid REFERENCES users (id) ON DELETE SET NULL,
  body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, partner_id) REFERENCES alliance_partners (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, deal_id) REFERENCES alliance_deals (tenant_id, id) ON DELETE CASCADE,
  -- A note about a contact is personal data about them too: it goes when the contact is erased.
  FOREIGN KEY (tenant_id, contact_id) REFERENCES alliance_contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX alliance_notes_partner_idx ON alliance_notes (tenant_id, partner_id, created_at DESC);
CREATE INDEX alliance_notes_author_idx ON alliance_notes (tenant_id, author_id);

SELECT ocsuite_enable_tenant_rls('alliance_partners');
SELECT ocsuite_enable_tenant_rls('alliance_contacts');
SELECT ocsuite_enable_tenant_rls('alliance_pipelines');
SELECT ocsuite_enable_tenant_rls('alliance_deals');
SELECT ocsuite_enable_tenant_rls('alliance_notes');
SELECT ocsuite_enable_tenant_erasure('alliance_partners');
SELECT ocsuite_enable_tenant_erasure('alliance_contacts');
SELECT ocsuite_enable_tenant_erasure('alliance_pipelines');
SELECT ocsuite_enable_tenant_erasure('alliance_deals');
SELECT ocsuite_enable_tenant_erasure('alliance_notes');

-- No alliances permission, no CRM rows (every command: reads, and the rows writes touch).
CREATE POLICY alliance_partners_crm ON alliance_partners AS RESTRICTIVE FOR ALL TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND ((SELECT ocsuite_holds('alliances:read')) OR (SELECT ocsuite_holds('alliances:write')) OR (SELECT ocsuite_holds('alliances:manage'))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND ((SELECT ocsuite_holds('alliances:write')) OR (SELECT ocsuite_holds('alliances:manage'))));
CREATE POLICY alliance_contacts_crm ON alliance_contacts AS RESTRICTIVE FOR ALL TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND ((SELECT ocsuite_holds('alliances:read')) OR (SELECT ocsuite_holds('alliances:write')) OR (SELECT ocsuite_holds('alliances:manage'))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND ((SELECT ocsuite_holds('alliances:write')) OR (SELECT ocsuite_holds('alliances:manage'))));
CREATE POLICY alliance_pipelines_crm ON alliance_pipelines AS RESTRICTIVE FOR ALL TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND ((SELECT ocsuite_holds('alliances:read')) OR (SELECT ocsuite_holds('alliances:write')) OR (SELECT ocsuite_holds('alliances:manage'))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND ((SELECT ocsuite_holds('alliances:write')) OR (SELECT ocsuite_holds('alliances:manage'))));
CREATE POLICY alliance_deals_crm ON alliance_deals AS RESTRICTIVE FOR ALL TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND ((SELECT ocsuite_holds('alliances:read')) OR (SELECT ocsuite_holds('alliances:write')) OR (SELECT ocsuite_holds('alliances:manage'))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND ((SELECT ocsuite_holds('alliances:write')) OR (SELECT ocsuite_holds('alliances:manage'))));

-- Notes: the author's (while they hold an alliances permission), and alliances:manage holders'. Written only by their author; never edited.
CREATE POLICY alliance_notes_visible ON alliance_notes AS RESTRICTIVE FOR ALL TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    (author_id = (SELECT ocsuite_current_user()) AND ((SELECT ocsuite_holds('alliances:read')) OR (SELECT ocsuite_holds('alliances:write'))))
    OR (SELECT ocsuite_holds('alliances:manage'))))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND author_id = (SELECT ocsuite_current_user()) AND (SELECT ocsuite_holds('alliances:write')));

GRANT SELECT, INSERT, UPDATE (name, website, tier, status, created_by, updated_at), DELETE ON alliance_partners TO ocsuite_runtime;
GRANT SELECT, INSERT, UPDATE (name, email, phone, job_title, created_by, updated_at), DELETE ON alliance_contacts TO ocsuite_runtime;
GRANT SELECT, INSERT, UPDATE (created_by), DELETE ON alliance_pipelines TO ocsuite_runtime;
GRANT SELECT, INSERT, UPDATE (title, stage, value_cents, currency, owner_id, updated_at), DELETE ON alliance_deals TO ocsuite_runtime;
GRANT SELECT, INSERT, DELETE ON alliance_notes TO ocsuite_runtime;
