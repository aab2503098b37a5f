-- Connector fingerprints become keyed (kernel/crypto/fingerprint.ts): HMAC
-- under a key derived from the tenant's data key, `hmac:` + 16 hex digits. A
-- plain SHA-256 prefix let anyone holding a fingerprint (audit exports keep
-- them after a tenant is shredded) test guesses of a short secret offline.
-- Rows written before keep their `sha256:` value until the secret is rotated.
ALTER TABLE connectors DROP CONSTRAINT connectors_secret_fingerprint_check;
ALTER TABLE connectors ADD CONSTRAINT connectors_secret_fingerprint_check
  CHECK (secret_fingerprint ~ '^(sha256|hmac):[0-9a-f]{16}$');
