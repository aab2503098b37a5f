/**
 * Database roles (DESIGN.md §4). The connecting login only switches into these
 * with SET LOCAL ROLE inside a transaction; none can bypass RLS.
 * - runtime: every tenant request; sees one tenant through RLS.
 * - identity: sign-up, login, refresh, invitation acceptance — the flows that
 *   run before a tenant is known; granted identity tables only.
 * - maintenance: retention pruning; audited.
 */
export const DbRole = {
  runtime: 'ocsuite_runtime',
  identity: 'ocsuite_identity',
  maintenance: 'ocsuite_maintenance',
} as const;
export type DbRoleName = (typeof DbRole)[keyof typeof DbRole];
