/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { api, createRoom, postMessage } from './support.ts';
import { xssVectors } from './xss-vectors.ts';

/**
 * The XSS corpus (test/chat/xss-vectors.ts) posted as chat messages, read back
 * from history as a client would, and rendered in Debian's Chromium twice: as
 * the page's own markup and inserted with innerHTML. Every element then gets
 * the events the vectors listen for. Nothing may run: no dialog, no
 * navigation, no request to the beacon server.
 */
let t: TestApp;
let browser: Browser;
let beacon: Server;
let beaconUrl: string;
const hits: string[] = [];

beforeAll(async () => {
  beacon = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  await new Promise<void>((resolve) => beacon.listen(0, '127.0.0.1', resolve));
  beaconUrl = `http://127.0.0.1:${(beacon.address() as AddressInfo).port}/beacon`;
  t = await startApp();
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await t?.close();
  await new Promise((resolve) => beacon?.close(resolve));
});

describe('the XSS corpus in a browser', () => {
  it('holds at least 100 vectors', () => {
    expect(xssVectors.length).toBeGreaterThanOrEqual(100);
  });

  it('catches a vector that does run (the harness is not blind)', async () => {
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const before = hits.length;
    await page.setContent(`<div><img src=x onerror="alert('raw')"><img src="${beaconUrl}?raw"></div>`);
    await page.waitForTimeout(500);
    await page.close();
    expect(dialogs).toEqual(['raw']);
    expect(hits.length).toBeGreaterThan(before);
    hits.length = before;
  });

  it('executes nothing: no dialog, no navigation, no beacon request', async () => {
    const owner = await signup(t.app, 'XSS');
    const room = await createRoom(t.app, owner, { kind: 'public', name: 'xss' });
    // The flood limit allows a burst of 10 per user: the corpus is posted by as many members as it takes.
    const posters: Account[] = [];
    for (let i = 0; i < Math.ceil(xssVectors.length / 10); i++) posters.push(await addMember(t.app, owner, 'member'));
    const vectors = xssVectors.map((v) => v.replaceAll('BEACON', beaconUrl));
    for (const [i, text] of vectors.entries()) await postMessage(t.app, posters[Math.floor(i / 10)]!, room.id, text);

    const html: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Array<{ html: string; text: string }>; nextCursor: string | null } =
        json(await api(t.app, owner, 'GET', `/rooms/${room.id}/messages?limit=100${cursor ? `&cursor=${cursor}` : ''}`));
      html.push(...page.items.map((m) => m.html));
      cursor = page.nextCursor;
    } while (cursor);
    expect(html.length).toBe(vectors.length);

    const page = await browser.newPage();
    const dialogs: string[] = [];
    const navigations: string[] = [];
    const requests: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('request', (r) => requests.push(r.url()));
    await page.setContent(`<!doctype html><html><head><meta charset="utf-8"></head><body><div id="server">${html.map((h) => `<div class="m">${h}</div>`).join('\n')}</div><div id="client"></div></body></html>`);
    page.on('framenavigated', (f) => navigations.push(f.url()));
    await page.evaluate((list) => {
      const client = document.getElementById('client')!;
      for (const h of list) {
        const d = document.createElement('div');
        d.innerHTML = h;
        client.appendChild(d);
      }
      for (const el of document.querySelectorAll('*')) {
        for (const type of ['mouseover', 'mouseenter', 'pointerenter', 'focus', 'load', 'error', 'animationstart', 'toggle', 'begin']) el.dispatchEvent(new Event(type));
      }
    }, html);
    // Real pointer movement over every rendered element too (hover handlers are what a reader triggers).
    for (const box of await page.locator('.m > *').all()) await box.hover({ timeout: 500, force: true }).catch(() => {});
    await page.waitForTimeout(1_000);

    const dom = await page.evaluate(() => {
      const all = [...document.querySelectorAll('#server *, #client *')];
      return {
        tags: [...new Set(all.map((el) => el.tagName.toLowerCase()))].sort(),
        handlers: all.flatMap((el) => [...el.attributes].filter((a) => a.name.toLowerCase().startsWith('on')).map((a) => `${el.tagName} ${a.name}`)),
        hrefs: all.filter((el) => el.hasAttribute('href')).map((el) => el.getAttribute('href')!),
        rels: all.filter((el) => el.tagName === 'A').map((el) => el.getAttribute('rel')),
      };
    });
    await page.close();

    expect(dialogs, 'dialogs').toEqual([]);
    expect(navigations, 'navigations').toEqual([]);
    expect(hits, 'beacon requests').toEqual([]);
    expect(requests.filter((u) => !u.startsWith('data:')), 'requests').toEqual([]);
    expect(dom.handlers).toEqual([]);
    for (const tag of dom.tags) expect(['a', 'blockquote', 'br', 'code', 'div', 'em', 'li', 'ol', 'p', 'pre', 's', 'strong', 'ul']).toContain(tag);
    for (const href of dom.hrefs) expect(href).toMatch(/^(https?:\/\/|mailto:)/i);
    for (const rel of dom.rels) expect(rel).toBe('noopener nofollow ugc');
  }, 240_000);
});
