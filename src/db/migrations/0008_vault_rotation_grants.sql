-- Master-key rotation (issue #5) reseals every platform secret listed in
-- src/kernel/crypto/sealed-columns.ts. TOTP seeds arrived in 0007: the
-- maintenance role may read and swap their ciphertext, nothing else.
CREATE POLICY user_mfa_maintenance ON user_mfa TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT SELECT (user_id, totp_secret_sealed), UPDATE (totp_secret_sealed) ON user_mfa TO ocsuite_maintenance;
