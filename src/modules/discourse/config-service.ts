import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Session } from '../../db/client.ts';
import { notFound, ProblemError } from '../../http/problem.ts';
import { isBuiltInRole } from '../../kernel/access/catalog.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import { sealForTenant, sealSecretForTenant, wrappedKeyFor, openWithWrappedKey } from '../../kernel/crypto/tenant-keys.ts';
import { isUuid } from '../../kernel/ids.ts';
import type { Platform } from '../../kernel/platform.ts';

export const TABLE = 'discourse_integrations';
export const CELLS = { secret: 'secret_sealed', idKey: 'id_key_sealed', apiKey: 'api_key_sealed' } as const;

export interface Selector { permission?: string | undefined; role?: string | undefined }
export interface GroupRule extends Selector { group: string }

interface Row {
  id: string;
  origin: string;
  secret_fingerprint: string;
  group_mapping: GroupRule[];
  admin_grants: Selector[];
  moderator_grants: Selector[];
  api_username: string | null;
  created_at: Date;
  updated_at: Date;
}

const columns = sql`id, origin, secret_fingerprint, group_mapping, admin_grants, moderator_grants, api_username, created_at, updated_at`;

export interface PutInput {
  origin: string;
  secret?: string | undefined;
  groupMapping?: GroupRule[] | undefined;
  admins?: Selector[] | undefined;
  moderators?: Selector[] | undefined;
  logoutSync?: { apiKey: string; apiUsername: string } | null | undefined;
}

const invalid = (detail: string) => new ProblemError('validation-failed', 400, detail);

/** The tenant's configuration as tenant admins see it: never a secret, not even sealed. */
function view(platform: Platform, tenantId: string, r: Row) {
  return {
    configured: true as const,
    origin: r.origin,
    connectUrl: `${String(platform.config.publicUrl ?? '').replace(/\/$/, '')}/sso/discourse/${tenantId}`,
    secretFingerprint: r.secret_fingerprint,
    groupMapping: r.group_mapping,
    admins: r.admin_grants,
    moderators: r.moderator_grants,
    logoutSync: r.api_username ? { apiUsername: r.api_username } : null,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

/**
 * The Discourse origin: scheme, host and port only. Plain http only for hosts the operator
 * allowed for egress (OCSUITE_EGRESS_ALLOW_HTTP_HOSTS), as every outbound URL of the platform.
 */
export function canonicalOrigin(platform: Platform, input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw invalid('origin must be an absolute URL such as https://forum.example.com');
  }
  if (url.username || url.password) throw invalid('origin must not carry credentials');
  if (url.pathname !== '/' || url.search || url.hash || input.replace(/\/$/, '') !== url.origin) throw invalid('origin must be scheme, host and port only (no path, query or fragment)');
  if (url.protocol === 'http:' && !platform.config.egressAllowHttpHosts.includes(url.hostname)) throw invalid('origin must be https (plain http only for hosts in OCSUITE_EGRESS_ALLOW_HTTP_HOSTS)');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('origin must be https');
  return url.origin;
}

function checkSelectors(platform: Platform, rules: readonly Selector[], what: string): void {
  for (const r of rules) {
    if ((r.permission === undefined) === (r.role === undefined)) throw invalid(`each ${what} rule names exactly one of "permission" or "role"`);
    if (r.permission !== undefined && !platform.permissions.has(r.permission)) throw invalid(`${what}: "${r.permission}" is not a catalogued permission`);
    if (r.role !== undefined && !isBuiltInRole(r.role) && !isUuid(r.role)) throw invalid(`${what}: "${r.role}" is neither a built-in role nor a custom role id`);
  }
}

const normaliseSelectors = <T extends Selector>(rules: readonly T[]): T[] => rules.map((r) => (r.role !== undefined ? { ...r, role: r.role.toLowerCase() } : r));

export function createDiscourseConfigService(platform: Platform) {
  const seal = (tx: Session, tenantId: string, rowId: string, column: string, value: string | Uint8Array) => sealForTenant(tx, platform.keyring, { tenantId, table: TABLE, column, rowId }, value);

  return {
    async get(principal: Principal) {
      const [row] = await platform.queryAsTenant<Row>(contextOf(principal), sql`SELECT ${columns} FROM discourse_integrations`);
      if (!row) return { configured: false as const };
      return view(platform, principal.tenantId, row);
    },

    /** Creates or replaces the configuration; the secret is in the answer only when it was set now. */
    async put(principal: Principal, input: PutInput) {
      const origin = canonicalOrigin(platform, input.origin);
      const groupMapping = normaliseSelectors(input.groupMapping ?? []);
      const admins = normaliseSelectors(input.admins ?? []);
      const moderators = normaliseSelectors(input.moderators ?? []);
      checkSelectors(platform, groupMapping, 'groupMapping');
      checkSelectors(platform, admins, 'admins');
      checkSelectors(platform, moderators, 'moderators');
      if (input.logoutSync) {
        // The admin API is called from here: the origin must pass the egress guard now, not at the first logout.
        try {
          await platform.egress.check(origin);
        } catch (err) {
          throw invalid(`origin refused for outbound calls: ${(err as Error).message}`);
        }
      }
      return platform.withTenant(contextOf(principal), async (tx) => {
        const [current] = await tx.query<{ id: string; secret_fingerprint: string }>(sql`SELECT id, secret_fingerprint FROM discourse_integrations FOR UPDATE`);
        const id = current?.id ?? (await tx.query<{ id: string }>(sql`SELECT gen_random_uuid()::text AS id`))[0]!.id;
        const newSecret = input.secret ?? (current ? undefined : randomBytes(32).toString('hex'));
        const sealedSecret = newSecret === undefined ? undefined : await sealSecretForTenant(tx, platform.keyring, { tenantId: principal.tenantId, table: TABLE, column: CELLS.secret, rowId: id }, newSecret);
        const apiKey = input.logoutSync ? await seal(tx, principal.tenantId, id, CELLS.apiKey, input.logoutSync.apiKey) : undefined;
        let row: Row;
        if (!current) {
          const idKey = await seal(tx, principal.tenantId, id, CELLS.idKey, randomBytes(32));
          [row] = (await tx.query<Row>(sql`
            INSERT INTO discourse_integrations (tenant_id, id, origin, secret_sealed, secret_fingerprint, id_key_sealed, group_mapping, admin_grants, moderator_grants,
              api_key_sealed, api_username, created_by, updated_by)
            VALUES (${principal.tenantId}, ${id}, ${origin}, ${sealedSecret!.sealed}, ${sealedSecret!.fingerprint}, ${idKey}, ${JSON.stringify(groupMapping)}::jsonb,
              ${JSON.stringify(admins)}::jsonb, ${JSON.stringify(moderators)}::jsonb, ${apiKey ?? null}, ${input.logoutSync?.apiUsername ?? null},
              ${principal.userId}, ${principal.userId})
            RETURNING ${columns}`)) as [Row];
        } else {
          [row] = (await tx.query<Row>(sql`
            UPDATE discourse_integrations SET origin = ${origin},
              ${sealedSecret ? sql`secret_sealed = ${sealedSecret.sealed}, secret_fingerprint = ${sealedSecret.fingerprint},` : sql``}
              group_mapping = ${JSON.stringify(groupMapping)}::jsonb, admin_grants = ${JSON.stringify(admins)}::jsonb, moderator_grants = ${JSON.stringify(moderators)}::jsonb,
              ${input.logoutSync === null ? sql`api_key_sealed = NULL, api_username = NULL,` : input.logoutSync ? sql`api_key_sealed = ${apiKey!}, api_username = ${input.logoutSync.apiUsername},` : sql``}
              updated_by = ${principal.userId}, updated_at = now()
            WHERE id = ${id} RETURNING ${columns}`)) as [Row];
        }
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: current ? 'discourse.integration_updated' : 'discourse.integration_created',
          target: { type: 'discourse_integration', id }, outcome: 'success',
          metadata: {
            origin, groups: groupMapping.map((g) => g.group), admins: admins.length, moderators: moderators.length,
            secretFingerprint: row.secret_fingerprint, secretReplaced: Boolean(sealedSecret && current), logoutSync: row.api_username !== null,
          },
        });
        return { ...view(platform, principal.tenantId, row), ...(newSecret !== undefined && input.secret === undefined ? { secret: newSecret } : {}) };
      });
    },

    async remove(principal: Principal) {
      await platform.withTenant(contextOf(principal), async (tx) => {
        const rows = await tx.query<{ id: string; origin: string }>(sql`DELETE FROM discourse_integrations RETURNING id, origin`);
        if (rows.length === 0) throw notFound('discourse integration');
        await tx.query(sql`DELETE FROM discourse_nonces`);
        await recordAuditEvent(tx, {
          tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'discourse.integration_deleted',
          target: { type: 'discourse_integration', id: rows[0]!.id }, outcome: 'success', metadata: { origin: rows[0]!.origin },
        });
      });
    },
  };
}

export interface OpenedIntegration {
  id: string;
  origin: string;
  secret: string;
  idKey: Buffer;
  groupMapping: GroupRule[];
  admins: Selector[];
  moderators: Selector[];
  apiKey: string | null;
  apiUsername: string | null;
}

/** The configuration with its secrets opened, in the caller's tenant transaction (for the SSO flow and logout jobs only). */
export async function openIntegration(platform: Platform, tx: Session, tenantId: string, withApiKey = false): Promise<OpenedIntegration | undefined> {
  const [r] = await tx.query<Row & { secret_sealed: string; w_secret: string | null; id_key_sealed: string; w_id: string | null; api_key_sealed: string | null; w_api: string | null }>(sql`
    SELECT ${columns}, secret_sealed, ${wrappedKeyFor(sql`tenant_id`, sql`secret_sealed`)} AS w_secret,
      id_key_sealed, ${wrappedKeyFor(sql`tenant_id`, sql`id_key_sealed`)} AS w_id,
      api_key_sealed, ${withApiKey ? wrappedKeyFor(sql`tenant_id`, sql`api_key_sealed`) : sql`NULL`} AS w_api
    FROM discourse_integrations`);
  if (!r) return undefined;
  const open = (column: string, token: string, wrapped: string | null) => openWithWrappedKey(platform.keyring, { tenantId, table: TABLE, column, rowId: r.id }, token, wrapped);
  const secret = open(CELLS.secret, r.secret_sealed, r.w_secret);
  return {
    id: r.id, origin: r.origin, secret: secret.toString('utf8'), idKey: open(CELLS.idKey, r.id_key_sealed, r.w_id),
    groupMapping: r.group_mapping, admins: r.admin_grants, moderators: r.moderator_grants,
    apiKey: withApiKey && r.api_key_sealed ? open(CELLS.apiKey, r.api_key_sealed, r.w_api).toString('utf8') : null,
    apiUsername: r.api_username,
  };
}
