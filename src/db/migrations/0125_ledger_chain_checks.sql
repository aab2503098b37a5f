-- The ledger's commit-time balance check once per linked chain instead of once per transfer
-- (issue #12's benchmark: a chain of 100 fired 100 deferred triggers at COMMIT).
--
-- Sound only if a chain is whole and written by one statement: a statement trigger now refuses
-- any INSERT whose chains are not complete in it — the head's id is the chain id, indexes
-- 0..size-1 each once, and no row of the chain outside the statement. Then the deferred check of
-- the head (chain_index 0) covers every transfer of its chain.

CREATE INDEX ledger_transfers_chain_idx ON ledger_transfers (tenant_id, chain_id);

-- SQLSTATE OCL09: a chain written in parts or with a wrong head (a bug, never the client's fault).
CREATE FUNCTION ledger_check_chains_whole() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  bad uuid;
BEGIN
  SELECT c.chain_id INTO bad FROM (
    SELECT i.tenant_id, i.chain_id, count(*) AS n, count(DISTINCT i.chain_index) AS indexes, min(i.chain_size) AS lo, max(i.chain_size) AS hi,
      bool_or(i.chain_index = 0 AND i.id = i.chain_id) AS headed
    FROM inserted i GROUP BY i.tenant_id, i.chain_id) c
  WHERE NOT c.headed OR c.lo <> c.hi OR c.n <> c.lo OR c.indexes <> c.n
     OR (SELECT count(*) FROM ledger_transfers t WHERE t.tenant_id = c.tenant_id AND t.chain_id = c.chain_id) <> c.n
  LIMIT 1;
  IF FOUND THEN PERFORM ledger_fail('chain_incomplete', 'OCL09', bad); END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER ledger_transfers_chain_whole AFTER INSERT ON ledger_transfers
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_chains_whole();

-- At COMMIT, for the chain headed by NEW: every transfer has entries and they balance per bucket.
CREATE FUNCTION ledger_check_chain_balanced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  bad uuid;
BEGIN
  SELECT t.id INTO bad
  FROM ledger_transfers t
  LEFT JOIN ledger_entries e ON e.tenant_id = t.tenant_id AND e.transfer_id = t.id
  WHERE t.tenant_id = NEW.tenant_id AND t.chain_id = NEW.chain_id
  GROUP BY t.id, e.bucket
  HAVING count(e.transfer_id) = 0 OR sum(CASE WHEN e.side = 'debit' THEN e.amount ELSE -e.amount END) <> 0
  LIMIT 1;
  IF FOUND THEN PERFORM ledger_fail('unbalanced_transfer', 'OCL08', bad); END IF;
  RETURN NULL;
END
$$;
DROP TRIGGER ledger_transfers_balanced ON ledger_transfers;
DROP FUNCTION ledger_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_transfers_balanced AFTER INSERT ON ledger_transfers
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.chain_index = 0) EXECUTE FUNCTION ledger_check_chain_balanced();

REVOKE ALL ON FUNCTION ledger_check_chains_whole(), ledger_check_chain_balanced() FROM PUBLIC;
