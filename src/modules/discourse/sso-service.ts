import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { recordAuditEvent, recordAuditEventNow } from '../../kernel/audit/events.ts';
import { isCryptoError } from '../../kernel/crypto/index.ts';
import { isUuid } from '../../kernel/ids.ts';
import type { Platform } from '../../kernel/platform.ts';
import { memberRoleState } from '../roles/service.ts';
import { ssoProfileOf } from '../identity/sso-profile.ts';
import { openIntegration, type OpenedIntegration, type Selector } from './config-service.ts';
import { externalIdOf } from './logout-sync.ts';
import { decodeRequest, encodeAnswer, NONCE_LIFETIME_SECONDS, onOrigin, signSso, verifySso } from './protocol.ts';

export type RefusalReason = 'not-configured' | 'bad-signature' | 'bad-payload' | 'foreign-return-url' | 'replayed-nonce' | 'stale-nonce' | 'not-a-member' | 'mfa-required';

/** A DiscourseConnect request that is not honoured; `reason` is one of a fixed set (never echoes input). */
export class SsoRefusedError extends Error {
  readonly reason: RefusalReason;
  constructor(reason: RefusalReason) {
    super(`DiscourseConnect request refused: ${reason}`);
    this.name = 'SsoRefusedError';
    this.reason = reason;
  }
}

export interface VerifiedRequest {
  tenantId: string;
  origin: string;
  nonce: string;
}

/** How the person proved who they are in this sign-in. */
export interface SignedInPerson {
  userId: string;
  /** A second factor was proven (in this sign-in, or by the bearer session at some point). */
  mfa: boolean;
  via: 'password' | 'session';
}

const nonceHash = (nonce: string) => createHash('sha256').update(nonce, 'utf8').digest('hex');

/** Discourse usernames: letters, digits, `_`, `.`, `-`; 3–20 characters by default. */
function usernameOf(email: string, displayName: string | null): string {
  const base = (displayName ?? email.slice(0, email.indexOf('@'))).normalize('NFKD').replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[_.-]+|[_.-]+$/g, '');
  const cut = base.slice(0, 20);
  return cut.length >= 3 ? cut : `${cut}_user`.slice(0, 20);
}

/**
 * The DiscourseConnect provider: checks what Discourse sent (signature over the
 * payload as received, a single-use nonce younger than ten minutes from when it
 * was first seen, a return URL on the configured origin) and builds the signed
 * answer from the mapping alone — internal role names never leave.
 */
export function createDiscourseSsoService(platform: Platform) {
  async function refuse(tenantId: string | null, reason: RefusalReason, via: string): Promise<never> {
    if (tenantId && reason !== 'not-configured') {
      await recordAuditEventNow(platform, {
        tenantId, actor: { type: 'system', id: 'discourse-connect' }, action: 'discourse.sso_refused',
        outcome: 'failure', reason, metadata: { via },
      }).catch((err: unknown) => platform.log.warn({ err }, 'discourse refusal audit failed'));
    }
    throw new SsoRefusedError(reason);
  }

  /** Signature, payload and origin checks, then the nonce's first sighting; every check before any state. */
  async function check(tx: Session, tenantId: string, sso: string, sig: string): Promise<{ integration: OpenedIntegration; nonce: string } | RefusalReason> {
    let integration: OpenedIntegration | undefined;
    try {
      integration = await openIntegration(platform, tx, tenantId);
    } catch (err) {
      if (isCryptoError(err)) return 'not-configured';
      throw err;
    }
    if (!integration) return 'not-configured';
    if (!verifySso(integration.secret, sso, sig)) return 'bad-signature';
    const request = decodeRequest(sso);
    if (!request) return 'bad-payload';
    if (!onOrigin(request.returnSsoUrl, integration.origin)) return 'foreign-return-url';
    await tx.query(sql`DELETE FROM discourse_nonces WHERE first_seen_at < now() - interval '1 day'`);
    await tx.query(sql`INSERT INTO discourse_nonces (tenant_id, nonce_hash) VALUES (${tenantId}, ${nonceHash(request.nonce)}) ON CONFLICT DO NOTHING`);
    const [seen] = await tx.query<{ used: boolean; stale: boolean }>(sql`
      SELECT used_at IS NOT NULL AS used, first_seen_at <= now() - make_interval(secs => ${NONCE_LIFETIME_SECONDS}) AS stale
      FROM discourse_nonces WHERE nonce_hash = ${nonceHash(request.nonce)}`);
    if (seen!.used) return 'replayed-nonce';
    if (seen!.stale) return 'stale-nonce';
    return { integration, nonce: request.nonce };
  }

  const returnUrlOf = (sso: string) => decodeRequest(sso)!.returnSsoUrl;

  return {
    /** GET: a request worth showing a sign-in page for. Records the nonce's first sighting (the 10-minute clock). */
    async inspect(tenantIdInput: string, sso: string, sig: string): Promise<VerifiedRequest> {
      if (!isUuid(tenantIdInput)) throw new SsoRefusedError('not-configured');
      const tenantId = tenantIdInput.toLowerCase();
      const outcome = await platform.withTenant({ tenantId }, (tx) => check(tx, tenantId, sso, sig));
      if (typeof outcome === 'string') return refuse(tenantId, outcome, 'page');
      return { tenantId, origin: outcome.integration.origin, nonce: outcome.nonce };
    },

    /**
     * Consumes the nonce and returns the redirect to return_sso_url with the signed answer.
     * Runs everything again (a POST may come without the GET) in one transaction with the nonce claim.
     */
    async answer(tenantIdInput: string, sso: string, sig: string, person: SignedInPerson): Promise<string> {
      if (!isUuid(tenantIdInput)) throw new SsoRefusedError('not-configured');
      const tenantId = tenantIdInput.toLowerCase();
      const outcome = await platform.withTenant({ tenantId, userId: person.userId }, async (tx) => {
        const checked = await check(tx, tenantId, sso, sig);
        if (typeof checked === 'string') return checked;
        const { integration, nonce } = checked;
        const profile = await ssoProfileOf(tx, person.userId);
        if (!profile) return 'not-a-member' as const;
        const held = await memberRoleState(tx, platform.permissions, person.userId, false);
        const holds = (s: Selector) => (s.permission !== undefined
          ? held.permissions.has(s.permission)
          : held.refs.some((r) => r.id.toLowerCase() === s.role));
        const admin = integration.admins.some(holds);
        const moderator = integration.moderators.some(holds);
        // "Admin accounts use strong auth": whoever is privileged here or there proves a second factor when the tenant asks for it.
        if (profile.tenantRequiresMfa && !person.mfa && (admin || moderator || platform.permissions.isPrivileged(held.permissions))) return 'mfa-required' as const;
        const add = [...new Set(integration.groupMapping.filter(holds).map((g) => g.group))];
        const remove = [...new Set(integration.groupMapping.map((g) => g.group))].filter((g) => !add.includes(g));
        const claimed = await tx.query(sql`UPDATE discourse_nonces SET used_at = now() WHERE nonce_hash = ${nonceHash(nonce)} AND used_at IS NULL RETURNING nonce_hash`);
        if (claimed.length === 0) return 'replayed-nonce' as const;
        const fields: Array<[string, string]> = [
          ['nonce', nonce],
          ['email', profile.email],
          ...(profile.emailVerified ? [] : [['require_activation', 'true'] as [string, string]]),
          ['external_id', externalIdOf(integration.idKey, person.userId)],
          ['username', usernameOf(profile.email, profile.displayName)],
          ['name', profile.displayName ?? usernameOf(profile.email, null)],
          ...(add.length ? [['add_groups', add.join(',')] as [string, string]] : []),
          ...(remove.length ? [['remove_groups', remove.join(',')] as [string, string]] : []),
          // Explicit false: the mapping, not whatever Discourse held before, decides (Discourse revokes on false).
          ['admin', String(admin)],
          ['moderator', String(moderator)],
        ];
        const answerSso = encodeAnswer(fields);
        const url = new URL(returnUrlOf(sso));
        url.searchParams.set('sso', answerSso);
        url.searchParams.set('sig', signSso(integration.secret, answerSso));
        await recordAuditEvent(tx, {
          tenantId, actor: { type: 'user', id: person.userId }, action: 'discourse.sso_signed_in', outcome: 'success',
          metadata: { via: person.via, mfa: person.mfa, emailVerified: profile.emailVerified, addGroups: add, admin, moderator },
        });
        return { url: url.toString() };
      });
      if (typeof outcome === 'string') return refuse(tenantId, outcome, person.via);
      return outcome.url;
    },
  };
}
