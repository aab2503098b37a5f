import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCommand } from '../../src/cli/verify.ts';
import { withOwner } from '../../src/db/transaction.ts';
import { entryHash, manifestHash } from '../../src/modules/knowledge/export-format.ts';
import { addMember, bearer, enableMfa, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

let t: TestApp;
let owner: Account;
let member: Account;
let other: Account;
let dir: string;
let key: string;

const post = (who: Account, url: string, payload?: object) => t.app.inject({ method: 'POST', url: `/api/v1${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });
const get = (who: Account, url: string) => t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers: bearer(who) });
const importFiles = (who: Account, files: object[]) => post(who, '/knowledge/imports', { files });
const jsonl = (name: string, lines: object[]) => ({ name, mediaType: 'application/jsonl', content: lines.map((l) => JSON.stringify(l)).join('\n') });
const markdown = (name: string, content: string) => ({ name, mediaType: 'text/markdown', content });
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
};
function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}
async function entryCount(tenantId: string): Promise<number> {
  const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ n: number }>(sql`SELECT count(*)::int AS n FROM knowledge_entries WHERE tenant_id = ${tenantId}`));
  return row!.n;
}
async function actions(tenantId: string, prefix: string): Promise<string[]> {
  const rows = await withOwner(t.platform.db, (tx) => tx.query<{ action: string }>(sql`
    SELECT action FROM audit_events WHERE tenant_id = ${tenantId} AND starts_with(action, ${prefix}) ORDER BY leaf_index`));
  return rows.map((r) => r.action);
}
/** A provider token shape the secret rules know, made at run time (never a real credential). */
const fakeGithubToken = () => `ghp_${randomBytes(27).toString('base64').replace(/[^A-Za-z0-9]/g, 'x').slice(0, 36)}`;

beforeAll(async () => {
  t = await startApp();
  owner = await signup(t.app, 'Knowledge Ingest');
  member = await addMember(t.app, owner, 'member');
  other = await signup(t.app, 'Other Tenant');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsuite-kexport-'));
  key = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/key' })).verifierKey;
});
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await t?.close();
});

describe('knowledge ingestion', () => {
  it('imports JSON Lines and Markdown files as entries, audited', async () => {
    const before = await entryCount(owner.tenantId);
    const res = await importFiles(owner, [
      jsonl('runbooks.jsonl', [{ title: 'Restart', body: 'systemctl restart app', tags: ['ops'] }, { title: 'Backup', body: 'pg_dump nightly' }]),
      markdown('onboarding.md', '# Onboarding guide\n\nRead the handbook first.\n'),
    ]);
    expect(res.statusCode, res.body).toBe(201);
    const body = json(res);
    expect(body).toMatchObject({ imported: 3, policy: 'reject', redactions: [] });
    expect(await entryCount(owner.tenantId)).toBe(before + 3);
    const md = json(await get(owner, `/knowledge/${body.ids[2]}`));
    expect(md).toMatchObject({ title: 'Onboarding guide', createdBy: owner.userId });
    expect(json(await get(owner, `/knowledge/${body.ids[0]}`))).toMatchObject({ title: 'Restart', tags: ['ops'] });
    expect(await actions(owner.tenantId, 'knowledge.imported')).toHaveLength(1);
  });

  it('rejects a whole import when a file holds a secret, under either policy, and changes nothing', async () => {
    const secret = fakeGithubToken();
    for (const policy of ['reject', 'redact']) {
      expect((await t.app.inject({ method: 'PUT', url: '/api/v1/knowledge/settings', headers: bearer(owner), payload: { ingestPolicy: policy } })).statusCode).toBe(200);
      const before = await entryCount(owner.tenantId);
      const res = await importFiles(owner, [
        jsonl('clean.jsonl', [{ title: 'fine', body: 'nothing to see' }]),
        jsonl('leaky.jsonl', [{ title: 'deploy', body: `export GITHUB_TOKEN=${secret}` }]),
      ]);
      expect(res.statusCode, res.body).toBe(422);
      const problem = json(res);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(problem.rejectedFiles).toEqual(['leaky.jsonl']);
      expect(problem.findings[0]).toMatchObject({ file: 'leaky.jsonl', entry: 1, field: 'body', category: 'secret' });
      // The report names the rule, never the value.
      expect(res.body).not.toContain(secret);
      expect(await entryCount(owner.tenantId)).toBe(before);
    }
    const refused = await withOwner(t.platform.db, (tx) => tx.query<{ metadata: unknown }>(sql`
      SELECT metadata FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'knowledge.import.refused'`));
    expect(refused.length).toBe(2);
    expect(JSON.stringify(refused)).not.toContain(secret);
  });

  it('redacts personal data and reports it under the redact policy; refuses it under reject', async () => {
    const email = `pii-${randomUUID().slice(0, 8)}@example.com`;
    const iban = 'DE89 3704 0044 0532 0130 00';
    const files = [jsonl('contacts.jsonl', [{ title: 'Escalation', body: `Mail ${email} or pay to ${iban}.` }]), markdown('notes.md', `# Notes\n\nOwner: ${email}\n`)];

    await t.app.inject({ method: 'PUT', url: '/api/v1/knowledge/settings', headers: bearer(owner), payload: { ingestPolicy: 'reject' } });
    const before = await entryCount(owner.tenantId);
    const refused = await importFiles(owner, files);
    expect(refused.statusCode).toBe(422);
    expect(json(refused).rejectedFiles.sort()).toEqual(['contacts.jsonl', 'notes.md']);
    expect(await entryCount(owner.tenantId)).toBe(before);

    await t.app.inject({ method: 'PUT', url: '/api/v1/knowledge/settings', headers: bearer(owner), payload: { ingestPolicy: 'redact' } });
    expect(json(await get(owner, '/knowledge/settings'))).toEqual({ ingestPolicy: 'redact' });
    const res = await importFiles(owner, files);
    expect(res.statusCode, res.body).toBe(201);
    const body = json(res);
    expect(body.policy).toBe('redact');
    expect(body.redactions).toEqual(expect.arrayContaining([
      { file: 'contacts.jsonl', entry: 1, field: 'body', kind: 'email' },
      { file: 'contacts.jsonl', entry: 1, field: 'body', kind: 'iban' },
      { file: 'notes.md', entry: 1, field: 'body', kind: 'email' },
    ]));
    const stored = await withOwner(t.platform.db, (tx) => tx.query<{ body: string }>(sql`
      SELECT body FROM knowledge_entries WHERE tenant_id = ${owner.tenantId} AND id = ANY (${sql.param(body.ids)}::uuid[])`));
    expect(stored).toHaveLength(2);
    for (const s of stored) {
      expect(s.body).not.toContain(email);
      expect(s.body).toContain('[redacted:email]');
    }
    expect(stored.some((s) => s.body.includes('[redacted:iban]') && !s.body.includes('0532 0130'))).toBe(true);
    expect(JSON.stringify(await actions(owner.tenantId, 'knowledge.'))).not.toContain(email);
  });

  it('answers size, count and type limits with a 4xx problem and changes nothing', async () => {
    const before = await entryCount(owner.tenantId);
    const line = (i: number) => ({ title: `t${i}`, body: 'b' });
    const cases: [string, object[], number][] = [
      ['too many files', Array.from({ length: 21 }, (_, i) => jsonl(`f${i}.jsonl`, [line(i)])), 400],
      ['a file over 1 MiB', [markdown('big.md', `# Big\n${'x'.repeat(1_048_577)}`)], 413],
      ['over 4 MiB in all', Array.from({ length: 5 }, (_, i) => markdown(`part${i}.md`, `# P${i}\n${'y'.repeat(900_000)}`)), 413],
      ['too many entries', [jsonl('many.jsonl', Array.from({ length: 2_001 }, (_, i) => line(i)))], 422],
      ['an unsupported type', [{ name: 'doc.pdf', mediaType: 'application/pdf', content: '%PDF-1.7' }], 415],
      ['a type the name contradicts', [{ name: 'script.sh', mediaType: 'text/markdown', content: '# x' }], 415],
      ['a line that is not an entry', [jsonl('bad.jsonl', [{ title: 'x', body: 'y', createdBy: randomUUID() }])], 422],
      ['no files', [], 400],
    ];
    for (const [what, files, status] of cases) {
      const res = await importFiles(owner, files);
      expect(res.statusCode, `${what}: ${res.body.slice(0, 200)}`).toBe(status);
      expect(res.headers['content-type'], what).toContain('application/problem+json');
    }
    // Bigger than the route's body limit: refused before parsing.
    const huge = await importFiles(owner, [markdown('huge.md', 'z'.repeat(9_000_000))]);
    expect(huge.statusCode).toBe(413);
    expect(await entryCount(owner.tenantId)).toBe(before);
  });

  it('refuses import and policy changes to a member', async () => {
    expect((await importFiles(member, [markdown('m.md', '# m')])).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'PUT', url: '/api/v1/knowledge/settings', headers: bearer(member), payload: { ingestPolicy: 'redact' } })).statusCode).toBe(403);
  });
});

describe('knowledge export', () => {
  let exportId: string;
  let document: string;

  async function finished(who: Account, id: string) {
    for (let i = 0; i < 300; i++) {
      const s = json(await get(who, `/knowledge/exports/${id}`));
      if (s.status !== 'pending') return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('export did not finish');
  }

  it('is refused to a non-admin and without step-up', async () => {
    expect((await post(member, '/knowledge/exports')).statusCode).toBe(403);
    const noStepUp = await post(owner, '/knowledge/exports');
    expect(noStepUp.statusCode).toBe(403);
    expect(json(noStepUp).type).toBe('urn:ocsuite:problem:step-up-required');
    expect(await actions(owner.tenantId, 'knowledge.export')).toEqual([]);
  });

  it('produces every entry with a signed manifest recorded in the tenant log, which ocsuite verify export accepts', async () => {
    await enableMfa(t.app, owner);
    const res = await post(owner, '/knowledge/exports');
    expect(res.statusCode, res.body).toBe(202);
    exportId = json(res).id;
    const status = await finished(owner, exportId);
    expect(status).toMatchObject({ status: 'done', entries: await entryCount(owner.tenantId), requestedBy: owner.userId });
    const dl = await get(owner, `/knowledge/exports/${exportId}/download`);
    expect(dl.statusCode).toBe(200);
    expect(dl.headers['cache-control']).toBe('no-store');
    document = dl.body;
    const doc = JSON.parse(document);
    expect(doc.entries).toHaveLength(status.entries);
    expect(doc.manifest.entries.map((e: { id: string }) => e.id)).toEqual(doc.entries.map((e: { id: string }) => e.id));
    expect(doc.log.event).toMatchObject({ action: 'knowledge.exported', log: owner.tenantId });
    expect(await actions(owner.tenantId, 'knowledge.export')).toEqual(['knowledge.export.requested', 'knowledge.exported', 'knowledge.export.downloaded']);

    const r = io();
    expect(await verifyCommand(['export', file('good.json', document), '--key', key], r.io), r.err.join('\n')).toBe(0);
    expect(r.out.join('\n')).toMatch(new RegExp(`^OK export ${exportId} of tenant ${owner.tenantId}: manifest signature, ${status.entries} entry hash`));
  });

  it('fails verification when an entry, the manifest, the log record or the key is not what was signed', async () => {
    const fails = async (name: string, mutate: (d: any) => void, k = key) => {
      const d = JSON.parse(document);
      mutate(d);
      const r = io();
      expect(await verifyCommand(['export', file(`${name}.json`, JSON.stringify(d)), '--key', k], r.io), name).toBe(1);
      return r.err.join('\n');
    };
    expect(await fails('body', (d) => { d.entries[0].body += ' (edited)'; })).toMatch(/does not match its SHA-256/);
    // The tamperer re-hashes the entry into the manifest: the signature over the manifest fails.
    expect(await fails('rehashed', (d) => { d.entries[0].body += '!'; d.manifest.entries[0].sha256 = entryHash(d.entries[0]); })).toMatch(/manifest does not match its signature/);
    expect(await fails('dropped', (d) => { d.entries.pop(); })).toMatch(/entries, the manifest lists/);
    expect(await fails('swapped', (d) => { d.entries.reverse(); })).toMatch(/FAILED/);
    // A forged audit record that names the forged manifest does not sit in the signed log.
    expect(await fails('event', (d) => { d.entries[0].title = 'forged'; d.manifest.entries[0].sha256 = entryHash(d.entries[0]); d.log.event.metadata.manifestSha256 = manifestHash(d.manifest).toString('hex'); })).toMatch(/FAILED/);
    expect(await fails('inclusion', (d) => { d.log.inclusion.index += 1; })).toMatch(/FAILED/);
    const stranger = (await import('../../src/kernel/translog/index.ts')).verifierKeyString('audit.example', (await import('node:crypto')).generateKeyPairSync('ed25519').publicKey);
    expect(await fails('stranger-key', () => {}, stranger)).toMatch(/no signature by|does not verify/);
    expect(await verifyCommand(['export', file('garbage.json', 'not json'), '--key', key], io().io)).toBe(2);
  });

  it('keeps another tenant out of the export and its document', async () => {
    await enableMfa(t.app, other);
    expect((await get(other, `/knowledge/exports/${exportId}`)).statusCode).toBe(404);
    expect((await get(other, `/knowledge/exports/${exportId}/download`)).statusCode).toBe(404);
    expect((await get(member, `/knowledge/exports/${exportId}/download`)).statusCode).toBe(403);
    // Its own export holds none of the first tenant's entries.
    const mine = json(await post(other, '/knowledge/exports')).id;
    expect((await finished(other, mine)).entries).toBe(0);
  });
});
