import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
let owner: Account;
let member: Account;
let viewer: Account;

const draft = (who: Account, payload: object) => t.app.inject({ method: 'POST', url: '/api/v1/content/drafts', headers: bearer(who), payload });
const settings = (who: Account, payload: object) => t.app.inject({ method: 'PATCH', url: '/api/v1/content/settings', headers: bearer(who), payload });

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Content offline');
  member = await addMember(t.app, owner, 'member');
  viewer = await addMember(t.app, owner, 'viewer');
});
afterAll(() => t?.close());

describe('content drafts with the offline provider (embedded profile, no network)', () => {
  it('drafts deterministically, without any provider configured, and stores nothing by default', async () => {
    const payload = { kind: 'model', title: 'Newsletter', instructions: 'Announce the spring release\nMention the new dashboard' };
    const a = json(await draft(member, payload));
    const b = json(await draft(member, payload));
    expect(a.text, JSON.stringify(a)).toBe(b.text);
    expect(a.text).toContain('# Announce the spring release');
    expect(a.providerId).toBeNull();
    expect(a.stored).toEqual({ prompt: false, output: false });
    const again = json(await t.app.inject({ method: 'GET', url: `/api/v1/content/drafts/${a.id}`, headers: bearer(viewer) }));
    expect(again.text).toBeNull();
    expect(again.usage.promptTokens).toBeGreaterThan(0);
  });

  it('renders templates and refuses missing variables', async () => {
    const ok = await draft(member, { kind: 'template', title: 'Hi', template: 'Hello {{ name }}, welcome to {{team}}.', variables: { name: 'Ada', team: 'Ops' } });
    expect(ok.statusCode).toBe(201);
    expect(json(ok).text).toBe('Hello Ada, welcome to Ops.');
    const bad = await draft(member, { kind: 'template', title: 'Hi', template: 'Hello {{name}} {{missing}}', variables: { name: 'Ada' } });
    expect(bad.statusCode).toBe(400);
    expect(json(bad).missing).toEqual(['missing']);
  });

  it('applies content rules: blocked terms refuse (nothing stored), the disclaimer is appended', async () => {
    expect((await settings(owner, { blockedTerms: ['guaranteed returns'], requiredDisclaimer: 'Not financial advice.', storeOutputs: true })).statusCode).toBe(200);
    const before = json(await t.app.inject({ method: 'GET', url: '/api/v1/content/drafts?limit=100', headers: bearer(viewer) })).items.length;
    const blocked = await draft(member, { kind: 'model', title: 'Pitch', instructions: 'Promise GUARANTEED returns to everyone' });
    expect(blocked.statusCode).toBe(400);
    expect(json(blocked).blockedTerms).toEqual(['guaranteed returns']);
    const after = json(await t.app.inject({ method: 'GET', url: '/api/v1/content/drafts?limit=100', headers: bearer(viewer) })).items.length;
    expect(after).toBe(before);
    const ok = json(await draft(member, { kind: 'model', title: 'Pitch', instructions: 'Describe our savings plan' }));
    expect(ok.text.endsWith('Not financial advice.')).toBe(true);
    expect(ok.stored.output).toBe(true);
    const read = json(await t.app.inject({ method: 'GET', url: `/api/v1/content/drafts/${ok.id}`, headers: bearer(viewer) }));
    expect(read.text).toBe(ok.text);
    await settings(owner, { blockedTerms: [], requiredDisclaimer: null, storeOutputs: false });
  });

  it('stores outputs sealed, never in clear', async () => {
    await settings(owner, { storeOutputs: true, storePrompts: true });
    const d = json(await draft(member, { kind: 'model', title: 'Sealed', instructions: 'Unique marker zebra-quokka-42' }));
    const [row] = await t.platform.queryAsTenant<{ output_sealed: string; prompt_sealed: string }>({ tenantId: owner.tenantId },
      sql`SELECT output_sealed, prompt_sealed FROM content_drafts WHERE id = ${d.id}`);
    expect(row!.output_sealed).toMatch(/^osv1\./);
    expect(row!.prompt_sealed).toMatch(/^osv1\./);
    expect(row!.output_sealed).not.toContain('zebra');
    expect(row!.prompt_sealed).not.toContain('zebra');
    expect(JSON.stringify(json(await t.app.inject({ method: 'GET', url: `/api/v1/content/drafts/${d.id}`, headers: bearer(viewer) })))).toContain('zebra-quokka-42');
    await settings(owner, { storeOutputs: false, storePrompts: false });
  });

  it('enforces roles: viewers cannot draft, members cannot configure', async () => {
    expect((await draft(viewer, { kind: 'model', title: 'x', instructions: 'y' })).statusCode).toBe(403);
    expect((await settings(member, { piiPolicy: 'refuse' })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/content/providers', headers: bearer(member), payload: { name: 'o', kind: 'offline', model: 'm' } })).statusCode).toBe(403);
  });

  it('refuses a prompt over the size cap with 413 and stores nothing', async () => {
    const data = Array.from({ length: 3 }, (_, i) => ({ label: `part ${i}`, text: 'lorem ipsum '.repeat(1666) }));
    const res = await draft(member, { kind: 'model', title: 'Big', instructions: 'Summarise', data });
    expect(res.statusCode).toBe(413);
  });
});
