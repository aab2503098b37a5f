import { Type, type Static } from 'typebox';
import { KernelError } from '../../kernel/errors.ts';
import type { ActionDeclaration } from '../../kernel/actions/registry.ts';
import { auditActorOf, recordAuditEvent } from '../../kernel/audit/events.ts';
import { contextOf, type Principal } from '../../kernel/auth/principal.ts';
import type { Platform } from '../../kernel/platform.ts';
import { createMembersService } from '../identity/members-service.ts';
import { createDraftsService } from './drafts.ts';

const PublishPayload = Type.Object({ draftId: Type.String({ pattern: '^[0-9a-fA-F-]{36}$' }) }, { additionalProperties: false });
const SharePayload = Type.Object({
  draftId: Type.String({ pattern: '^[0-9a-fA-F-]{36}$' }),
  // Members by user id: a recipient is always someone of this tenant, never an address a model wrote.
  recipientUserIds: Type.Array(Type.String({ pattern: '^[0-9a-fA-F-]{36}$' }), { minItems: 1, maxItems: 50, uniqueItems: true }),
}, { additionalProperties: false });

/** Recipients resolved inside the tenant (RLS): an id that is not a member of it is refused. */
async function membersByIds(platform: Platform, principal: Principal, ids: readonly string[]) {
  const members = await createMembersService(platform, () => {}).list(principal);
  const byId = new Map(members.map((m) => [m.userId.toLowerCase(), m.email]));
  const unknown = ids.filter((id) => !byId.has(id.toLowerCase()));
  if (unknown.length > 0) throw new KernelError('validation-failed', 'Every recipient must be a member of this tenant.', { extensions: { notMembers: unknown.length } });
  return ids.map((id) => byId.get(id.toLowerCase())!);
}

async function assertDraftText(platform: Platform, tenantId: string, draftId: string) {
  const draft = await createDraftsService(platform).textOf(tenantId, draftId);
  if (!draft) throw new KernelError('validation-failed', 'The draft does not exist or its text was not stored.');
  return draft;
}

export const publishDraftAction: ActionDeclaration<Static<typeof PublishPayload>, Platform> = {
  type: 'content.draft.publish',
  description: 'Publish a stored draft (marks it published; nothing leaves the tenant).',
  permission: 'content:publish',
  risk: () => 'low',
  payloadSchema: PublishPayload,
  summarize: (p) => `Publish draft ${p.draftId}`,
  async validate(platform, principal, p) {
    await assertDraftText(platform, principal.tenantId, p.draftId);
  },
  execute: (platform, principal, p, approvalId) => createDraftsService(platform).publish(principal, p.draftId, approvalId),
};

export const shareDraftAction: ActionDeclaration<Static<typeof SharePayload>, Platform> = {
  type: 'content.draft.share',
  description: 'Email a stored draft to members of this tenant, chosen by user id.',
  permission: 'content:share',
  // Mail leaves the platform: always high risk, so always four-eyes.
  risk: () => 'high',
  payloadSchema: SharePayload,
  summarize: (p) => `Email draft ${p.draftId} to ${p.recipientUserIds.length} member(s)`,
  async validate(platform, principal, p) {
    await assertDraftText(platform, principal.tenantId, p.draftId);
    await membersByIds(platform, principal, p.recipientUserIds);
  },
  async execute(platform, principal, p, approvalId) {
    const draft = await assertDraftText(platform, principal.tenantId, p.draftId);
    const recipients = await membersByIds(platform, principal, p.recipientUserIds);
    for (const to of recipients) await platform.mailer.send({ to, subject: draft.title, text: draft.text });
    await platform.withTenant(contextOf(principal), (tx) => recordAuditEvent(tx, {
      tenantId: principal.tenantId, actor: auditActorOf(principal), action: 'content.draft_shared',
      target: { type: 'content_draft', id: p.draftId.toLowerCase() }, outcome: 'success',
      metadata: { approvalId, recipients: recipients.length },
    }));
    return { draftId: p.draftId.toLowerCase(), sent: recipients.length };
  },
};
