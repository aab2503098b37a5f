/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { mkdirSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { CONSOLE_CSP } from '../../src/modules/console/headers.ts';
import { REFRESH_COOKIE } from '../../src/modules/identity/refresh-cookie.ts';
import { addMember, bearer, enableMfa, json, signup, startApp, totpCode, uniqueEmail, type Account, type TestApp } from '../support/app.ts';

/**
 * The admin console end to end: built by Vite, served by the platform at
 * /console, driven in Debian's Chromium. Screenshots of the main pages go to
 * test-results/console/ (git-ignored) for a reviewer.
 */
const SHOTS = 'test-results/console';
const XSS = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"'><svg onload="window.__xss=3">`;

let t: TestApp;
let browser: Browser;
let base: string;
let owner: Account;
let admin: Account;
let viewer: Account;
/** The owner signs in once (each TOTP code works once) and this tab is reused. */
let ownerTab: Tab;

beforeAll(async () => {
  // Built before the server starts: the console module reads web/dist once, at start.
  await build({ configFile: 'web/vite.config.ts', logLevel: 'error' });
  mkdirSync(SHOTS, { recursive: true });
  t = await startApp();
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  owner = await enableMfa(t.app, await signup(t.app, 'Console Co'));
  admin = await addMember(t.app, owner, 'admin');
  // roles:manage is the owner's alone by default: the admin gets it through a custom role, and
  // still lacks what only owners hold (tenant:delete) — the escalation the editor must refuse.
  const editors = await t.app.inject({ method: 'POST', url: '/api/v1/roles', headers: bearer(owner), payload: { name: 'role-editors', permissions: ['roles:manage'] } });
  if (editors.statusCode !== 201) throw new Error(`role: ${editors.body}`);
  const assigned = await t.app.inject({ method: 'PUT', url: `/api/v1/members/${admin.userId}/roles`, headers: bearer(owner), payload: { roles: ['admin', json(editors).id] } });
  if (assigned.statusCode >= 300) throw new Error(`assign: ${assigned.statusCode} ${assigned.body}`);
  viewer = await addMember(t.app, owner, 'viewer');
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

interface Tab { context: BrowserContext; page: Page; dialogs: string[] }
async function tab(): Promise<Tab> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  return { context, page, dialogs };
}

async function signIn(page: Page, who: Account): Promise<void> {
  await page.goto(`${base}/console`);
  await page.fill('input[name=email]', who.email);
  await page.fill('input[name=password]', who.password);
  await page.click('form.sign-in button[type=submit]');
  if (who.mfa) {
    await page.locator('.mfa input[name=code]').waitFor({ state: 'visible' });
    await page.fill('.mfa input[name=code]', await totpCode(who));
    await page.click('form.sign-in button[type=submit]');
  }
  await page.locator('header .who').waitFor();
}

/** Same-document navigation: the in-memory session stays; the same page again is re-rendered. */
async function open(page: Page, id: string): Promise<void> {
  if (page.url().endsWith(`#/${id}`)) await page.evaluate(() => window.dispatchEvent(new HashChangeEvent('hashchange')));
  else await page.goto(`${base}/console#/${id}`);
  await page.locator(`.content[data-page="${id}"][data-ready="true"]`).waitFor({ timeout: 15_000 });
}

describe('the admin console', () => {
  it('signs in with password and TOTP; the refresh token lives only in a strict, path-scoped HttpOnly cookie', async () => {
    ownerTab = await tab();
    const { context, page } = ownerTab;
    await signIn(page, owner);
    await open(page, 'overview');
    await expect(page.locator('header .who').textContent()).resolves.toContain(owner.email);
    // The charts are the server's report (GET /audit/report), not counts made in the browser.
    const report = json(await t.app.inject({ method: 'GET', url: '/api/v1/audit/report?days=7', headers: bearer(owner) }));
    const captions = await page.locator('figure.chart figcaption').allTextContents();
    expect(captions).toEqual([
      `Sign-ins: ${report.totals.signIns}`, `Failed sign-ins: ${report.totals.signInFailures}`, `Denied requests: ${report.totals.deniedRequests}`,
      `Exports: ${report.totals.exports}`, `Admin actions: ${report.totals.adminActions}`, `Throttled attempts: ${report.totals.throttledAttempts}`,
    ]);
    expect(report.totals.signIns).toBeGreaterThan(0);
    expect(await page.locator('figure[data-series="signIns"] rect.bar').count()).toBe(7);
    // Key state: the tenant's data keys (owners hold keys:read) beside the checkpoint keys.
    await page.locator('.data-key-summary').waitFor();
    await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });

    const [cookie] = (await context.cookies()).filter((c) => c.name === REFRESH_COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/api/v1/auth/refresh' });
    // Nothing in storage: the access token is in memory only.
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie])).toEqual([0, 0, '']);

    // A reload loses the memory; the cookie brings the session back without a password.
    await page.reload();
    await page.locator('header .who').waitFor();

    // CSRF: the cookie alone, or with the header from a foreign origin, refreshes nothing.
    const cookieHeader = `${REFRESH_COOKIE}=${cookie!.value}`;
    const refresh = (headers: Record<string, string>) => t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { cookie: cookieHeader, ...headers }, payload: {} });
    expect((await refresh({})).statusCode).toBe(401);
    const foreign = await refresh({ 'x-ocsuite-refresh': 'cookie', origin: 'https://evil.example' });
    expect(foreign.statusCode).toBe(403);
    expect((await refresh({ 'x-ocsuite-refresh': 'cookie', origin: base, 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect((await refresh({ 'x-ocsuite-refresh': 'cookie' })).statusCode).toBe(403);
    // The page still refreshes after those refusals (none of them used the token up).
    await page.reload();
    await page.locator('header .who').waitFor();
  });

  it('keeps the body-based refresh for API clients', async () => {
    const client = await signup(t.app, 'API client');
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: client.refreshToken } });
    expect(res.statusCode).toBe(200);
    expect(json(res).refreshToken).toMatch(/^ocs_rt_/);
    expect(res.headers['set-cookie']).toBeUndefined();
    // No token in the body and no cookie mode: refused, not a crash.
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: {} })).statusCode).toBe(401);
  });

  it('asks for a wrong TOTP code again and lets nobody in', async () => {
    const { context, page } = await tab();
    await page.goto(`${base}/console`);
    await page.fill('input[name=email]', owner.email);
    await page.fill('input[name=password]', owner.password);
    await page.click('form.sign-in button[type=submit]');
    await page.locator('.mfa input[name=code]').waitFor({ state: 'visible' });
    await page.fill('.mfa input[name=code]', '000000');
    await page.click('form.sign-in button[type=submit]');
    await expect(page.locator('form.sign-in .message.error').textContent()).resolves.toMatch(/401/);
    expect(await page.locator('header .who').count()).toBe(0);
    await context.close();
  });

  it('signs in with a recovery code instead of the TOTP code', async () => {
    const { context, page } = await tab();
    await page.goto(`${base}/console`);
    await page.fill('input[name=email]', owner.email);
    await page.fill('input[name=password]', owner.password);
    await page.click('form.sign-in button[type=submit]');
    await page.locator('.mfa input[name=code]').waitFor({ state: 'visible' });
    await page.fill('.mfa input[name=code]', owner.mfa!.recoveryCodes[0]!);
    await page.click('form.sign-in button[type=submit]');
    await page.locator('header .who').waitFor();
    await context.close();
  });

  it('invites a member', async () => {
    const { page } = ownerTab;
    await open(page, 'members');
    const email = uniqueEmail('invitee');
    await page.fill('form.invite input[name=email]', email);
    await page.selectOption('form.invite select[name=role]', 'member');
    await page.click('form.invite button[type=submit]');
    await expect(page.locator('form.invite .message.ok').textContent()).resolves.toContain(`Invited ${email} as member`);
    await page.getByRole('cell', { name: email }).waitFor();
    await page.screenshot({ path: `${SHOTS}/members.png`, fullPage: true });
    const list = json(await t.app.inject({ method: 'GET', url: '/api/v1/invitations', headers: bearer(owner) }));
    expect(list.items.map((i: { email: string }) => i.email)).toContain(email);
  });

  it('creates a custom role; a permission the admin does not hold is disabled, and forcing it is refused', async () => {
    const { context, page } = await tab();
    await signIn(page, admin);
    await open(page, 'roles');
    const escalating = page.locator('form.new-role input[value="tenant:delete"]');
    await expect(escalating.isDisabled()).resolves.toBe(true);
    await expect(page.locator('form.new-role input[value="knowledge:read"]').isDisabled()).resolves.toBe(false);
    await page.screenshot({ path: `${SHOTS}/roles.png`, fullPage: true });

    // Forced: the disabled box is enabled by hand and sent; the API refuses (role-escalation).
    await page.fill('form.new-role input[name=name]', 'deleters');
    await escalating.evaluate((el) => { (el as HTMLInputElement).disabled = false; (el as HTMLInputElement).checked = true; });
    await page.check('form.new-role input[value="knowledge:read"]');
    await page.click('form.new-role button[type=submit]');
    await expect(page.locator('form.new-role .message.error').textContent()).resolves.toMatch(/403/);
    const roles = json(await t.app.inject({ method: 'GET', url: '/api/v1/roles', headers: bearer(owner) }));
    expect(roles.items.map((r: { name: string }) => r.name)).not.toContain('deleters');

    await escalating.evaluate((el) => { (el as HTMLInputElement).checked = false; });
    await page.fill('form.new-role input[name=name]', 'readers');
    await page.check('form.new-role input[value="audit:read"]');
    await page.click('form.new-role button[type=submit]');
    await expect(page.locator('form.new-role .message.ok').textContent()).resolves.toContain('Created role readers');
    await context.close();
  });

  it('shows an audit event and the log verified in the browser with the public key', async () => {
    const { page } = ownerTab;
    await open(page, 'audit');
    await page.fill('form.filters input[name=action]', 'role.created');
    await page.click('form.filters button[type=submit]');
    await page.getByRole('cell', { name: 'role.created', exact: true }).first().waitFor();
    const verification = page.locator('.verification');
    await page.locator('.verification[data-state="verified"]').waitFor({ timeout: 15_000 });
    const size = Number(await page.locator('.verification .log-size').textContent());
    const cp = json(await t.app.inject({ method: 'GET', url: '/api/v1/translog/checkpoint', headers: bearer(owner) }));
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThanOrEqual(cp.size);
    await expect(verification.textContent()).resolves.toContain('proven included');
    await page.screenshot({ path: `${SHOTS}/audit.png`, fullPage: true });
  });

  it('a viewer sees no admin controls, and a forced request to an admin route is refused', async () => {
    const { context, page } = await tab();
    await signIn(page, viewer);
    const nav = await page.locator('nav a').allTextContents();
    expect(nav).toContain('Members & invitations');
    for (const admin of ['API keys', 'Dead letters', 'Chat moderation', 'Security overview', 'Audit events']) expect(nav).not.toContain(admin);
    await open(page, 'members');
    expect(await page.locator('form.invite').count()).toBe(0);
    expect(await page.getByRole('button', { name: /Change role|Remove|End sessions/ }).count()).toBe(0);
    await open(page, 'roles');
    expect(await page.locator('form.new-role').count()).toBe(0);
    await page.screenshot({ path: `${SHOTS}/viewer-members.png`, fullPage: true });

    // Forced navigation shows nothing of the page.
    await page.goto(`${base}/console#/api-keys`);
    await expect(page.locator('.content .message.error').textContent()).resolves.toContain('do not have access');
    expect(await page.locator('form').count()).toBe(0);

    // Forced request from the page with the viewer's own credentials: the API refuses.
    const statuses = await page.evaluate(async (token) => {
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const invite = await fetch('/api/v1/invitations', { method: 'POST', headers, body: JSON.stringify({ email: 'x@example.com', role: 'admin' }) });
      const key = await fetch('/api/v1/api-keys', { method: 'POST', headers, body: JSON.stringify({ name: 'x', scopes: ['knowledge:read'] }) });
      return [invite.status, key.status];
    }, viewer.accessToken);
    expect(statuses).toEqual([403, 403]);
    await context.close();
  });

  it('renders an XSS payload in a member name, a knowledge title and a chat message as text', async () => {
    // Stored the way a member would: through the public API, with the viewer's own token.
    const named = await t.app.inject({ method: 'PATCH', url: '/api/v1/me', headers: bearer(viewer), payload: { displayName: XSS } });
    expect(named.statusCode, named.body).toBe(200);
    expect(json(named).user.displayName).toBe(XSS);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/knowledge', headers: bearer(owner), payload: { title: XSS, body: 'b' } })).statusCode).toBe(201);
    const room = json(await t.app.inject({ method: 'POST', url: '/api/v1/chat/rooms', headers: bearer(owner), payload: { kind: 'public', name: 'general' } }));
    const message = json(await t.app.inject({ method: 'POST', url: `/api/v1/chat/rooms/${room.id}/messages`, headers: bearer(owner), payload: { text: XSS } }));
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/chat/messages/${message.id}/reports`, headers: bearer(owner), payload: { reason: 'spam' } })).statusCode).toBe(201);

    const { page, dialogs } = ownerTab;
    for (const [id, cell] of [['members', 'td'], ['knowledge', '.knowledge-title'], ['chat-reports', '.message-text']] as const) {
      await open(page, id);
      const texts = await page.locator(`.content ${cell}`).allTextContents();
      expect(texts.some((s) => s.includes(XSS)), `${id} shows the payload as text`).toBe(true);
      expect(await page.locator('.content img, .content script, .content svg[onload]').count()).toBe(0);
      await page.screenshot({ path: `${SHOTS}/xss-${id}.png`, fullPage: true });
    }
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(dialogs).toEqual([]);
  });

  it('sets one\'s own display name on the account page; the members list shows it', async () => {
    const { page } = ownerTab;
    await open(page, 'sessions');
    await page.fill('form.display-name input[name=displayName]', 'Console Owner');
    await page.click('form.display-name button[type=submit]');
    await expect(page.locator('form.display-name .message.ok').textContent()).resolves.toContain('Name saved: Console Owner');
    // A control character is refused by the API, shown as its problem, and changes nothing.
    await page.fill('form.display-name input[name=displayName]', 'bad\u202ename');
    await page.click('form.display-name button[type=submit]');
    await expect(page.locator('form.display-name .message.error').textContent()).resolves.toMatch(/400|bidirectional/);
    await open(page, 'members');
    await page.getByRole('cell', { name: 'Console Owner', exact: true }).waitFor();
  });

  it('serves the console with the strict CSP, which blocks an injected inline script', async () => {
    const res = await fetch(`${base}/console`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toBe(CONSOLE_CSP);
    for (const d of ["script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) expect(csp).toContain(d);
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect((await fetch(`${base}/console/assets/..%2f..%2fpackage.json`)).status).toBe(400);
    expect((await fetch(`${base}/console/assets/nothing.js`)).status).toBe(404);

    const { context, page } = await tab();
    const violations: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
    // The page as served (same headers), with an inline script injected into its markup.
    await page.route(`${base}/console`, async (route) => {
      const served = await route.fetch();
      const body = (await served.text()).replace('<div id="app"></div>', '<div id="app"></div><script>window.__inline = 1</script><div id="marker" onclick="window.__inline = 2"></div>');
      await route.fulfill({ response: served, body });
    });
    await page.goto(`${base}/console`);
    await page.locator('form.sign-in').waitFor();
    await page.click('#marker', { force: true }).catch(() => {});
    // And one added at run time, as a DOM-based injection would.
    const runtime = await page.evaluate(() => {
      try {
        const s = document.createElement('script');
        s.textContent = 'window.__inline = 3';
        document.body.append(s);
        return 'appended';
      } catch (e) {
        return (e as Error).name;
      }
    });
    expect(await page.evaluate(() => (window as unknown as { __inline?: number }).__inline)).toBeUndefined();
    expect(['appended', 'TypeError']).toContain(runtime);
    expect(violations.length).toBeGreaterThan(0);
    await page.screenshot({ path: `${SHOTS}/sign-in.png` });
    await context.close();
  });

  it('opens every page the owner may see without an error (a screenshot of each)', async () => {
    const { page } = ownerTab;
    const ids = (await page.locator('nav a').evaluateAll((links) => links.map((a) => (a as HTMLAnchorElement).hash.replace('#/', ''))));
    expect(ids.length).toBeGreaterThanOrEqual(15);
    const failed: string[] = [];
    for (const id of ids) {
      await open(page, id);
      const errors = await page.locator('.content .message.error').allTextContents();
      if (errors.length > 0) failed.push(`${id}: ${errors.join(' | ')}`);
      await page.screenshot({ path: `${SHOTS}/page-${id}.png`, fullPage: true });
    }
    expect(failed).toEqual([]);
  });

  it('asks for a fresh second factor when the API wants a step-up, then shows the new API key once', async () => {
    const { page } = ownerTab;
    // The sign-in's proof of the factor is made an hour old, so API-key creation needs a step-up.
    const ids = await withOwner(t.platform.db, (tx) => tx.query<{ id: string }>(sql`
      UPDATE sessions SET mfa_at = now() - interval '1 hour' WHERE user_id = ${owner.userId} AND revoked_at IS NULL RETURNING id`));
    for (const { id } of ids) t.app.forgetSession(id);
    await open(page, 'api-keys');
    await page.fill('input[name=name]', 'n8n');
    await page.check('input[name=scopes][value="knowledge:read"]');
    await page.click('.content form button[type=submit]');
    await page.locator('dialog.step-up input[name=code]').waitFor().catch(async (e) => {
      throw new Error(`no step-up prompt; page says: ${await page.locator('.content').textContent()}; ${ids.length} sessions`, { cause: e });
    });
    await page.screenshot({ path: `${SHOTS}/step-up.png` });
    await page.fill('dialog.step-up input[name=code]', await totpCode(owner));
    await page.click('dialog.step-up button[type=submit]');
    const secret = (await page.locator('.api-key-secret').textContent())!;
    expect(secret).toMatch(/^ocs_ak_/);
    await page.screenshot({ path: `${SHOTS}/api-keys.png`, fullPage: true });
    // Shown once: the list (and the page opened again) never holds it.
    await open(page, 'api-keys');
    await page.getByRole('cell', { name: 'n8n', exact: true }).waitFor();
    expect(await page.locator('body').textContent()).not.toContain(secret);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/knowledge', headers: { authorization: `Bearer ${secret}` } })).statusCode).toBe(200);
  });

  it('signs out after the idle timeout', async () => {
    const { context, page } = await tab();
    await page.clock.install();
    await signIn(page, viewer);
    await page.clock.fastForward('16:00');
    await expect(page.locator('form.sign-in .message').textContent()).resolves.toContain('without activity');
    expect(await page.locator('header .who').count()).toBe(0);
    await context.close();
  });

  it('signs out: the session ends on the server and the cookie is expired', async () => {
    const { context, page } = ownerTab;
    await open(page, 'sessions');
    await page.screenshot({ path: `${SHOTS}/sessions.png`, fullPage: true });
    const [cookie] = (await context.cookies()).filter((c) => c.name === REFRESH_COOKIE);
    await page.click('button.sign-out');
    await page.locator('form.sign-in').waitFor();
    expect((await context.cookies()).filter((c) => c.name === REFRESH_COOKIE)).toEqual([]);
    // The old cookie value, replayed from the console's origin, no longer refreshes.
    const replay = await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', headers: { cookie: `${REFRESH_COOKIE}=${cookie!.value}`, 'x-ocsuite-refresh': 'cookie', origin: base, host: new URL(base).host }, payload: {} });
    expect(replay.statusCode).toBe(401);
    await context.close();
  });
});
