import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { addMember, bearer, enableMfa, json, login, PASSWORD, signup, startApp, uniqueEmail, type Account, type TestApp } from '../support/app.ts';

const PROBLEM = /^application\/problem\+json/;
const problemType = (kind: string) => `urn:ocsuite:problem:${kind}`;

let t: TestApp;
let owner: Account;
let admin: Account;
let member: Account;
let viewer: Account;

beforeAll(async () => {
  t = await startApp({ OCSUITE_INVITATION_TTL: '300' });
  owner = await signup(t.app, 'Members Tenant');
  admin = await addMember(t.app, owner, 'admin');
  member = await addMember(t.app, owner, 'member');
  viewer = await addMember(t.app, owner, 'viewer');
  // Role changes are sensitive: the acting owner and admin hold a fresh second factor.
  await enableMfa(t.app, owner);
  await enableMfa(t.app, admin);
});

afterAll(async () => {
  await t?.close();
});

const inject = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, who?: { accessToken: string }, payload?: object) =>
  t.app.inject({ method, url, ...(who ? { headers: bearer(who) } : {}), ...(payload ? { payload } : {}) });

async function roleOf(userId: string): Promise<string | undefined> {
  const res = await inject('GET', '/api/v1/members', owner);
  expect(res.statusCode).toBe(200);
  return json(res).items.find((m: { userId: string }) => m.userId === userId)?.role;
}

async function pendingEmails(): Promise<string[]> {
  const res = await inject('GET', '/api/v1/invitations', owner);
  expect(res.statusCode).toBe(200);
  return json(res).items.map((i: { email: string }) => i.email);
}

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, kind: string) {
  expect(res.statusCode).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(PROBLEM);
  expect(JSON.parse(res.body).type).toBe(problemType(kind));
}

const tokenOf = (acceptUrl: string) => new URL(acceptUrl).hash.replace('#token=', '');

async function invite(by: Account, email: string, role: string) {
  const res = await inject('POST', '/api/v1/invitations', by, { email, role });
  expect(res.statusCode).toBe(201);
  const b = json(res);
  return { id: b.id as string, token: tokenOf(b.acceptUrl), body: b };
}

const accept = (token: string, password = PASSWORD) =>
  t.app.inject({ method: 'POST', url: '/api/v1/invitations/accept', payload: { token, password } });

describe('roles', () => {
  it('each role sees its own role on /me', async () => {
    for (const [acc, role] of [[owner, 'owner'], [admin, 'admin'], [member, 'member'], [viewer, 'viewer']] as const) {
      const res = await inject('GET', '/api/v1/me', acc);
      expect(res.statusCode).toBe(200);
      expect(json(res).roles).toEqual([role]);
      expect(json(res).tenant.id).toBe(owner.tenantId);
    }
  });

  it('a member cannot invite (403 forbidden) and nothing is created', async () => {
    const email = uniqueEmail('by-member');
    expectProblem(await inject('POST', '/api/v1/invitations', member, { email, role: 'viewer' }), 403, 'forbidden');
    expectProblem(await inject('POST', '/api/v1/invitations', viewer, { email, role: 'viewer' }), 403, 'forbidden');
    expect(await pendingEmails()).not.toContain(email);
  });

  it('an admin cannot invite an owner (403 role-escalation)', async () => {
    const email = uniqueEmail('would-be-owner');
    expectProblem(await inject('POST', '/api/v1/invitations', admin, { email, role: 'owner' }), 403, 'role-escalation');
    expect(await pendingEmails()).not.toContain(email);
    // An admin may invite at or below their own rank.
    const ok = await inject('POST', '/api/v1/invitations', admin, { email, role: 'admin' });
    expect(ok.statusCode).toBe(201);
  });

  it('an admin cannot promote anyone to owner', async () => {
    expectProblem(await inject('PATCH', `/api/v1/members/${member.userId}`, admin, { role: 'owner' }), 403, 'role-escalation');
    expectProblem(await inject('PATCH', `/api/v1/members/${admin.userId}`, admin, { role: 'owner' }), 403, 'role-escalation');
    expect(await roleOf(member.userId)).toBe('member');
    expect(await roleOf(admin.userId)).toBe('admin');
  });

  it('an admin cannot change or remove an owner', async () => {
    expectProblem(await inject('PATCH', `/api/v1/members/${owner.userId}`, admin, { role: 'viewer' }), 403, 'role-escalation');
    expectProblem(await inject('DELETE', `/api/v1/members/${owner.userId}`, admin), 403, 'role-escalation');
    expect(await roleOf(owner.userId)).toBe('owner');
    expect((await inject('GET', '/api/v1/me', owner)).statusCode).toBe(200);
  });

  it('an admin demotes a member to viewer: the old token stops at once, a new login carries the new role', async () => {
    const target = await addMember(t.app, owner, 'member');
    expect((await inject('GET', '/api/v1/me', target)).statusCode).toBe(200); // warms the session cache
    const created = await inject('POST', '/api/v1/knowledge', target, { title: 'before demotion', body: 'x' });
    expect(created.statusCode).toBe(201);

    const res = await inject('PATCH', `/api/v1/members/${target.userId}`, admin, { role: 'viewer' });
    expect(res.statusCode).toBe(204);
    expect(await roleOf(target.userId)).toBe('viewer');

    expectProblem(await inject('GET', '/api/v1/me', target), 401, 'unauthenticated');
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: target.refreshToken } }), 401, 'invalid-token');

    const again = await login(t.app, target);
    const who = json(await inject('GET', '/api/v1/me', again));
    expect(who.roles).toEqual(['viewer']);
    expect(who.permissions).not.toContain('knowledge:write');
    expectProblem(await inject('POST', '/api/v1/knowledge', again, { title: 'after demotion', body: 'x' }), 403, 'forbidden');
  });

  it('the last owner can neither demote nor remove themselves (409 last-owner) and stays owner', async () => {
    const solo = await enableMfa(t.app, await signup(t.app, 'Solo Tenant'));
    expectProblem(await inject('PATCH', `/api/v1/members/${solo.userId}`, solo, { role: 'admin' }), 409, 'last-owner');
    expectProblem(await inject('DELETE', `/api/v1/members/${solo.userId}`, solo), 409, 'last-owner');
    const members = json(await inject('GET', '/api/v1/members', solo)).items;
    expect(members).toHaveLength(1);
    expect(members[0]).toMatchObject({ userId: solo.userId, role: 'owner' });
    // The refused change rolled back entirely: the owner's session was not revoked.
    const who = await inject('GET', '/api/v1/me', solo);
    expect(who.statusCode).toBe(200);
    expect(json(who).roles).toEqual(['owner']);
  });

  it('two owners demoting or removing each other at the same time: one wins, one gets 409, the tenant keeps an owner', async () => {
    for (const variant of ['demote', 'remove'] as const) {
      const first = await enableMfa(t.app, await signup(t.app, `Racing Owners ${variant}`));
      const second = await enableMfa(t.app, await addMember(t.app, first, 'owner'));
      const against = (who: Account, target: Account) => variant === 'demote'
        ? inject('PATCH', `/api/v1/members/${target.userId}`, who, { role: 'admin' })
        : inject('DELETE', `/api/v1/members/${target.userId}`, who);
      const [a, b] = await Promise.all([against(first, second), against(second, first)]);
      const statuses = [a.statusCode, b.statusCode].sort();
      expect(statuses[1], `${variant}: ${a.body} ${b.body}`).toBe(409);
      expect(statuses[0]).toBeLessThan(300);
      const owners = await withOwner(t.platform.db, (tx) => tx.query(sql`SELECT user_id FROM memberships WHERE tenant_id = ${first.tenantId} AND role = 'owner'`));
      expect(owners).toHaveLength(1);
    }
  });

  it('a second owner can be removed by the first', async () => {
    const first = await enableMfa(t.app, await signup(t.app, 'Two Owners'));
    const second = await addMember(t.app, first, 'owner');
    expect(json(await inject('GET', '/api/v1/me', second)).roles).toEqual(['owner']);

    const res = await inject('DELETE', `/api/v1/members/${second.userId}`, first);
    expect(res.statusCode).toBe(204);
    const ids = json(await inject('GET', '/api/v1/members', first)).items.map((m: { userId: string }) => m.userId);
    expect(ids).toEqual([first.userId]);
    expectProblem(await inject('GET', '/api/v1/me', second), 401, 'unauthenticated');
    const relogin = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: second.email, password: PASSWORD } });
    expectProblem(relogin, 401, 'invalid-credentials');
  });
});

describe('invitations', () => {
  it('are single use: a second accept is 401 invalid-token', async () => {
    const email = uniqueEmail('once');
    const inv = await invite(owner, email, 'member');
    expect(Date.parse(inv.body.expiresAt)).toBeGreaterThan(Date.now());
    const first = await accept(inv.token);
    expect(first.statusCode).toBe(200);
    expect(json(first).roles).toEqual(['member']);
    expect(json(first).tenant.id).toBe(owner.tenantId);

    expectProblem(await accept(inv.token), 401, 'invalid-token');
    expect(await pendingEmails()).not.toContain(email);
  });

  it('honour the configured lifetime', async () => {
    const inv = await invite(owner, uniqueEmail('ttl'), 'viewer');
    const lifetime = Date.parse(inv.body.expiresAt) - Date.parse(inv.body.createdAt);
    expect(lifetime).toBeGreaterThanOrEqual(299_000);
    expect(lifetime).toBeLessThanOrEqual(301_000);
  });

  it('an admin cannot revoke an invitation to the owner role; an owner can', async () => {
    const inv = await inject('POST', '/api/v1/invitations', owner, { email: uniqueEmail('future-owner'), role: 'owner' });
    expect(inv.statusCode, inv.body).toBe(201);
    const id = json(inv).id as string;
    const byAdmin = await inject('DELETE', `/api/v1/invitations/${id}`, admin);
    expectProblem(byAdmin, 403, 'role-escalation');
    const [row] = await withOwner(t.platform.db, (tx) => tx.query<{ revoked: boolean }>(sql`SELECT revoked_at IS NOT NULL AS revoked FROM invitations WHERE id = ${id}`));
    expect(row!.revoked).toBe(false);
    expect((await inject('DELETE', `/api/v1/invitations/${id}`, owner)).statusCode).toBe(204);
  });

  it('a revoked invitation cannot be accepted and creates no account', async () => {
    const email = uniqueEmail('revoked');
    const inv = await invite(owner, email, 'member');
    expect(await pendingEmails()).toContain(email);
    expect((await inject('DELETE', `/api/v1/invitations/${inv.id}`, owner)).statusCode).toBe(204);
    expect(await pendingEmails()).not.toContain(email);
    expectProblem(await accept(inv.token), 401, 'invalid-token');
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD } }), 401, 'invalid-credentials');
    // Revoking twice finds nothing to revoke.
    expectProblem(await inject('DELETE', `/api/v1/invitations/${inv.id}`, owner), 404, 'not-found');
  });

  it('an expired invitation cannot be accepted', async () => {
    const email = uniqueEmail('expired');
    const inv = await invite(owner, email, 'member');
    await withOwner(t.platform.db, (tx) =>
      tx.query(sql`UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = ${inv.id}`));
    expectProblem(await accept(inv.token), 401, 'invalid-token');
    expect(await pendingEmails()).not.toContain(email);
    const [row] = await withOwner(t.platform.db, (tx) =>
      tx.query<{ accepted: boolean }>(sql`SELECT accepted_at IS NOT NULL AS accepted FROM invitations WHERE id = ${inv.id}`));
    expect(row).toEqual({ accepted: false });
  });

  it('an existing user must prove their existing password', async () => {
    const outsider = await signup(t.app, 'Outsider Tenant');
    const inv = await invite(owner, outsider.email, 'member');
    expectProblem(await accept(inv.token, `${PASSWORD} but wrong`), 401, 'invalid-credentials');
    expect(await roleOf(outsider.userId)).toBeUndefined();

    const ok = await accept(inv.token, PASSWORD);
    expect(ok.statusCode).toBe(200);
    expect(json(ok).user.id).toBe(outsider.userId);
    expect(json(ok).tenant.id).toBe(owner.tenantId);
    expect(await roleOf(outsider.userId)).toBe('member');
    // The account now belongs to two tenants.
    const ambiguous = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: outsider.email, password: PASSWORD } });
    expectProblem(ambiguous, 400, 'tenant-required');
  });

  it('an existing member accepting again gets 409 and keeps their role', async () => {
    const inv = await invite(owner, member.email, 'viewer');
    expectProblem(await accept(inv.token), 409, 'conflict');
    expect(await roleOf(member.userId)).toBe('member');
    // Nothing was claimed: the invitation is still pending.
    expect(await pendingEmails()).toContain(member.email);
  });

  it('refuses a token that was never issued', async () => {
    expectProblem(await accept(`ocs_inv_${'B'.repeat(43)}`), 401, 'invalid-token');
  });
});

describe('invitation mail over SMTP', () => {
  interface Received { from: string | undefined; to: string[]; raw: string }
  let smtp: SMTPServer;
  let m: TestApp;
  const inbox: Received[] = [];
  const waiters: Array<() => void> = [];

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, done) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined;
          inbox.push({ from, to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
          waiters.splice(0).forEach((w) => w());
          done();
        });
      },
    });
    smtp.listen(0, '127.0.0.1');
    await once(smtp.server, 'listening');
    const { port } = smtp.server.address() as AddressInfo;
    m = await startApp({ SMTP_URL: `smtp://127.0.0.1:${port}` });
  });

  afterAll(async () => {
    await m?.close();
    await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
  });

  async function mailFor(address: string, ms = 10_000): Promise<Received> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = inbox.find((r) => r.to.includes(address));
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no mail for ${address}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
  }

  it('sends the invitee a mail with the exact accept URL, whose token works', async () => {
    const boss = await signup(m.app, 'Mail Tenant');
    const email = uniqueEmail('mailed');
    const res = await m.app.inject({ method: 'POST', url: '/api/v1/invitations', headers: bearer(boss), payload: { email, role: 'member' } });
    expect(res.statusCode).toBe(201);
    const { acceptUrl } = json(res);

    const mail = await mailFor(email);
    expect(mail.to).toEqual([email]);
    expect(mail.from).toBe('no-reply@localhost');
    const { headers, text } = decodeMail(mail.raw);
    expect(headers.get('to')).toContain(email);
    expect(headers.get('subject')).toMatch(/invited/i);
    expect(text).toContain(acceptUrl);

    const fromMail = /(https?:\/\/\S+#token=(ocs_inv_[A-Za-z0-9_-]{43}))/.exec(text);
    expect(fromMail).not.toBeNull();
    expect(fromMail![1]).toBe(acceptUrl);
    const ok = await m.app.inject({ method: 'POST', url: '/api/v1/invitations/accept', payload: { token: fromMail![2], password: PASSWORD } });
    expect(ok.statusCode).toBe(200);
    expect(json(ok).user.email).toBe(email);
    expect(json(ok).tenant.id).toBe(boss.tenantId);
    expect(json(ok).roles).toEqual(['member']);
  });
});

/** Headers (unfolded, lower-cased) and the decoded text of a single-part message. */
function decodeMail(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n') >= 0 ? raw.indexOf('\r\n\r\n') : raw.indexOf('\n\n');
  const head = raw.slice(0, split).replace(/\r?\n[ \t]+/g, ' ');
  const body = raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const cte = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  let text: string;
  if (cte === 'quoted-printable') {
    text = Buffer.from(
      body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  } else if (cte === 'base64') {
    text = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  } else {
    text = body;
  }
  return { headers, text: text.replace(/\r\n/g, '\n') };
}
