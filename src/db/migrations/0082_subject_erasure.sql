-- Data-subject erasure (issue #16 §6, docs/privacy.md): what the modules' eraseSubject hooks need to
-- take a person's name off the rows that stay (tenant records), and the one way a person's account
-- itself is pseudonymised.

-- identity: their invitations in the tenant go, the rows that name them as inviter/acceptor lose the
-- link; API keys they named lose the name; their sessions in the tenant lose client address and agent.
GRANT DELETE, UPDATE (invited_by, accepted_by) ON invitations TO ocsuite_runtime;
GRANT UPDATE (name, created_by) ON api_keys TO ocsuite_runtime;
GRANT UPDATE (user_agent, ip) ON sessions TO ocsuite_runtime;
-- content and approvals: records stay, their author link goes.
GRANT UPDATE (created_by) ON content_drafts, content_providers TO ocsuite_runtime;
GRANT UPDATE (created_by) ON insights TO ocsuite_runtime;
GRANT UPDATE (requested_by) ON action_approvals TO ocsuite_runtime;

-- The account of a person who is a member of no tenant any more: the address becomes a placeholder
-- that cannot receive mail (RFC 2606 .invalid), name and password go, and every per-user identity row
-- (second factors, recovery codes, tokens, external identities, sessions, signup requests) is deleted.
-- The user id stays: it is what audit events and tenant records keep, and it now names nobody.
-- Refuses (returns false) while any membership remains, so no caller can rewrite a live account.
CREATE FUNCTION ocsuite_pseudonymise_user(uid uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM memberships WHERE user_id = uid) THEN
    RETURN false;
  END IF;
  DELETE FROM sessions WHERE user_id = uid;
  DELETE FROM user_mfa WHERE user_id = uid;
  DELETE FROM mfa_recovery_codes WHERE user_id = uid;
  DELETE FROM mfa_tickets WHERE user_id = uid;
  DELETE FROM user_tokens WHERE user_id = uid;
  DELETE FROM external_identities WHERE user_id = uid;
  DELETE FROM signup_requests WHERE user_id = uid OR lower(email) = (SELECT email_normalized FROM users WHERE id = uid);
  UPDATE users SET email = 'erased-' || uid::text || '@erased.invalid', display_name = NULL, password_hash = NULL,
                   email_verified_at = NULL, updated_at = now()
  WHERE id = uid;
  RETURN FOUND;
END
$$;
REVOKE ALL ON FUNCTION ocsuite_pseudonymise_user(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocsuite_pseudonymise_user(uuid) TO ocsuite_identity;
