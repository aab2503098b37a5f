import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { addMember, bearer, enableMfa, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';

/** PATCH /api/v1/me: a user sets their own display name, shown in the members list. */
let t: TestApp;
let owner: Account;
let viewer: Account;
let other: Account;

const patch = (who: { accessToken: string }, payload: unknown) => t.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: bearer(who), payload: payload as object });
const nameInList = async (who: Account, userId: string) =>
  json(await t.app.inject({ method: 'GET', url: '/api/v1/members', headers: bearer(who) })).items.find((m: { userId: string }) => m.userId === userId)?.displayName;
const storedName = async (userId: string) =>
  (await withOwner(t.platform.db, (tx) => tx.query<{ display_name: string | null }>(sql`SELECT display_name FROM users WHERE id = ${userId}`)))[0]!.display_name;
const events = async (who: Account) =>
  json(await t.app.inject({ method: 'GET', url: '/api/v1/audit-events?action=user.display_name_changed', headers: bearer(who) })).items;

beforeAll(async () => {
  t = await startApp();
  // A second factor: creating the API key below needs a step-up.
  owner = await enableMfa(t.app, await signup(t.app, 'Names'));
  viewer = await addMember(t.app, owner, 'viewer');
  other = await signup(t.app, 'Other tenant');
});
afterAll(() => t?.close());

describe('the display name', () => {
  it('is set by the user (a viewer too), shown in GET /me and the members list, and audited', async () => {
    const res = await patch(viewer, { displayName: '  Zoë Ångström  ' });
    expect(res.statusCode, res.body).toBe(200);
    expect(json(res).user).toMatchObject({ id: viewer.userId, displayName: 'Zoë Ångström' });
    expect(json(await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(viewer) })).user.displayName).toBe('Zoë Ångström');
    expect(await nameInList(owner, viewer.userId)).toBe('Zoë Ångström');
    const [event] = await events(owner);
    expect(event).toMatchObject({ action: 'user.display_name_changed', actor: { type: 'user', id: viewer.userId }, target: { type: 'user', id: viewer.userId }, outcome: 'success' });
    // The append-only log says that it changed, not what to.
    expect(JSON.stringify(event)).not.toContain('Zoë');
  });

  it('stores HTML as plain text (the console renders it as text)', async () => {
    const html = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
    expect((await patch(viewer, { displayName: html })).statusCode).toBe(200);
    expect(await nameInList(owner, viewer.userId)).toBe(html);
  });

  it('is cleared with null; the same name again records nothing', async () => {
    const before = (await events(owner)).length;
    expect((await patch(viewer, { displayName: 'Same' })).statusCode).toBe(200);
    expect((await patch(viewer, { displayName: 'Same' })).statusCode).toBe(200);
    expect((await events(owner)).length).toBe(before + 1);
    expect(json(await patch(viewer, { displayName: null })).user.displayName).toBeNull();
    expect(await storedName(viewer.userId)).toBeNull();
  });

  it('refuses bad names with a clear 400 and changes nothing', async () => {
    expect((await patch(viewer, { displayName: 'Kept' })).statusCode).toBe(200);
    const bad: Array<[unknown, RegExp]> = [
      [{ displayName: 'a\u0000b' }, /control/],
      [{ displayName: 'line\nbreak' }, /control/],
      [{ displayName: 'tab\there' }, /control/],
      [{ displayName: 'del\u007f' }, /control/],
      [{ displayName: 'c1\u0085' }, /control/],
      [{ displayName: 'sep\u2028x' }, /control/],
      [{ displayName: 'admin\u202egnp.exe' }, /bidirectional/],
      [{ displayName: 'iso\u2066x\u2069' }, /bidirectional/],
      [{ displayName: '   ' }, /empty/],
      [{ displayName: 'x'.repeat(121) }, /120/],
      [{ displayName: '😀'.repeat(121) }, /120/],
      [{ displayName: '' }, /./],
      [{ displayName: 'x'.repeat(481) }, /./],
      [{ displayName: 42 }, /./],
      [{}, /./],
      [{ displayName: 'ok', email: 'new@example.com' }, /./],
      [{ displayName: 'ok', userId: owner.userId }, /./],
    ];
    for (const [body, detail] of bad) {
      const res = await patch(viewer, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(json(res).code).toBe('OCS_VALIDATION_FAILED');
      expect(json(res).detail).toMatch(detail);
    }
    expect(await storedName(viewer.userId)).toBe('Kept');
    // 120 characters (emoji count as one each) is fine.
    expect((await patch(viewer, { displayName: '😀'.repeat(120) })).statusCode).toBe(200);
  });

  it('changes only the caller: another user, an API key and no token cannot', async () => {
    expect((await patch(owner, { displayName: 'Owner' })).statusCode).toBe(200);
    expect(await storedName(viewer.userId)).not.toBe('Owner');
    // The other tenant's owner names only themselves; this tenant's list is unchanged.
    expect((await patch(other, { displayName: 'Intruder' })).statusCode).toBe(200);
    expect(await nameInList(owner, owner.userId)).toBe('Owner');
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/members', headers: bearer(owner) })).body).not.toContain('Intruder');
    // No event in this tenant's log for the other tenant's change.
    expect((await events(owner)).every((e: { actor: { id: string } }) => e.actor.id !== other.userId)).toBe(true);

    const key = await t.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(owner), payload: { name: 'k', scopes: ['members:read'] } });
    expect(key.statusCode, key.body).toBe(201);
    expect(json(key).key).toMatch(/^ocs_ak_/);
    // It works as a credential (members:read), and still names nobody.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/members', headers: { authorization: `Bearer ${json(key).key}` } })).statusCode).toBe(200);
    expect((await patch({ accessToken: json(key).key }, { displayName: 'Robot' })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'PATCH', url: '/api/v1/me', payload: { displayName: 'Nobody' } })).statusCode).toBe(401);
    expect(await nameInList(owner, owner.userId)).toBe('Owner');
  });
});
