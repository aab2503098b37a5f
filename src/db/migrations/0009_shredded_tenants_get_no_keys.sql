-- A crypto-shredded tenant never gets a data key again. A request that raced
-- the deletion (a token still cached, a transaction already running) could
-- otherwise create a fresh active key after the shred and seal new secrets
-- that open. The application refuses first (activeDataKey); this is the wall.
DROP POLICY tenant_data_keys_tenant ON tenant_data_keys;
CREATE POLICY tenant_data_keys_tenant ON tenant_data_keys TO ocsuite_runtime
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (
    tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid)
    AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = tenant_id AND t.deleted_at IS NULL)
  );
