-- The ledger (issue #12, docs/ledger.md): double-entry, append-only, provable.
--
-- The service inserts accounts, closures and transfers, nothing else. The
-- database derives everything that must be right from them, as the table owner:
--   * a BEFORE INSERT trigger on ledger_transfers completes and validates a
--     transfer (accounts exist in the tenant, same asset, the pending transfer
--     it posts or voids, its amount and expiry; the database's clock);
--   * an AFTER INSERT statement trigger writes the entries (debit and credit,
--     pending and posted buckets) of all the statement's transfers and moves the
--     balances under the balance rows' locks, refusing the first transfer that
--     passes a closed account or breaks a balance flag;
--   * a constraint trigger checks at COMMIT that every transfer's entries
--     balance per bucket;
--   * a deferred foreign key makes every transfer a leaf of the tenant's
--     transparency log (audit_events) in the same transaction.
-- Accounts, closures, transfers and entries refuse UPDATE, DELETE and TRUNCATE
-- from every role, owner included; balances are moved only by the triggers
-- (runtime: SELECT only). Errors carry SQLSTATE OCL01..OCL09 with the ledger's
-- stable code as the message (src/modules/ledger/errors.ts maps them).

CREATE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  RAISE EXCEPTION '% on % refused: the ledger is append-only', TG_OP, TG_TABLE_NAME USING ERRCODE = 'OC002';
END
$$;

-- ─── Tables ─────────────────────────────────────────────────────────────────

CREATE TABLE ledger_accounts (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- An ISO 4217 code (scale = its minor unit) or a custom unit (lower case) with its scale.
  asset      text NOT NULL CHECK (asset ~ '^([A-Z]{3}|[a-z][a-z0-9_.-]{0,31})$'),
  scale      smallint NOT NULL CHECK (scale BETWEEN 0 AND 18),
  debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
  credits_must_not_exceed_debits boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, code),
  CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits))
);
COMMENT ON TABLE ledger_accounts IS '@append-only ledger accounts; balances live in ledger_balances, closure in ledger_account_closures';

CREATE TABLE ledger_account_closures (
  tenant_id  uuid NOT NULL,
  account_id uuid NOT NULL,
  closed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, account_id),
  FOREIGN KEY (tenant_id, account_id) REFERENCES ledger_accounts (tenant_id, id)
);
COMMENT ON TABLE ledger_account_closures IS '@append-only a closed account takes no new debit or credit';

-- Balances are 128-bit unsigned integers in minor units (numeric: never a float).
CREATE TABLE ledger_balances (
  tenant_id       uuid NOT NULL,
  account_id      uuid NOT NULL,
  debits_pending  numeric(39, 0) NOT NULL DEFAULT 0,
  debits_posted   numeric(39, 0) NOT NULL DEFAULT 0,
  credits_pending numeric(39, 0) NOT NULL DEFAULT 0,
  credits_posted  numeric(39, 0) NOT NULL DEFAULT 0,
  debits_must_not_exceed_credits boolean NOT NULL,
  credits_must_not_exceed_debits boolean NOT NULL,
  closed_at       timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, account_id),
  FOREIGN KEY (tenant_id, account_id) REFERENCES ledger_accounts (tenant_id, id),
  CONSTRAINT ledger_balances_u128 CHECK (
    debits_pending  BETWEEN 0 AND 340282366920938463463374607431768211455 AND
    debits_posted   BETWEEN 0 AND 340282366920938463463374607431768211455 AND
    credits_pending BETWEEN 0 AND 340282366920938463463374607431768211455 AND
    credits_posted  BETWEEN 0 AND 340282366920938463463374607431768211455)
);
COMMENT ON TABLE ledger_balances IS 'running balances, moved only by the ledger triggers; ocsuite ledger verify recomputes them';

CREATE TABLE ledger_transfers (
  tenant_id         uuid NOT NULL REFERENCES tenants (id),
  id                uuid NOT NULL,
  kind              text NOT NULL CHECK (kind IN ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending')),
  debit_account_id  uuid NOT NULL,
  credit_account_id uuid NOT NULL,
  amount            numeric(39, 0) NOT NULL CHECK (amount BETWEEN 1 AND 340282366920938463463374607431768211455),
  asset             text NOT NULL,
  scale             smallint NOT NULL,
  pending_id        uuid,
  timeout_seconds   integer CHECK (timeout_seconds BETWEEN 1 AND 31536000),
  expires_at        timestamptz,
  reverses          uuid,
  chain_id          uuid NOT NULL,
  chain_index       smallint NOT NULL CHECK (chain_index >= 0),
  chain_size        smallint NOT NULL CHECK (chain_size BETWEEN 1 AND 1000 AND chain_index < chain_size),
  code              integer NOT NULL DEFAULT 0 CHECK (code BETWEEN 0 AND 65535),
  reference         text CHECK (length(reference) <= 200),
  request_hash      bytea NOT NULL CHECK (length(request_hash) = 32),
  audit_event_id    uuid NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  -- The accounts are checked by ledger_prepare_transfer (with the ledger's own error codes); accounts are never deleted.
  FOREIGN KEY (tenant_id, pending_id) REFERENCES ledger_transfers (tenant_id, id),
  FOREIGN KEY (tenant_id, reverses) REFERENCES ledger_transfers (tenant_id, id),
  -- Every transfer is a leaf of the tenant's transparency log, written in the same transaction.
  FOREIGN KEY (tenant_id, audit_event_id) REFERENCES audit_events (tenant_id, id) DEFERRABLE INITIALLY DEFERRED,
  CHECK (debit_account_id <> credit_account_id),
  CHECK ((pending_id IS NOT NULL) = (kind IN ('post_pending', 'void_pending', 'expire_pending'))),
  CHECK (kind = 'pending' OR (timeout_seconds IS NULL AND expires_at IS NULL)),
  CHECK (reverses IS NULL OR kind = 'posted')
);
-- A pending transfer is resolved once: posted, voided or expired.
CREATE UNIQUE INDEX ledger_transfers_resolution_key ON ledger_transfers (tenant_id, pending_id);
CREATE INDEX ledger_transfers_time_idx ON ledger_transfers (tenant_id, created_at, id);
CREATE INDEX ledger_transfers_debit_idx ON ledger_transfers (tenant_id, debit_account_id, created_at, id);
CREATE INDEX ledger_transfers_credit_idx ON ledger_transfers (tenant_id, credit_account_id, created_at, id);
CREATE INDEX ledger_transfers_reverses_idx ON ledger_transfers (tenant_id, reverses) WHERE reverses IS NOT NULL;
CREATE INDEX ledger_transfers_expiry_idx ON ledger_transfers (expires_at) WHERE kind = 'pending' AND expires_at IS NOT NULL;
COMMENT ON TABLE ledger_transfers IS '@append-only ledger transfers: client ids, idempotent, each a leaf of the tenant log';

-- Signed movements of one transfer on one account side and bucket (a post releases the pending
-- amount and adds the posted one). Written by the triggers only.
CREATE TABLE ledger_entries (
  tenant_id   uuid NOT NULL,
  transfer_id uuid NOT NULL,
  account_id  uuid NOT NULL,
  side        text NOT NULL CHECK (side IN ('debit', 'credit')),
  bucket      text NOT NULL CHECK (bucket IN ('pending', 'posted')),
  amount      numeric(40, 0) NOT NULL CHECK (amount <> 0 AND abs(amount) <= 340282366920938463463374607431768211455),
  created_at  timestamptz NOT NULL,
  -- No foreign keys: only ledger_apply_transfer writes entries, for the transfer it is applying.
  PRIMARY KEY (tenant_id, transfer_id, account_id, side, bucket)
);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (tenant_id, account_id, created_at);
COMMENT ON TABLE ledger_entries IS '@append-only double-entry postings derived from ledger_transfers by trigger';

-- ─── Isolation and grants ───────────────────────────────────────────────────

SELECT ocsuite_enable_tenant_rls('ledger_accounts');
SELECT ocsuite_enable_tenant_rls('ledger_account_closures');
SELECT ocsuite_enable_tenant_rls('ledger_balances');
SELECT ocsuite_enable_tenant_rls('ledger_transfers');
SELECT ocsuite_enable_tenant_rls('ledger_entries');

-- The triggers run as the owner (SECURITY DEFINER); RLS is forced on the owner too, so it gets
-- the same tenant scope (the transaction's tenant is still set when a trigger runs).
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['ledger_accounts', 'ledger_account_closures', 'ledger_balances', 'ledger_transfers', 'ledger_entries'] LOOP
    EXECUTE format($p$CREATE POLICY %I ON %I TO CURRENT_USER
      USING (tenant_id = (SELECT ocsuite_current_tenant())) WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()))$p$, t || '_owner', t);
  END LOOP;
END
$$;

-- Pending expiry (a platform schedule) finds due transfers across tenants, then writes as each tenant.
CREATE POLICY ledger_transfers_maintenance_read ON ledger_transfers FOR SELECT TO ocsuite_maintenance USING (true);
GRANT SELECT ON ledger_transfers TO ocsuite_maintenance;

GRANT SELECT, INSERT ON ledger_accounts, ledger_account_closures, ledger_transfers TO ocsuite_runtime;
GRANT SELECT ON ledger_balances, ledger_entries TO ocsuite_runtime;

-- ─── Append-only, for every role ────────────────────────────────────────────

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['ledger_accounts', 'ledger_account_closures', 'ledger_transfers', 'ledger_entries'] LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()', t || '_append_only', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()', t || '_no_truncate', t);
  END LOOP;
END
$$;
CREATE TRIGGER ledger_balances_keep BEFORE DELETE ON ledger_balances FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_balances_no_truncate BEFORE TRUNCATE ON ledger_balances FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- ─── Accounts: a balance row each; closure ──────────────────────────────────

CREATE FUNCTION ledger_open_balance() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  INSERT INTO ledger_balances (tenant_id, account_id, debits_must_not_exceed_credits, credits_must_not_exceed_debits)
  VALUES (NEW.tenant_id, NEW.id, NEW.debits_must_not_exceed_credits, NEW.credits_must_not_exceed_debits);
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_accounts_open AFTER INSERT ON ledger_accounts FOR EACH ROW EXECUTE FUNCTION ledger_open_balance();

CREATE FUNCTION ledger_close_balance() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  NEW.closed_at := date_trunc('milliseconds', now());
  UPDATE ledger_balances SET closed_at = NEW.closed_at, updated_at = now()
  WHERE tenant_id = NEW.tenant_id AND account_id = NEW.account_id;
  RETURN NEW;
END
$$;
CREATE TRIGGER ledger_account_closures_apply BEFORE INSERT ON ledger_account_closures FOR EACH ROW EXECUTE FUNCTION ledger_close_balance();

-- ─── Transfers ──────────────────────────────────────────────────────────────

CREATE FUNCTION ledger_fail(code text, sqlstate text, transfer uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  RAISE EXCEPTION '%', code USING ERRCODE = sqlstate, DETAIL = transfer::text;
END
$$;

-- Completes and validates a transfer before it is stored. SQLSTATEs: OCL04 not found, OCL05 invalid,
-- OCL06 pending state, OCL07 expired.
CREATE FUNCTION ledger_prepare_transfer() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  d_asset text;
  d_scale smallint;
  c_asset text;
  c_scale smallint;
  p  ledger_transfers%ROWTYPE;
  o  ledger_transfers%ROWTYPE;
BEGIN
  NEW.created_at := date_trunc('milliseconds', now());
  IF NEW.kind IN ('post_pending', 'void_pending', 'expire_pending') THEN
    SELECT * INTO p FROM ledger_transfers WHERE tenant_id = NEW.tenant_id AND id = NEW.pending_id;
    IF NOT FOUND THEN PERFORM ledger_fail('pending_transfer_not_found', 'OCL04', NEW.id); END IF;
    IF p.kind <> 'pending' THEN PERFORM ledger_fail('pending_transfer_not_pending', 'OCL06', NEW.id); END IF;
    -- Accounts and amount may be left out: they are the pending transfer's (a post may take less).
    IF coalesce(NEW.debit_account_id, p.debit_account_id) <> p.debit_account_id OR coalesce(NEW.credit_account_id, p.credit_account_id) <> p.credit_account_id THEN
      PERFORM ledger_fail('pending_transfer_has_different_accounts', 'OCL05', NEW.id);
    END IF;
    NEW.debit_account_id := p.debit_account_id;
    NEW.credit_account_id := p.credit_account_id;
    NEW.amount := coalesce(NEW.amount, p.amount);
    IF NEW.kind = 'post_pending' THEN
      IF NEW.amount > p.amount THEN PERFORM ledger_fail('exceeds_pending_transfer_amount', 'OCL05', NEW.id); END IF;
    ELSIF NEW.amount <> p.amount THEN
      PERFORM ledger_fail('pending_transfer_has_different_amount', 'OCL05', NEW.id);
    END IF;
    IF NEW.kind = 'expire_pending' THEN
      IF p.expires_at IS NULL OR p.expires_at > NEW.created_at THEN PERFORM ledger_fail('pending_transfer_not_expired', 'OCL06', NEW.id); END IF;
    ELSIF p.expires_at IS NOT NULL AND p.expires_at <= NEW.created_at THEN
      PERFORM ledger_fail('pending_transfer_expired', 'OCL07', NEW.id);
    END IF;
  END IF;
  -- Both accounts in one lookup.
  SELECT max(a.asset) FILTER (WHERE a.id = NEW.debit_account_id), max(a.scale) FILTER (WHERE a.id = NEW.debit_account_id),
         max(a.asset) FILTER (WHERE a.id = NEW.credit_account_id), max(a.scale) FILTER (WHERE a.id = NEW.credit_account_id)
    INTO d_asset, d_scale, c_asset, c_scale
    FROM ledger_accounts a WHERE a.tenant_id = NEW.tenant_id AND a.id IN (NEW.debit_account_id, NEW.credit_account_id);
  IF d_asset IS NULL THEN PERFORM ledger_fail('debit_account_not_found', 'OCL04', NEW.id); END IF;
  IF c_asset IS NULL THEN PERFORM ledger_fail('credit_account_not_found', 'OCL04', NEW.id); END IF;
  IF d_asset <> c_asset OR d_scale <> c_scale THEN PERFORM ledger_fail('accounts_must_have_the_same_asset', 'OCL05', NEW.id); END IF;
  NEW.asset := d_asset;
  NEW.scale := d_scale;
  IF NEW.kind = 'pending' AND NEW.timeout_seconds IS NOT NULL THEN
    NEW.expires_at := NEW.created_at + make_interval(secs => NEW.timeout_seconds);
  END IF;
  IF NEW.reverses IS NOT NULL THEN
    SELECT * INTO o FROM ledger_transfers WHERE tenant_id = NEW.tenant_id AND id = NEW.reverses;
    IF NOT FOUND THEN PERFORM ledger_fail('reversed_transfer_not_found', 'OCL04', NEW.id); END IF;
    IF o.kind NOT IN ('posted', 'post_pending') THEN PERFORM ledger_fail('reversed_transfer_not_posted', 'OCL05', NEW.id); END IF;
    IF o.debit_account_id <> NEW.credit_account_id OR o.credit_account_id <> NEW.debit_account_id THEN
      PERFORM ledger_fail('reversal_must_swap_the_accounts', 'OCL05', NEW.id);
    END IF;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER ledger_transfers_prepare BEFORE INSERT ON ledger_transfers FOR EACH ROW EXECUTE FUNCTION ledger_prepare_transfer();

-- Applies every transfer of an INSERT statement (a linked chain is one statement) at once:
--   1. writes their entries (debit and credit; a post, void or expiry first releases the pending amount);
--   2. locks every balance row they touch, in account order (two chains queue, never deadlock);
--   3. replays the movements per account in chain order on the locked balances and refuses the first
--      transfer that would pass a closed account or break a balance flag — exactly as if the
--      transfers were applied one by one;
--   4. moves the balances in one UPDATE; past 128 bits the CHECK ledger_balances_u128 refuses it;
--   5. refuses reversals adding up to more than the transfer they reverse.
-- SQLSTATEs: OCL01 a balance flag, OCL02 a closed account, OCL05 a reversal too large.
CREATE FUNCTION ledger_apply_transfers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  bad record;
BEGIN
  INSERT INTO ledger_entries (tenant_id, transfer_id, account_id, side, bucket, amount, created_at)
  SELECT t.tenant_id, t.id, e.account, e.side, e.bucket, e.amount, t.created_at
  FROM inserted t
  LEFT JOIN ledger_transfers p ON p.tenant_id = t.tenant_id AND p.id = t.pending_id
  CROSS JOIN LATERAL (VALUES
      (t.debit_account_id, 'debit', 'pending', -coalesce(p.amount, 0)),
      (t.credit_account_id, 'credit', 'pending', -coalesce(p.amount, 0)),
      (t.debit_account_id, 'debit', CASE WHEN t.kind = 'pending' THEN 'pending' ELSE 'posted' END,
        CASE WHEN t.kind IN ('posted', 'pending', 'post_pending') THEN t.amount ELSE 0 END),
      (t.credit_account_id, 'credit', CASE WHEN t.kind = 'pending' THEN 'pending' ELSE 'posted' END,
        CASE WHEN t.kind IN ('posted', 'pending', 'post_pending') THEN t.amount ELSE 0 END)
    ) AS e(account, side, bucket, amount)
  WHERE e.amount <> 0;

  PERFORM 1 FROM ledger_balances b
  WHERE (b.tenant_id, b.account_id) IN (
    SELECT t.tenant_id, a.account FROM inserted t CROSS JOIN LATERAL (VALUES (t.debit_account_id), (t.credit_account_id)) AS a(account))
  ORDER BY b.tenant_id, b.account_id FOR UPDATE;

  SELECT r.transfer_id, CASE WHEN r.closed THEN 'account_closed' WHEN r.over_debits THEN 'exceeds_credits' ELSE 'exceeds_debits' END AS code,
         CASE WHEN r.closed THEN 'OCL02' ELSE 'OCL01' END AS state
    INTO bad
  FROM (
    SELECT m.transfer_id, m.chain_index,
      m.closed_at IS NOT NULL AND m.amount > 0 AS closed,
      m.debits_must_not_exceed_credits AND m.dp + m.dd > m.cd AS over_debits,
      m.credits_must_not_exceed_debits AND m.cp + m.cd > m.dd AS over_credits
    FROM (
      SELECT e.transfer_id, t.chain_index, e.amount, b.closed_at, b.debits_must_not_exceed_credits, b.credits_must_not_exceed_debits,
        b.debits_pending  + sum(CASE WHEN e.side = 'debit'  AND e.bucket = 'pending' THEN e.amount ELSE 0 END) OVER w AS dp,
        b.debits_posted   + sum(CASE WHEN e.side = 'debit'  AND e.bucket = 'posted'  THEN e.amount ELSE 0 END) OVER w AS dd,
        b.credits_pending + sum(CASE WHEN e.side = 'credit' AND e.bucket = 'pending' THEN e.amount ELSE 0 END) OVER w AS cp,
        b.credits_posted  + sum(CASE WHEN e.side = 'credit' AND e.bucket = 'posted'  THEN e.amount ELSE 0 END) OVER w AS cd
      FROM inserted t
      JOIN ledger_entries e ON e.tenant_id = t.tenant_id AND e.transfer_id = t.id
      JOIN ledger_balances b ON b.tenant_id = e.tenant_id AND b.account_id = e.account_id
      -- A transfer's releases before its additions; each step checked as it lands.
      WINDOW w AS (PARTITION BY e.account_id ORDER BY t.chain_index, t.id, e.amount > 0 ROWS UNBOUNDED PRECEDING)
    ) m
  ) r
  WHERE r.closed OR r.over_debits OR r.over_credits
  ORDER BY r.chain_index
  LIMIT 1;
  IF FOUND THEN PERFORM ledger_fail(bad.code, bad.state, bad.transfer_id); END IF;

  UPDATE ledger_balances b SET
    debits_pending = b.debits_pending + d.dp, debits_posted = b.debits_posted + d.dd,
    credits_pending = b.credits_pending + d.cp, credits_posted = b.credits_posted + d.cd, updated_at = now()
  FROM (
    SELECT e.tenant_id, e.account_id,
      sum(CASE WHEN e.side = 'debit'  AND e.bucket = 'pending' THEN e.amount ELSE 0 END) AS dp,
      sum(CASE WHEN e.side = 'debit'  AND e.bucket = 'posted'  THEN e.amount ELSE 0 END) AS dd,
      sum(CASE WHEN e.side = 'credit' AND e.bucket = 'pending' THEN e.amount ELSE 0 END) AS cp,
      sum(CASE WHEN e.side = 'credit' AND e.bucket = 'posted'  THEN e.amount ELSE 0 END) AS cd
    FROM inserted t JOIN ledger_entries e ON e.tenant_id = t.tenant_id AND e.transfer_id = t.id
    GROUP BY e.tenant_id, e.account_id
  ) d
  WHERE b.tenant_id = d.tenant_id AND b.account_id = d.account_id;

  SELECT t.id AS transfer_id INTO bad
  FROM inserted t JOIN ledger_transfers o ON o.tenant_id = t.tenant_id AND o.id = t.reverses
  WHERE (SELECT sum(r.amount) FROM ledger_transfers r WHERE r.tenant_id = t.tenant_id AND r.reverses = t.reverses) > o.amount
  ORDER BY t.chain_index LIMIT 1;
  IF FOUND THEN PERFORM ledger_fail('exceeds_reversible_amount', 'OCL05', bad.transfer_id); END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_transfers_apply AFTER INSERT ON ledger_transfers
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION ledger_apply_transfers();

-- At COMMIT: the transfer has entries and they balance per bucket (its accounts' one asset is checked before insert).
CREATE FUNCTION ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  broken boolean;
BEGIN
  SELECT count(*) = 0 OR bool_or(net <> 0) INTO broken FROM (
    SELECT sum(CASE WHEN e.side = 'debit' THEN e.amount ELSE -e.amount END) AS net
    FROM ledger_entries e WHERE e.tenant_id = NEW.tenant_id AND e.transfer_id = NEW.id GROUP BY e.bucket) per_bucket;
  IF broken THEN PERFORM ledger_fail('unbalanced_transfer', 'OCL08', NEW.id); END IF;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ledger_transfers_balanced AFTER INSERT ON ledger_transfers
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

-- A linked chain locks all its balance rows first, in id order, so two chains never deadlock.
CREATE FUNCTION ledger_lock_accounts(accounts uuid[], pendings uuid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  PERFORM 1 FROM ledger_balances b
  WHERE b.tenant_id = ocsuite_current_tenant()
    AND (b.account_id = ANY (accounts) OR b.account_id IN (
      SELECT unnest(ARRAY[t.debit_account_id, t.credit_account_id]) FROM ledger_transfers t
      WHERE t.tenant_id = ocsuite_current_tenant() AND t.id = ANY (pendings)))
  ORDER BY b.account_id FOR UPDATE;
END
$$;

REVOKE ALL ON FUNCTION ledger_refuse_change(), ledger_open_balance(), ledger_close_balance(), ledger_fail(text, text, uuid),
  ledger_prepare_transfer(), ledger_apply_transfers(),
  ledger_check_balanced(), ledger_lock_accounts(uuid[], uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_lock_accounts(uuid[], uuid[]) TO ocsuite_runtime;
