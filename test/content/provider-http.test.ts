import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { LOCAL_EGRESS, startModelServer } from './model-server.ts';

let t: TestApp;
let owner: Account;
let member: Account;
let server: Awaited<ReturnType<typeof startModelServer>>;
let mode: { content?: string; status?: number; delayMs?: number; raw?: string } = {};

// Seeded secrets and personal data, generated at run time.
const seeded = {
  openai: `sk-proj-${randomBytes(30).toString('base64url')}`,
  github: `ghp_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'a').slice(0, 36)}`,
  aws: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
  ours: `ocs_sk_${randomBytes(24).toString('base64url')}`,
  webhook: `whsec_${randomBytes(24).toString('base64')}`,
  jwt: `eyJhbGciOiJIUzI1NiJ9.${Buffer.from('{"sub":"u1","exp":2000000000}').toString('base64url')}.${randomBytes(32).toString('base64url')}`,
  pem: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  email: 'jane.doe@customer.example',
  phone: '+44 20 7946 0958',
  card: '4111 1111 1111 1111',
  iban: 'DE89 3704 0044 0532 0130 00',
  ssn: '123-45-6789',
  nino: 'AB 12 34 56 C',
};
const pemBody = seeded.pem.split('\n')[1]!;

const draft = (who: Account, payload: object) => t.app.inject({ method: 'POST', url: '/api/v1/content/drafts', headers: bearer(who), payload });
const settings = (payload: object) => t.app.inject({ method: 'PATCH', url: '/api/v1/content/settings', headers: bearer(owner), payload });
const addProvider = (payload: object) => t.app.inject({ method: 'POST', url: '/api/v1/content/providers', headers: bearer(owner), payload });

let providerId: string;
const providerKey = `sk-test-${randomBytes(24).toString('hex')}`;

beforeAll(async () => {
  server = await startModelServer(() => mode);
  t = await startApp(LOCAL_EGRESS);
  owner = await signup(t.app, 'Content HTTP');
  member = await addMember(t.app, owner, 'member');
  const res = await addProvider({ name: 'local', kind: 'openai-compatible', baseUrl: server.baseUrl, model: 'local-model', apiKey: providerKey, isDefault: true, timeoutMs: 3000 });
  expect(res.statusCode).toBe(201);
  providerId = json(res).id;
});
afterAll(async () => {
  await t?.close();
  await server?.close();
});

describe('an OpenAI-compatible provider at a local server', () => {
  it('never shows the key: only a fingerprint and the last four', async () => {
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/content/providers', headers: bearer(member) });
    expect(list.body).not.toContain(providerKey);
    expect(json(list).items[0]).toMatchObject({ id: providerId, hasKey: true, keyLastFour: providerKey.slice(-4) });
  });

  it('sends prompts with none of the seeded secrets and personal data; restores the placeholders in the output', async () => {
    mode = { content: 'Dear ⟦EMAIL_1⟧, we will call ⟦PHONE_1⟧.' };
    const text = Object.entries(seeded).map(([k, v]) => `${k}: ${v}`).join('\n');
    const res = await draft(member, {
      kind: 'model', title: 'Follow-up', instructions: `Write a follow-up to ${seeded.email} (call ${seeded.phone}); api key ${seeded.openai}`,
      data: [{ label: 'CRM notes', text }, { label: 'more', text: `token=${seeded.ours} card ${seeded.card}` }],
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(server.calls.length).toBe(1);
    const call = server.calls[0]!;
    expect(call.authorization).toBe(`Bearer ${providerKey}`);
    expect(call.body.model).toBe('local-model');
    for (const [kind, value] of Object.entries(seeded)) expect(call.raw, kind).not.toContain(JSON.stringify(value).slice(1, -1));
    expect(call.raw).not.toContain(pemBody);
    expect(call.raw).toContain('⟦EMAIL_1⟧');
    expect(call.raw).toContain('[secret removed]');
    // Tenant data arrives delimited, as data.
    const user = call.body.messages.find((m) => m.role === 'user')!.content;
    expect(user).toMatch(/<data index="1" label="CRM notes">[\s\S]*<\/data>/);
    const body = json(res);
    expect(body.text).toBe(`Dear ${seeded.email}, we will call ${seeded.phone}.`);
    expect(body.redaction.secrets).toBeGreaterThanOrEqual(8);
    expect(body.redaction.pii).toBeGreaterThanOrEqual(7);
    expect(body.providerId).toBe(providerId);
  });

  it('with the refuse policy, a prompt holding personal data is refused before anything leaves', async () => {
    await settings({ piiPolicy: 'refuse' });
    const before = server.calls.length;
    const res = await draft(member, { kind: 'model', title: 'x', instructions: `Email ${seeded.email} about IBAN ${seeded.iban}` });
    expect(res.statusCode).toBe(400);
    expect(json(res).personalData).toEqual(['email', 'iban']);
    expect(server.calls.length).toBe(before);
    // Secrets alone are removed, not refused.
    expect((await draft(member, { kind: 'model', title: 'x', instructions: `Rotate ${seeded.github} please` })).statusCode).toBe(201);
    expect(server.calls.at(-1)!.raw).not.toContain(seeded.github);
    await settings({ piiPolicy: 'redact' });
  });

  it('scans outputs: a secret the model returns is removed, unknown personal data masked', async () => {
    const leaked = `ghp_${'Ab1'.repeat(12)}`;
    mode = { content: `Use ${leaked} and mail someone@else.example or ⟦EMAIL_7⟧` };
    const body = json(await draft(member, { kind: 'model', title: 'x', instructions: 'hello' }));
    expect(body.text).not.toContain(leaked);
    expect(body.text).not.toContain('someone@else.example');
    expect(body.text).toContain('[redacted:github-token]');
    expect(body.text).toContain('⟦EMAIL_7⟧');
  });

  it('a provider error or timeout is a problem; nothing is stored and the quota is refunded', async () => {
    await settings({ storeOutputs: true });
    const count = async () => json(await t.app.inject({ method: 'GET', url: '/api/v1/content/drafts?limit=100', headers: bearer(member) })).items.length;
    const usage = async () => json(await t.app.inject({ method: 'GET', url: '/api/v1/content/usage', headers: bearer(member) })).tokens;
    const drafts0 = await count();
    const used0 = await usage();
    for (const m of [{ status: 500, content: 'x' }, { raw: 'not json' }, { raw: '{"choices":[]}' }, { delayMs: 6000, content: "late" }]) {
      mode = m;
      const res = await draft(member, { kind: 'model', title: 'x', instructions: 'hello' });
      expect(res.statusCode, JSON.stringify(m)).toBe(502);
      expect(json(res).type).toBe('urn:ocsuite:problem:egress-failed');
    }
    expect(await count()).toBe(drafts0);
    expect(await usage()).toBe(used0);
    await settings({ storeOutputs: false });
  });

  it('quotas hold under concurrency: 429 with Retry-After, never more than the quota spent', async () => {
    mode = { content: 'short answer' };
    // Each call reserves its prompt estimate + maxTokens (100) and settles to the reported usage.
    const used0 = json(await t.app.inject({ method: 'GET', url: '/api/v1/content/usage', headers: bearer(member) })).tokens;
    const quota = used0 + 5 * 400;
    await settings({ dailyTokenQuota: quota });
    // A generous timeout here: 20 calls at once on a loaded 2-core machine share one event loop with the receiver.
    const patient = json(await addProvider({ name: 'patient', kind: 'openai-compatible', baseUrl: server.baseUrl, model: 'local-model', timeoutMs: 60000 })).id;
    const before = server.calls.length;
    const results = await Promise.all(Array.from({ length: 20 }, () => draft(member, { kind: 'model', title: 'x', instructions: 'q'.repeat(1000), maxTokens: 100, providerId: patient })));
    const ok = results.filter((r) => r.statusCode === 201);
    const limited = results.filter((r) => r.statusCode === 429);
    expect(ok.length + limited.length, results.filter((r) => r.statusCode !== 201 && r.statusCode !== 429).map((r) => r.body).join("\n")).toBe(20);
    expect(limited.length).toBeGreaterThan(0);
    for (const r of limited) {
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(json(r).type).toBe('urn:ocsuite:problem:rate-limited');
    }
    const after = json(await t.app.inject({ method: 'GET', url: '/api/v1/content/usage', headers: bearer(member) }));
    expect(after.tokens).toBeLessThanOrEqual(quota);
    expect(server.calls.length - before).toBe(ok.length);
    await settings({ dailyTokenQuota: 200000 });
  });
});

describe('SSRF: provider URLs the platform may not reach', () => {
  let strict: TestApp;
  let admin: Account;
  beforeAll(async () => {
    strict = await startApp();
    admin = await signup(strict.app, 'SSRF');
  });
  afterAll(() => strict?.close());

  const targets = [
    'http://127.0.0.1:8080/v1', 'https://127.0.0.1/v1', 'https://169.254.169.254/latest', 'https://10.0.0.1/v1', 'https://[::1]/v1',
    'https://0.0.0.0/v1', 'https://localhost/v1', 'https://2130706433/v1', 'https://0177.0.0.1/v1', 'https://user:pw@api.example.com/v1',
    'file:///etc/passwd', 'gopher://127.0.0.1/', 'https://[::ffff:127.0.0.1]/v1', 'https://api.example.com:22/v1',
  ];
  for (const baseUrl of targets) {
    it(`refuses ${baseUrl} and stores nothing`, async () => {
      const res = await strict.app.inject({ method: 'POST', url: '/api/v1/content/providers', headers: bearer(admin), payload: { name: 'x', kind: 'openai-compatible', baseUrl, model: 'm' } });
      expect(res.statusCode).toBe(400);
      expect(json(res).type).toMatch(/egress-refused|validation-failed/);
      const list = json(await strict.app.inject({ method: 'GET', url: '/api/v1/content/providers', headers: bearer(admin) }));
      expect(list.items).toEqual([]);
    });
  }
});
