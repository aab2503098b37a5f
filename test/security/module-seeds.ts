import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { bearer, json, type Account } from '../support/app.ts';

/**
 * Rows of the product modules for the generated route matrix: A's ids prove a GET route
 * with an id works (the 404s for B's are isolation, not broken routes); B's ids and
 * secrets must never reach A. One function per module; add yours to `moduleSeeds`.
 */
export interface Seeded { aIds: string[]; bIds: string[]; bSecrets: string[] }
type Tenants = { A: { owner: Account }; B: { owner: Account } };
type Seeder = (app: FastifyInstance, tenants: Tenants) => Promise<Seeded>;

const post = async (app: FastifyInstance, who: Account, url: string, payload: object) => {
  const res = await app.inject({ method: 'POST', url: `/api/v1${url}`, headers: bearer(who), payload });
  if (res.statusCode >= 300) throw new Error(`seed ${url}: ${res.statusCode} ${res.body}`);
  return json(res);
};

const academy: Seeder = async (app, { A, B }) => {
  const ids = async (who: Account, title: string) => {
    const course = await post(app, who, '/academy/courses', { title, status: 'published' });
    const lesson = await post(app, who, `/academy/courses/${course.id}/lessons`, { title: `${title} lesson`, quiz: [{ question: 'q', options: ['a', 'b'], answer: 1 }] });
    return [course.id as string, lesson.id as string];
  };
  const secret = `B-course-${randomUUID()}`;
  return { aIds: await ids(A.owner, 'A course'), bIds: await ids(B.owner, secret), bSecrets: [secret] };
};

const alliances: Seeder = async (app, { A, B }) => {
  const ids = async (who: Account, label: string) => {
    const partner = await post(app, who, '/alliances/partners', { name: `${label} partner` });
    const contact = await post(app, who, `/alliances/partners/${partner.id}/contacts`, { name: `${label} contact`, email: `${label.toLowerCase()}-${randomUUID().slice(0, 6)}@partner.example` });
    const pipeline = await post(app, who, '/alliances/pipelines', { name: `${label} pipeline`, stages: ['lead', 'won'] });
    const deal = await post(app, who, `/alliances/pipelines/${pipeline.id}/deals`, { partnerId: partner.id, title: `${label} deal` });
    const note = await post(app, who, `/alliances/partners/${partner.id}/notes`, { body: `${label} note` });
    return { ids: [partner.id, contact.id, pipeline.id, deal.id, note.id] as string[], email: contact.email as string };
  };
  const secret = `B-partner-${randomUUID()}`;
  const a = await ids(A.owner, 'A');
  const b = await ids(B.owner, secret);
  return { aIds: a.ids, bIds: b.ids, bSecrets: [secret, b.email] };
};

export const moduleSeeds: readonly Seeder[] = [academy, alliances];

export async function seedModules(app: FastifyInstance, tenants: Tenants): Promise<Seeded> {
  const out: Seeded = { aIds: [], bIds: [], bSecrets: [] };
  for (const seed of moduleSeeds) {
    const s = await seed(app, tenants);
    out.aIds.push(...s.aIds);
    out.bIds.push(...s.bIds);
    out.bSecrets.push(...s.bSecrets);
  }
  return out;
}
