-- Outreach (issue #15 §1): contacts with their consent, the suppression list, the tenant's
-- outreach settings and the key that hashes suppressed addresses. Module: src/modules/outreach.

-- One random 32-byte key per tenant, sealed with the tenant data key. It keys the HMAC of
-- normalised addresses (suppression entries survive a contact's erasure as that hash only) and
-- the MAC of unsubscribe and confirmation tokens. Its own random value, not one derived from the
-- data key: a data-key rotation re-encrypts it and the hashes already stored keep matching.
CREATE TABLE outreach_keys (
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  key_sealed text NOT NULL CHECK (key_sealed ~ '^osv1\.[1-9][0-9]*\.[A-Za-z0-9_-]+$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX outreach_keys_one_per_tenant ON outreach_keys (tenant_id);
SELECT ocsuite_enable_tenant_rls('outreach_keys');
SELECT ocsuite_enable_tenant_erasure('outreach_keys');
GRANT SELECT, INSERT ON outreach_keys TO ocsuite_runtime;
-- Data-key rotation swaps the ciphertext (src/kernel/crypto/sealed-columns.ts walks it).
CREATE POLICY outreach_keys_maintenance ON outreach_keys TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT (tenant_id, id, key_sealed), UPDATE (key_sealed) ON outreach_keys TO ocsuite_maintenance;

CREATE TABLE outreach_settings (
  tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- CAN-SPAM (15 U.S.C. 7704(a)(5)(A)(iii)): every commercial message carries a valid postal address.
  postal_address    text CHECK (length(postal_address) BETWEEN 5 AND 500),
  double_opt_in     boolean NOT NULL DEFAULT false,
  rate_per_minute   integer NOT NULL DEFAULT 60 CHECK (rate_per_minute BETWEEN 1 AND 100000),
  from_address      text CHECK (length(from_address) <= 320),
  smtp_connector_id uuid,
  -- The tenant's send budget: sends claimed in the current one-minute window.
  window_started_at timestamptz NOT NULL DEFAULT now(),
  window_sent       integer NOT NULL DEFAULT 0 CHECK (window_sent >= 0),
  updated_by        uuid REFERENCES users (id) ON DELETE SET NULL,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id)
);
SELECT ocsuite_enable_tenant_rls('outreach_settings');
SELECT ocsuite_enable_tenant_erasure('outreach_settings');
GRANT SELECT, INSERT,
  UPDATE (postal_address, double_opt_in, rate_per_minute, from_address, smtp_connector_id, window_started_at, window_sent, updated_by, updated_at)
  ON outreach_settings TO ocsuite_runtime;

CREATE TABLE outreach_contacts (
  tenant_id         uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                uuid NOT NULL DEFAULT gen_random_uuid(),
  email             text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  -- HMAC-SHA256 under the tenant's outreach key of the normalised address (service: addressHash).
  address_hash      text NOT NULL CHECK (address_hash ~ '^[0-9a-f]{64}$'),
  name              text CHECK (length(name) <= 200),
  source            text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
  -- GDPR Art. 6(1): (a) consent, (b) contract, (f) legitimate interest.
  lawful_basis      text NOT NULL CHECK (lawful_basis IN ('consent', 'contract', 'legitimate_interest')),
  consent_text      text CHECK (length(consent_text) <= 2000),
  consent_at        timestamptz,
  status            text NOT NULL CHECK (status IN ('pending', 'subscribed', 'unsubscribed')),
  confirmation_sent_at timestamptz,
  confirmed_at      timestamptz,
  unsubscribed_at   timestamptz,
  created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  -- Consent as a lawful basis is proven by what the person was shown and when.
  CHECK (lawful_basis <> 'consent' OR (consent_text IS NOT NULL AND consent_at IS NOT NULL)),
  -- Nobody is subscribed under double opt-in without a confirmation (the service sets both together).
  CHECK (status <> 'pending' OR confirmed_at IS NULL)
);
CREATE UNIQUE INDEX outreach_contacts_address_key ON outreach_contacts (tenant_id, address_hash);
CREATE INDEX outreach_contacts_page_idx ON outreach_contacts (tenant_id, created_at DESC, id DESC);
SELECT ocsuite_enable_tenant_rls('outreach_contacts');
SELECT ocsuite_enable_tenant_erasure('outreach_contacts');
GRANT SELECT, INSERT, UPDATE (name, status, confirmation_sent_at, confirmed_at, unsubscribed_at, updated_at), DELETE
  ON outreach_contacts TO ocsuite_runtime;

-- Who must never be mailed. Keyed by the address hash, so an entry outlives the contact it came
-- from: erasure clears `address` and keeps the hash.
CREATE TABLE outreach_suppressions (
  tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  address_hash text NOT NULL CHECK (address_hash ~ '^[0-9a-f]{64}$'),
  address      text CHECK (length(address) BETWEEN 3 AND 320),
  reason       text NOT NULL CHECK (reason IN ('unsubscribed', 'bounced', 'complained', 'manual', 'erased')),
  source       text NOT NULL CHECK (source IN ('unsubscribe_link', 'one_click', 'webhook', 'api', 'erasure')),
  note         text CHECK (length(note) <= 500),
  created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX outreach_suppressions_address_key ON outreach_suppressions (tenant_id, address_hash);
CREATE INDEX outreach_suppressions_page_idx ON outreach_suppressions (tenant_id, created_at DESC, id DESC);
SELECT ocsuite_enable_tenant_rls('outreach_suppressions');
SELECT ocsuite_enable_tenant_erasure('outreach_suppressions');
GRANT SELECT, INSERT, UPDATE (address, reason, source, note, updated_at), DELETE ON outreach_suppressions TO ocsuite_runtime;
-- Only a manual entry may be lifted: an unsubscribe, bounce, complaint or erasure is the person's
-- (or their mailbox's) word, and no tenant code path may take it back.
CREATE POLICY outreach_suppressions_lift_manual_only ON outreach_suppressions AS RESTRICTIVE FOR DELETE TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND reason = 'manual');
-- An entry may only become stronger: a manual one may turn into an unsubscribe, bounce or
-- complaint, never the other way round (erasure only clears the address).
CREATE FUNCTION outreach_suppressions_never_weaken() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  IF OLD.reason <> 'manual' AND NEW.reason IS DISTINCT FROM OLD.reason THEN
    RAISE EXCEPTION 'a suppression of reason % cannot change its reason', OLD.reason USING ERRCODE = 'OC551';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER outreach_suppressions_never_weaken BEFORE UPDATE ON outreach_suppressions
  FOR EACH ROW EXECUTE FUNCTION outreach_suppressions_never_weaken();
