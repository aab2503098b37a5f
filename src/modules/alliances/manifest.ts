import { sql } from 'drizzle-orm';
import { defineModule } from '../manifest.ts';
import { alliancesRoutes } from './routes.ts';
import { contactView, noteView } from './service.ts';

const TABLES = ['alliance_notes', 'alliance_deals', 'alliance_contacts', 'alliance_pipelines', 'alliance_partners'] as const;

/**
 * Alliances CRM (issue #16 §2): partners, their contacts (personal data of
 * people outside the tenant), pipelines, deals and notes — a note readable only
 * by its author and alliances:manage holders, enforced by RLS (migration 0062).
 */
export const alliancesModule = defineModule({
  name: 'alliances',
  description: 'Partner CRM: partners, contacts, pipelines, deals and private notes',
  api: { prefix: '/alliances', plugin: alliancesRoutes },
  permissions: [
    { key: 'alliances:read', description: 'See partners, their contact people, pipelines and deals (sensitive CRM data)', grantedTo: ['admin'] },
    { key: 'alliances:write', description: 'Add and change partners, contacts, pipelines and deals, and write notes (each visible to its author and managers)', grantedTo: ['admin'] },
    { key: 'alliances:manage', description: 'Read every member\'s alliance notes, and delete partners and pipelines', grantedTo: ['admin'] },
  ],
  tables: TABLES.map((name) => ({ name, onTenantErasure: 'erase' as const })),
  auditEvents: [
    'alliances.partner.created', 'alliances.partner.updated', 'alliances.partner.deleted',
    'alliances.contact.created', 'alliances.contact.updated', 'alliances.contact.deleted',
    'alliances.pipeline.created', 'alliances.pipeline.deleted',
    'alliances.deal.created', 'alliances.deal.updated', 'alliances.deal.deleted',
    'alliances.note.created', 'alliances.note.deleted',
  ],
  webhookEvents: [
    { type: 'alliances.deal.created', description: 'A deal was added to a pipeline', permission: 'alliances:read' },
    { type: 'alliances.deal.updated', description: 'A deal changed (stage, title, value); previousStage tells a stage move', permission: 'alliances:read' },
    { type: 'alliances.deal.deleted', description: 'A deal was deleted', permission: 'alliances:read' },
  ],
  async eraseTenant(tx, tenantId) {
    const out: Record<string, number> = {};
    for (const table of TABLES) out[table] = (await tx.query(sql`DELETE FROM ${sql.identifier(table)} WHERE tenant_id = ${tenantId} RETURNING tenant_id`)).length;
    return out;
  },
  // Data-subject requests read through the policies of 0062: the transaction must carry
  // alliances:read and alliances:manage (contextWithPermissions). A person is here as a partner
  // contact (by email address) and as a member who wrote notes or owns deals (by user id).
  async exportSubject(tx, subject) {
    const contacts = subject.email === null ? [] : await tx.query<Parameters<typeof contactView>[0]>(sql`
      SELECT id, partner_id, name, email, phone, job_title, created_at, updated_at FROM alliance_contacts
      WHERE tenant_id = ${subject.tenantId} AND lower(email) = lower(${subject.email}) ORDER BY created_at, id`);
    const ids = contacts.map((c) => c.id);
    const notes = await tx.query<Parameters<typeof noteView>[0]>(sql`
      SELECT id, partner_id, deal_id, contact_id, author_id, body, created_at FROM alliance_notes
      WHERE tenant_id = ${subject.tenantId} AND (author_id = ${subject.userId} OR contact_id = ANY (${sql.param(ids)}::uuid[])) ORDER BY created_at, id`);
    const deals = await tx.query<{ id: string; title: string }>(sql`
      SELECT id, title FROM alliance_deals WHERE tenant_id = ${subject.tenantId} AND owner_id = ${subject.userId} ORDER BY created_at, id`);
    return { contacts: contacts.map(contactView), notes: notes.map(noteView), dealsOwned: deals };
  },
  async eraseSubject(tx, subject) {
    // Their contact records go, with the notes about them (foreign keys cascade); the notes they
    // wrote and the deals they own stay (tenant business records) without their user id on them.
    const contacts = subject.email === null ? [] : await tx.query(sql`
      DELETE FROM alliance_contacts WHERE tenant_id = ${subject.tenantId} AND lower(email) = lower(${subject.email}) RETURNING id`);
    const deals = await tx.query(sql`UPDATE alliance_deals SET owner_id = NULL WHERE tenant_id = ${subject.tenantId} AND owner_id = ${subject.userId} RETURNING id`);
    const partners = await tx.query(sql`UPDATE alliance_partners SET created_by = NULL WHERE tenant_id = ${subject.tenantId} AND created_by = ${subject.userId} RETURNING id`);
    await tx.query(sql`UPDATE alliance_contacts SET created_by = NULL WHERE tenant_id = ${subject.tenantId} AND created_by = ${subject.userId}`);
    await tx.query(sql`UPDATE alliance_pipelines SET created_by = NULL WHERE tenant_id = ${subject.tenantId} AND created_by = ${subject.userId}`);
    // Notes have no UPDATE grant (they are never edited): an erased author's notes are deleted.
    const notes = await tx.query(sql`DELETE FROM alliance_notes WHERE tenant_id = ${subject.tenantId} AND author_id = ${subject.userId} RETURNING id`);
    return { alliance_contacts: contacts.length, alliance_notes: notes.length, alliance_deals: deals.length, alliance_partners: partners.length };
  },
});
