import { sql } from 'drizzle-orm';
import { ProblemError } from '../../http/problem.ts';
import { mfaState } from '../../kernel/auth/mfa.ts';
import { hashOpaqueToken, newOpaqueToken } from '../../kernel/auth/opaque-token.ts';
import { assertPasswordAcceptable, hashPassword, verifyPassword } from '../../kernel/auth/passwords.ts';
import { QueueFullError } from '../../kernel/jobs/errors.ts';
import { claimAttempt, IP_POLICY, recordFailure, releaseAttempt, throttleKey } from '../../kernel/limits/login-throttle.ts';
import { enqueueMail, MAIL_QUEUE } from '../../kernel/mail/delivery.ts';
import type { Platform } from '../../kernel/platform.ts';
import { credentialThrottle } from './credential-throttle.ts';
import { issueMfaTicket, type ClientInfo, type IssuedTokens, type MfaChallenge } from './sessions.ts';
import { openTenant } from './tenant-opening.ts';

/** What a signup with OCSUITE_SIGNUP_CONFIRMATION=email answers, whoever the address belongs to. */
export interface SignupPending {
  status: 'confirmation-sent';
  detail: string;
}

const PENDING: SignupPending = {
  status: 'confirmation-sent',
  detail: 'If the address can receive mail, a link to finish the signup is on its way. It works once and expires in 24 hours.',
};
const REQUEST_TTL_SECONDS = 86_400;

const invalidLink = () => new ProblemError('invalid-token', 401, 'The signup link is invalid, expired or already used.');

interface UserRow {
  id: string;
  email: string;
  password_hash: string | null;
}

/**
 * Self-serve signup (issue #22 §1). Whatever the mode, an existing account's
 * password opens a tenant only once every factor the account has is proved.
 *
 * - `none` (the embedded quick start): tokens at once; an existing address
 *   answers 409 unless its password is given — it reveals known addresses.
 * - `email` (production default): the answer is 202 with one body for a new
 *   and a known address, after the same work (one Argon2 hash, one row, one
 *   queued mail); the mailed link creates the account and tenant, or, for a
 *   known address, asks for its password and second factor first.
 */
export function createSignupService(platform: Platform) {
  const throttle = credentialThrottle(platform);

  async function findUser(email: string): Promise<UserRow | undefined> {
    const [user] = await platform.withIdentity((tx) =>
      tx.query<UserRow>(sql`SELECT id, email, password_hash FROM users WHERE email_normalized = lower(${email})`));
    return user;
  }

  /** An existing account opening another tenant: the password is proved here, the second factor (if any) after. */
  async function openForExisting(user: UserRow, input: { tenantName: string; password: string }, client: ClientInfo, consume?: string): Promise<IssuedTokens | MfaChallenge> {
    const keys = [throttleKey.account(user.email), throttleKey.ip(client.ip)];
    await throttle.claim(keys);
    if (!(await verifyPassword(user.password_hash, input.password))) {
      await throttle.recordFailures(keys);
      throw consume
        ? new ProblemError('invalid-credentials', 401, 'The password is not right.')
        : new ProblemError('conflict', 409, 'This email already has an account; sign up with its password or log in.');
    }
    return throttle.afterClaim(keys, () => platform.withIdentity(async (tx) => {
      if (consume) {
        const used = await tx.query(sql`UPDATE signup_requests SET used_at = now() WHERE token_hash = ${consume} AND used_at IS NULL AND expires_at > now() RETURNING token_hash`);
        if (used.length === 0) throw invalidLink();
      }
      await throttle.recordSuccesses(tx, keys);
      // A password alone creates nothing for an account with a second factor.
      if ((await mfaState(tx, user.id)) === 'enabled') return issueMfaTicket(tx, user.id, { signupTenantName: input.tenantName });
      return openTenant(tx, platform, { tenantName: input.tenantName, user, newAccount: false }, client);
    }));
  }

  async function signupAtOnce(input: { tenantName: string; email: string; password: string }, client: ClientInfo): Promise<IssuedTokens | MfaChallenge> {
    const existing = await findUser(input.email);
    if (existing) return openForExisting(existing, input, client);
    const passwordHash = await hashPassword(input.password);
    return platform.withIdentity(async (tx) => {
      const [user] = await tx.query<{ id: string; email: string }>(sql`
        INSERT INTO users (email, password_hash) VALUES (${input.email}, ${passwordHash}) RETURNING id, email`);
      return openTenant(tx, platform, { tenantName: input.tenantName, user: user!, newAccount: true }, client);
    });
  }

  async function signupByEmail(input: { tenantName: string; email: string; password: string }): Promise<SignupPending> {
    const existing = await findUser(input.email);
    // Hashed either way: a known address must not answer faster than a new one.
    const passwordHash = await hashPassword(input.password);
    const { token, hash } = newOpaqueToken('ocs_su');
    // The fragment keeps the token out of server and proxy logs when the link is opened.
    const link = `${platform.config.publicUrl}/signup/confirm#token=${token}`;
    try {
      await platform.jobs.assertRoom(MAIL_QUEUE.name);
      // The request and its mail (an outbox row) commit together or not at all.
      await platform.withIdentity(async (tx) => {
        await tx.query(sql`DELETE FROM signup_requests WHERE expires_at < now()`);
        await tx.query(sql`
          INSERT INTO signup_requests (token_hash, email, tenant_name, password_hash, user_id, expires_at)
          VALUES (${hash}, ${existing?.email ?? input.email}, ${input.tenantName}, ${existing ? null : passwordHash}, ${existing?.id ?? null},
                  now() + make_interval(secs => ${REQUEST_TTL_SECONDS}))`);
        // The tenant name is the requester's text: it is not put into a mail to someone else's mailbox.
        await enqueueMail(platform.jobs, platform.keyring, existing
          ? {
              to: existing.email,
              subject: 'Someone asked to open an OC-Suite tenant with your address',
              text: `This address already has an OC-Suite account. Someone asked to open a new tenant with it.\n\nIf it was you, follow this link and confirm with your password (and second factor):\n${link}\n\nIf it was not you, ignore this mail: nothing was created and your account is unchanged.`,
            }
          : {
              to: input.email,
              subject: 'Finish your OC-Suite signup',
              text: `Follow this link to create your OC-Suite account and tenant:\n${link}\n\nThe link works once and expires in 24 hours. If you did not sign up, ignore this mail.`,
            }, tx);
      });
    } catch (err) {
      // The answer stays the same; a refused request left nothing behind (its transaction rolled back).
      if (!(err instanceof QueueFullError)) throw err;
      platform.log.warn('mail queue full: a signup link was not sent');
    }
    return PENDING;
  }

  return {
    async signup(input: { tenantName: string; email: string; password: string }, client: ClientInfo): Promise<IssuedTokens | MfaChallenge | SignupPending> {
      if (!platform.config.signupEnabled) throw new ProblemError('signup-disabled', 403, 'Ask a tenant admin for an invitation.');
      assertPasswordAcceptable(input.password, { email: input.email });
      return platform.config.signupConfirmation === 'email' ? signupByEmail(input) : signupAtOnce(input, client);
    },

    /** Follows a mailed signup link; throttled per IP like every one-time token. */
    async confirm(input: { token: string; password?: string | undefined }, client: ClientInfo): Promise<IssuedTokens | MfaChallenge> {
      if (!platform.config.signupEnabled) throw new ProblemError('signup-disabled', 403, 'Ask a tenant admin for an invitation.');
      const ipKey = throttleKey.ip(client.ip);
      await claimAttempt(platform.withIdentity, [{ key: ipKey, policy: IP_POLICY }]);
      const hash = hashOpaqueToken(input.token);
      const [request] = await platform.withIdentity((tx) => tx.query<{ email: string; tenant_name: string; password_hash: string | null; user_id: string | null }>(sql`
        SELECT email, tenant_name, password_hash, user_id FROM signup_requests WHERE token_hash = ${hash} AND used_at IS NULL AND expires_at > now()`));
      if (!request) {
        await platform.withIdentity((tx) => recordFailure(tx, ipKey, IP_POLICY));
        throw invalidLink();
      }
      await platform.withIdentity((tx) => releaseAttempt(tx, ipKey));
      if (request.user_id) {
        if (!input.password) {
          throw new ProblemError('validation-failed', 400, 'This address already has an account: confirm with its password.', { extensions: { errors: [{ field: '/password', message: 'required for an existing account' }] } });
        }
        const [user] = await platform.withIdentity((tx) => tx.query<UserRow>(sql`SELECT id, email, password_hash FROM users WHERE id = ${request.user_id}`));
        if (!user) throw invalidLink();
        return openForExisting(user, { tenantName: request.tenant_name, password: input.password }, client, hash);
      }
      return platform.withIdentity(async (tx) => {
        const used = await tx.query(sql`UPDATE signup_requests SET used_at = now() WHERE token_hash = ${hash} AND used_at IS NULL RETURNING token_hash`);
        if (used.length === 0) throw invalidLink();
        // Signed up twice before confirming either: the second link finds the account made by the first.
        const taken = await tx.query(sql`SELECT 1 FROM users WHERE email_normalized = lower(${request.email})`);
        if (taken.length > 0) throw new ProblemError('conflict', 409, 'This address has an account now; log in, or sign up again to open another tenant.');
        // Following the link proved the mailbox.
        const [user] = await tx.query<{ id: string; email: string }>(sql`
          INSERT INTO users (email, password_hash, email_verified_at) VALUES (${request.email}, ${request.password_hash}, now()) RETURNING id, email`);
        return openTenant(tx, platform, { tenantName: request.tenant_name, user: user!, newAccount: true }, client);
      });
    },
  };
}
export type SignupService = ReturnType<typeof createSignupService>;
