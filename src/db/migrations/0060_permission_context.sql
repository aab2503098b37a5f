-- Record-level policies that depend on what the caller may do (issue #16: an alliances note is
-- visible to its author and to holders of alliances:manage; academy progress to the learner, the
-- course's instructor and academy:manage). The database does not know the permission catalogue —
-- built-in role defaults come from the module manifests, an API key's scopes narrow its creator's —
-- so the request path tells it: withTenant / queryAsTenant set `app.permissions` transaction-locally
-- (set_config(…, true)) to the permissions the resolved principal holds among those a module's
-- policies consult, through one helper (contextWithPermissions in kernel/auth/principal.ts), never
-- from client input. Unset, it is '' and every ocsuite_holds() is false: such a policy fails closed.

-- Whether the transaction's principal holds `permission`. Called as `(SELECT ocsuite_holds('…'))`
-- in policies so it is evaluated once per statement. Same form as the context functions of 0014
-- (SQL-standard body, no SET clause, not SECURITY DEFINER), and the schema lint pins its body.
CREATE FUNCTION ocsuite_holds(permission text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce(permission = ANY (string_to_array(nullif(current_setting('app.permissions', true), ''), ',')), false);

REVOKE ALL ON FUNCTION ocsuite_holds(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocsuite_holds(text) TO ocsuite_runtime, ocsuite_identity, ocsuite_maintenance;
