import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { signSso } from '../../src/modules/discourse/protocol.ts';
import { addMember, bearer, enableMfa, json, totpCode, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/** A local stand-in for Discourse's two admin endpoints used by logout sync. */
interface Call { method: string; url: string; apiKey: string | undefined; apiUsername: string | undefined }
function discourseReceiver(users: Map<string, number>) {
  const calls: Call[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    calls.push({ method: req.method!, url: req.url!, apiKey: req.headers['api-key'] as string | undefined, apiUsername: req.headers['api-username'] as string | undefined });
    const byExternal = /^\/users\/by-external\/([0-9a-f]+)\.json$/.exec(req.url!);
    if (req.method === 'GET' && byExternal) {
      const id = users.get(byExternal[1]!);
      res.writeHead(id ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(id ? { user: { id, username: 'someone' } } : { errors: ['not found'] }));
      return;
    }
    if (req.method === 'POST' && /^\/admin\/users\/\d+\/log_out$/.test(req.url!)) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":"OK"}');
      return;
    }
    res.writeHead(404).end();
  });
  return { server, calls };
}

const request = (secret: string, fields: Record<string, string>) => {
  const sso = Buffer.from(new URLSearchParams(fields).toString()).toString('base64');
  return { sso, sig: signSso(secret, sso) };
};
const answerOf = (location: string) => {
  const url = new URL(location);
  return { url, sso: url.searchParams.get('sso')!, sig: url.searchParams.get('sig')!, fields: new URLSearchParams(Buffer.from(url.searchParams.get('sso')!, 'base64').toString()) };
};
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('DiscourseConnect provider', () => {
  let t: TestApp;
  let owner: Account;
  let admin: Account;
  let member: Account;
  let origin: string;
  let secret: string;
  const users = new Map<string, number>();
  const receiver = discourseReceiver(users);
  const apiKey = randomBytes(24).toString('hex');

  beforeAll(async () => {
    await new Promise<void>((r) => receiver.server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
    t = await startApp({ OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32', OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1' });
    owner = await signup(t.app, 'Forum Tenant');
    // The owner confirmed their address; invited members here never did.
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE users SET email_verified_at = now() WHERE id = ${owner.userId}`));
    admin = await addMember(t.app, owner, 'admin');
    member = await addMember(t.app, owner, 'member');
    const put = await t.app.inject({
      method: 'PUT', url: '/api/v1/integrations/discourse', headers: bearer(owner),
      payload: {
        origin,
        groupMapping: [{ group: 'forum_staff', role: 'admin' }, { group: 'writers', permission: 'knowledge:write' }, { group: 'owners_club', role: 'owner' }],
        admins: [{ role: 'owner' }],
        moderators: [],
        logoutSync: { apiKey, apiUsername: 'system' },
      },
    });
    expect(put.statusCode, put.body).toBe(200);
    secret = json(put).secret;
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
    await new Promise((r) => receiver.server.close(r));
  });

  const returnUrl = () => `${origin}/session/sso_login`;
  const fresh = (extra: Record<string, string> = {}) => request(secret, { nonce: randomBytes(16).toString('hex'), return_sso_url: returnUrl(), ...extra });
  const signIn = (who: Account, r: { sso: string; sig: string }, tenantId = owner.tenantId) => t.app.inject({
    method: 'POST', url: `/sso/discourse/${tenantId}`, headers: FORM, payload: form({ ...r, email: who.email, password: who.password }),
  });

  it('shows the secret once, never again; refuses plain http to a host not allowed and non-admins', async () => {
    const got = await t.app.inject({ method: 'GET', url: '/api/v1/integrations/discourse', headers: bearer(owner) });
    expect(got.statusCode).toBe(200);
    expect(got.body).not.toContain(secret);
    expect(got.body).not.toContain(apiKey);
    expect(json(got).logoutSync).toEqual({ apiUsername: 'system' });
    const http = await t.app.inject({ method: 'PUT', url: '/api/v1/integrations/discourse', headers: bearer(owner), payload: { origin: 'http://forum.example.com' } });
    expect(http.statusCode).toBe(400);
    const path = await t.app.inject({ method: 'PUT', url: '/api/v1/integrations/discourse', headers: bearer(owner), payload: { origin: 'https://forum.example.com/x' } });
    expect(path.statusCode).toBe(400);
    const asMember = await t.app.inject({ method: 'GET', url: '/api/v1/integrations/discourse', headers: bearer(member) });
    expect(asMember.statusCode).toBe(403);
  });

  it('GET answers a strict sign-in page carrying sso/sig', async () => {
    const r = fresh();
    const page = await t.app.inject({ method: 'GET', url: `/sso/discourse/${owner.tenantId}?sso=${encodeURIComponent(r.sso)}&sig=${r.sig}` });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).toContain(`value="${r.sso}"`);
    expect(page.body).not.toMatch(/<script/i);
  });

  it('an internal admin outside the admin mapping gets no admin=true and no internal role names', async () => {
    const res = await signIn(admin, fresh());
    expect(res.statusCode, res.body).toBe(303);
    const a = answerOf(res.headers.location as string);
    expect(a.url.origin + a.url.pathname).toBe(returnUrl());
    expect(signSso(secret, a.sso)).toBe(a.sig);
    expect(a.fields.get('admin')).toBe('false');
    expect(a.fields.get('moderator')).toBe('false');
    expect(a.fields.get('add_groups')!.split(',').sort()).toEqual(['forum_staff', 'writers']);
    expect(a.fields.get('remove_groups')).toBe('owners_club');
    const values = [...a.fields.values()].join(' ');
    for (const role of ['admin', 'owner', 'member', 'viewer']) expect(values.split(/[\s,]/)).not.toContain(role);
    expect(a.fields.get('external_id')).toMatch(/^[0-9a-f]{64}$/);
    expect(decodeURIComponent(a.sso + values)).not.toContain(admin.userId);
    // Invited, never confirmed: Discourse must verify the address itself.
    expect(a.fields.get('require_activation')).toBe('true');
  });

  it('the mapped owner gets admin=true; a verified email has no require_activation', async () => {
    const res = await signIn(owner, fresh());
    expect(res.statusCode, res.body).toBe(303);
    const a = answerOf(res.headers.location as string);
    expect(a.fields.get('admin')).toBe('true');
    expect(a.fields.get('email')).toBe(owner.email);
    expect(a.fields.has('require_activation')).toBe(false);
    expect(a.fields.get('add_groups')!.split(',')).toContain('owners_club');
  });

  it('refuses a tampered sig, a replayed nonce, a stale nonce and a foreign return_sso_url', async () => {
    const r = fresh();
    const tampered = { sso: r.sso, sig: (r.sig[0] === 'a' ? 'b' : 'a') + r.sig.slice(1) };
    expect((await signIn(member, tampered)).statusCode).toBe(403);
    const once = await signIn(member, r);
    expect(once.statusCode).toBe(303);
    const replay = await signIn(member, r);
    expect(replay.statusCode).toBe(403);
    expect(replay.body).toContain('already used');

    const stale = fresh();
    const seen = await t.app.inject({ method: 'GET', url: `/sso/discourse/${owner.tenantId}?sso=${encodeURIComponent(stale.sso)}&sig=${stale.sig}` });
    expect(seen.statusCode).toBe(200);
    await withOwner(t.platform.db, (tx) => tx.query(sql`UPDATE discourse_nonces SET first_seen_at = now() - interval '11 minutes' WHERE tenant_id = ${owner.tenantId}`));
    const late = await signIn(member, stale);
    expect(late.statusCode).toBe(403);
    expect(late.body).toContain('expired');

    for (const foreign of ['https://evil.example/session/sso_login', `${origin}.evil.example/x`, 'javascript:alert(1)']) {
      const res = await signIn(member, fresh({ return_sso_url: foreign }));
      expect(res.statusCode).toBe(403);
      expect(res.headers.location).toBeUndefined();
    }
    const events = await withOwner(t.platform.db, (tx) => tx.query<{ reason: string }>(sql`
      SELECT reason FROM audit_events WHERE tenant_id = ${owner.tenantId} AND action = 'discourse.sso_refused'`));
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['bad-signature', 'replayed-nonce', 'stale-nonce', 'foreign-return-url']));
  });

  it('a request signed for one tenant is refused at another; an unknown tenant is not found', async () => {
    const other = await signup(t.app, 'Other Forum Tenant');
    const put = await t.app.inject({ method: 'PUT', url: '/api/v1/integrations/discourse', headers: bearer(other), payload: { origin } });
    expect(put.statusCode).toBe(200);
    const r = fresh();
    expect((await signIn(member, r, other.tenantId)).statusCode).toBe(403);
    // The member of A signs with a request B signed: still not a member of B.
    const forB = request(json(put).secret, { nonce: randomBytes(16).toString('hex'), return_sso_url: returnUrl() });
    const cross = await signIn(member, forB, other.tenantId);
    expect(cross.statusCode).toBe(401);
    expect(cross.headers.location).toBeUndefined();
    const unknown = await t.app.inject({ method: 'GET', url: `/sso/discourse/00000000-0000-4000-8000-000000000000?sso=${encodeURIComponent(r.sso)}&sig=${r.sig}` });
    expect(unknown.statusCode).toBe(404);
  });

  it('escapes an XSS payload in the query and in the form', async () => {
    const xss = '"><script>alert(1)</script>';
    const page = await t.app.inject({ method: 'GET', url: `/sso/discourse/${owner.tenantId}?sso=${encodeURIComponent(xss)}&sig=${encodeURIComponent(xss)}` });
    expect(page.body).not.toContain('<script>');
    expect(page.headers['content-type']).toContain('text/html');
    const r = fresh();
    const wrong = await t.app.inject({ method: 'POST', url: `/sso/discourse/${owner.tenantId}`, headers: FORM, payload: form({ ...r, email: xss, password: 'nope' }) });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).not.toContain('<script>');
    expect(wrong.body).toContain('&quot;&gt;&lt;script&gt;');
  });

  it('a signed-in user gets the redirect through the bearer route', async () => {
    const r = fresh();
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/integrations/discourse/sso', headers: bearer(member), payload: r });
    expect(res.statusCode, res.body).toBe(200);
    const a = answerOf(json(res).redirectUrl);
    expect(signSso(secret, a.sso)).toBe(a.sig);
    expect(a.fields.get('add_groups')).toBe('writers');
    const again = await t.app.inject({ method: 'POST', url: '/api/v1/integrations/discourse/sso', headers: bearer(member), payload: r });
    expect(again.statusCode).toBe(400);
    expect(json(again).reason).toBe('replayed-nonce');
  });

  it('removing a member logs them out of Discourse through the admin API', async () => {
    const leaving = await addMember(t.app, owner, 'member');
    const res = await signIn(leaving, fresh());
    const externalId = answerOf(res.headers.location as string).fields.get('external_id')!;
    users.set(externalId, 4242);
    await enableMfa(t.app, owner);
    const removed = await t.app.inject({ method: 'DELETE', url: `/api/v1/members/${leaving.userId}`, headers: bearer(owner) });
    expect(removed.statusCode).toBeLessThan(300);
    for (let i = 0; i < 200 && !receiver.calls.some((c) => c.url === '/admin/users/4242/log_out'); i++) await new Promise((r) => setTimeout(r, 100));
    const lookup = receiver.calls.find((c) => c.url === `/users/by-external/${externalId}.json`);
    expect(lookup).toMatchObject({ method: 'GET', apiKey, apiUsername: 'system' });
    expect(receiver.calls.find((c) => c.url === '/admin/users/4242/log_out')).toMatchObject({ method: 'POST', apiKey });
  }, 60_000);

  it('ending a member\'s sessions logs them out of Discourse too', async () => {
    const res = await signIn(admin, fresh());
    const externalId = answerOf(res.headers.location as string).fields.get('external_id')!;
    users.set(externalId, 77);
    const ended = await t.app.inject({ method: 'DELETE', url: `/api/v1/members/${admin.userId}/sessions`, headers: bearer(owner) });
    expect(ended.statusCode).toBeLessThan(300);
    for (let i = 0; i < 200 && !receiver.calls.some((c) => c.url === '/admin/users/77/log_out'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(receiver.calls.find((c) => c.url === '/admin/users/77/log_out')).toMatchObject({ method: 'POST', apiKey });
  }, 60_000);

  it('an account with a second factor is asked for its code before Discourse gets an answer', async () => {
    const r = fresh();
    const first = await signIn(owner, r);
    expect(first.statusCode).toBe(200);
    expect(first.headers.location).toBeUndefined();
    expect(first.body).toContain('name="code"');
    const wrong = await t.app.inject({ method: 'POST', url: `/sso/discourse/${owner.tenantId}`, headers: FORM, payload: form({ ...r, email: owner.email, password: owner.password, code: '000000' }) });
    expect(wrong.statusCode).toBe(401);
    const ok = await t.app.inject({ method: 'POST', url: `/sso/discourse/${owner.tenantId}`, headers: FORM, payload: form({ ...r, email: owner.email, password: owner.password, code: await totpCode(owner) }) });
    expect(ok.statusCode, ok.body).toBe(303);
    expect(answerOf(ok.headers.location as string).fields.get('admin')).toBe('true');
  }, 90_000);
});
