-- How often each API key was used (module insights, issue #16 §3): added up in memory and written
-- with last_used_at, at most about once a minute per key and process (kernel/auth/credentials.ts).
ALTER TABLE api_keys ADD COLUMN use_count bigint NOT NULL DEFAULT 0 CHECK (use_count >= 0);
GRANT UPDATE (use_count) ON api_keys TO ocsuite_identity;
