import { sql } from 'drizzle-orm';
import { assertMayAssign } from '../../kernel/access/assignment.ts';
import { isBuiltInRole as isRole, type BuiltInRole as Role } from '../../kernel/access/catalog.ts';
import { hashOpaqueToken, newOpaqueToken } from '../../kernel/auth/opaque-token.ts';
import { assertPasswordAcceptable, hashPassword, verifyPassword } from '../../kernel/auth/passwords.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { ProblemError, notFound } from '../../http/problem.ts';
import type { Platform } from '../../kernel/platform.ts';
import { enqueueMail, MAIL_QUEUE } from '../../kernel/mail/delivery.ts';
import { ACCOUNT_POLICY, claimAttempt, IP_POLICY, recordFailure, recordSuccess, releaseAttempt, releasingClaimsOnThrow, throttleKey } from '../../kernel/limits/login-throttle.ts';
import { mfaState } from '../../kernel/auth/mfa.ts';
import { issueMfaTicket, startSession, type ClientInfo, type IssuedTokens, type MfaChallenge } from './sessions.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';

const invalidInvitation = () => new ProblemError('invalid-token', 401, 'The invitation is invalid, expired or already used.');

interface InvitationRow {
  id: string;
  email: string;
  role: string;
  expires_at: Date;
  created_at: Date;
}

const view = (r: InvitationRow) => ({ id: r.id, email: r.email, role: r.role, expiresAt: r.expires_at.toISOString(), createdAt: r.created_at.toISOString() });

export function createInvitationsService(platform: Platform) {

  return {
    /** Creates an invitation; the token is in the returned URL and the mail only, never stored in clear. */
    async create(principal: Principal, input: { email: string; role: Role }) {
      assertMayAssign(principal.roles, null, input.role);
      const { token, hash } = newOpaqueToken('ocs_inv');
      const ttl = platform.config.invitationTtlSeconds;
      // A full mail queue refuses before anything is written (503 changes nothing).
      await platform.jobs.assertRoom(MAIL_QUEUE.name);
      // The fragment keeps the token out of server and proxy logs when the link is opened.
      const acceptUrl = `${platform.config.publicUrl}/invitations/accept#token=${token}`;
      // The mail is an outbox row of the same transaction (docs/jobs.md "Outbox"): the invitation and
      // its mail commit together or not at all, and no queue outage holds the request.
      const [row] = await platform.withTenant(contextOf(principal), async (tx) => {
        const rows = await tx.query<InvitationRow>(sql`
          INSERT INTO invitations (tenant_id, email, role, token_hash, invited_by, expires_at)
          VALUES (${principal.tenantId}, ${input.email}, ${input.role}, ${hash}, ${principal.userId}, now() + make_interval(secs => ${ttl}))
          RETURNING id, email, role, expires_at, created_at`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'invitation.created',
          target: { type: 'invitation', id: rows[0]?.id }, outcome: 'success', metadata: { role: input.role },
          personal: { fields: { email: input.email }, email: input.email },
        });
        await enqueueMail(platform.jobs, platform.keyring, {
          to: input.email,
          subject: 'You have been invited to OC-Suite',
          text: `You have been invited to join a tenant on OC-Suite as ${input.role}.\n\nAccept: ${acceptUrl}\n\nThe link works once and expires in ${Math.round(ttl / 3600)} hours.`,
        }, tx);
        return rows;
      });
      // The link is a credential for joining the tenant: in production only the invitee's mailbox gets it.
      return platform.config.invitationLinksInResponse ? { ...view(row!), acceptUrl } : view(row!);
    },

    async list(principal: Principal) {
      const rows = await platform.withTenant(contextOf(principal), (tx) =>
        tx.query<InvitationRow>(sql`
          SELECT id, email, role, expires_at, created_at FROM invitations
          WHERE accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
          ORDER BY created_at DESC LIMIT 1000`),
      );
      return rows.map(view);
    },

    async revoke(principal: Principal, id: string) {
      const rows = await platform.withTenant(contextOf(principal), async (tx) => {
        // Only whoever may grant the invited role may take the invitation back (an owner invitation: owners).
        const [invite] = await tx.query<{ role: string }>(sql`
          SELECT role FROM invitations WHERE id = ${id} AND accepted_at IS NULL AND revoked_at IS NULL FOR UPDATE`);
        if (invite && isRole(invite.role)) assertMayAssign(principal.roles, null, invite.role);
        const revoked = await tx.query(sql`UPDATE invitations SET revoked_at = now() WHERE id = ${id} AND accepted_at IS NULL AND revoked_at IS NULL RETURNING id`);
        if (revoked.length > 0) {
          await recordAuditEvent(tx, { tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'invitation.revoked', target: { type: 'invitation', id }, outcome: 'success' });
        }
        return revoked;
      });
      if (rows.length === 0) throw notFound('invitation');
    },

    /**
     * Accepts an invitation. A new email becomes an account with this password;
     * an existing account proves itself with its password.
     */
    async accept(input: { token: string; password: string }, client: ClientInfo): Promise<IssuedTokens | MfaChallenge> {
      const tokenHash = hashOpaqueToken(input.token);
      const lookup = () =>
        platform.withIdentity((tx) =>
          tx.query<{ tenant_id: string; id: string; email: string; role: string; user_id: string | null; password_hash: string | null }>(sql`
            SELECT i.tenant_id, i.id, i.email, i.role, u.id AS user_id, u.password_hash
            FROM invitations i JOIN tenants t ON t.id = i.tenant_id AND t.status = 'active'
            LEFT JOIN users u ON u.email_normalized = lower(i.email)
            WHERE i.token_hash = ${tokenHash} AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()`),
        );
      const throttle = throttleKey.invitation(client.ip);
      await claimAttempt(platform.withIdentity, [{ key: throttle, policy: IP_POLICY }]);
      const fail = () => platform.withIdentity((tx) => recordFailure(tx, throttle, IP_POLICY));
      const [invite] = await lookup();
      if (!invite || !isRole(invite.role)) {
        await fail();
        throw invalidInvitation();
      }
      let passwordHash: string | null = null;
      if (invite.user_id) {
        // The password of an existing account: throttled per account as well as per IP, like login.
        const account = throttleKey.account(invite.email);
        await claimAttempt(platform.withIdentity, [{ key: account, policy: ACCOUNT_POLICY }]);
        if (!(await verifyPassword(invite.password_hash, input.password))) {
          await fail();
          await platform.withIdentity((tx) => recordFailure(tx, account, ACCOUNT_POLICY));
          throw new ProblemError('invalid-credentials', 401, 'This email already has an account; use its password.');
        }
      } else {
        assertPasswordAcceptable(input.password, { email: invite.email });
        passwordHash = await hashPassword(input.password);
      }
      const role = invite.role;
      // A refusal below (already a member) was no guess either: the claims are taken back on a throw.
      const claimedKeys = invite.user_id ? [throttle, throttleKey.account(invite.email)] : [throttle];
      const outcome = await releasingClaimsOnThrow(platform.withIdentity, claimedKeys, () => platform.withIdentity(async (tx) => {
        // A real invitation (and the account's right password) was no guess: take the attempts back.
        await releaseAttempt(tx, throttle);
        if (invite.user_id) await recordSuccess(tx, throttleKey.account(invite.email));
        // Claim the invitation first: a second, concurrent acceptance finds nothing to claim.
        const claimed = await tx.query<{ id: string }>(sql`
          UPDATE invitations SET accepted_at = now()
          WHERE tenant_id = ${invite.tenant_id} AND id = ${invite.id} AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
          RETURNING id`);
        if (claimed.length === 0) return undefined;
        const [user] = invite.user_id
          ? await tx.query<{ id: string; email: string }>(sql`SELECT id, email FROM users WHERE id = ${invite.user_id}`)
          : await tx.query<{ id: string; email: string }>(sql`
              INSERT INTO users (email, password_hash) VALUES (${invite.email}, ${passwordHash}) RETURNING id, email`);
        await tx.query(sql`UPDATE invitations SET accepted_by = ${user!.id} WHERE tenant_id = ${invite.tenant_id} AND id = ${invite.id}`);
        const inserted = await tx.query(sql`
          INSERT INTO memberships (tenant_id, user_id, role) VALUES (${invite.tenant_id}, ${user!.id}, ${role})
          ON CONFLICT (tenant_id, user_id) DO NOTHING RETURNING user_id`);
        if (inserted.length === 0) throw new ProblemError('conflict', 409, 'You are already a member of this tenant.');
        const [tenant] = await tx.query<{ id: string; name: string }>(sql`SELECT id, name FROM tenants WHERE id = ${invite.tenant_id}`);
        // An account with a second factor joins, but signs in only through the MFA step.
        const issued = invite.user_id && (await mfaState(tx, user!.id)) === 'enabled'
          ? await issueMfaTicket(tx, user!.id, { tenantId: invite.tenant_id })
          : await startSession(tx, platform, { tenant: tenant!, user: user!, role }, client);
        await recordAuditEvent(tx, {
          tenantId: invite.tenant_id, actor: { type: 'user', id: user!.id }, action: 'invitation.accepted',
          target: { type: 'invitation', id: invite.id }, outcome: 'success', metadata: { role, newAccount: !invite.user_id },
        });
        return issued;
      }));
      if (!outcome) throw invalidInvitation();
      return outcome;
    },
  };
}
