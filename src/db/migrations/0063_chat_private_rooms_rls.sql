-- Numbered after 0060 on purpose: it calls ocsuite_holds(), which 0060 creates (a 004x number would run first on a fresh database).
-- Private rooms and direct messages behind the database's wall (issue #14): until now only the
-- service's filter (modules/chat/access.ts) kept a tenant member who is not in a private room or a
-- direct conversation from its rows. RESTRICTIVE policies now admit, within the tenant:
--   chat_rooms     public rooms; rooms the transaction's user (app.user_id) is a member of; direct
--                  rooms naming them in their pair (direct_key: they may always reopen it);
--                  holders of chat:moderate or chat:export (app.permissions, migration 0060).
--   chat_members   one's own rows; the rows of a room one may see by the rule above.
--   chat_messages  the messages of a room one may see (read and write): a non-member neither reads
--                  nor posts into, edits or removes a private room's messages.
--   chat_reports   the reporter's own reports; chat:moderate holders.
-- The service passes chat:moderate only on the moderation paths and chat:export only on the export
-- path (contextWithPermissions), so a bug on a member's path cannot widen what a moderator reads.

-- The rooms the transaction's user is a member of. chat_rooms' policy needs membership and
-- chat_members' policy needs the rooms: written as policies over each other, PostgreSQL would
-- refuse them as infinitely recursive. This reads chat_members as the owner (SECURITY DEFINER,
-- search_path pinned) under the owner's own tenant policy below, for the current tenant and user
-- only — it never answers about anyone else. Called as `(SELECT chat_member_rooms())`, once per
-- statement.
CREATE FUNCTION chat_member_rooms() RETURNS uuid[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT coalesce(array_agg(room_id), '{}') FROM public.chat_members
  WHERE tenant_id = public.ocsuite_current_tenant() AND user_id = public.ocsuite_current_user()
$$;
REVOKE ALL ON FUNCTION chat_member_rooms() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chat_member_rooms() TO ocsuite_runtime;

-- RLS is forced on the owner too: the function's reads get the tenant scope (the transaction's
-- tenant is still set), as the ledger's triggers do (0020).
CREATE POLICY chat_members_owner ON chat_members FOR SELECT TO CURRENT_USER
  USING (tenant_id = (SELECT ocsuite_current_tenant()));

CREATE POLICY chat_rooms_visible ON chat_rooms AS RESTRICTIVE FOR SELECT TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    kind = 'public'
    OR id = ANY ((SELECT chat_member_rooms())::uuid[])
    OR (kind = 'direct' AND (SELECT ocsuite_current_user())::text = ANY (string_to_array(direct_key, ':')))
    OR (SELECT ocsuite_holds('chat:moderate')) OR (SELECT ocsuite_holds('chat:export'))));

CREATE POLICY chat_members_visible ON chat_members AS RESTRICTIVE FOR SELECT TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    user_id = (SELECT ocsuite_current_user())
    OR EXISTS (SELECT 1 FROM chat_rooms r WHERE r.tenant_id = chat_members.tenant_id AND r.id = chat_members.room_id)));

-- Messages follow their room: the room subquery is itself filtered by chat_rooms_visible.
CREATE POLICY chat_messages_room ON chat_messages AS RESTRICTIVE FOR ALL TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND EXISTS (
    SELECT 1 FROM chat_rooms r WHERE r.tenant_id = chat_messages.tenant_id AND r.id = chat_messages.room_id))
  WITH CHECK (tenant_id = (SELECT ocsuite_current_tenant()) AND EXISTS (
    SELECT 1 FROM chat_rooms r WHERE r.tenant_id = chat_messages.tenant_id AND r.id = chat_messages.room_id));

CREATE POLICY chat_reports_visible ON chat_reports AS RESTRICTIVE FOR SELECT TO ocsuite_runtime
  USING (tenant_id = (SELECT ocsuite_current_tenant()) AND (
    reporter_id = (SELECT ocsuite_current_user()) OR (SELECT ocsuite_holds('chat:moderate'))));
