/**
 * The dashboard in headless Chromium: the page loads with no request
 * leaving the service (self-contained: no CDN), its numbers change as
 * blocks arrive over /events without a reload, its plots appear, and the
 * layout check (test/plot/layout.ts, the same as the calibration report's)
 * finds no text over data or other text.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, findOverlaps, launchChromium, type Chromium } from '../plot/layout.ts';
import { startHarness, until, type Harness } from './harness.ts';
import { dashboardHtml } from '../../src/serve/dashboard.ts';

describe('the dashboard page', () => {
  it('is self-contained: no external URL, script or stylesheet link', () => {
    const html = dashboardHtml();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<link|<script\s+src|<img|<iframe/i);
  });
});

describe.skipIf(!existsSync(CHROMIUM))(`the dashboard in headless Chromium (${CHROMIUM})`, () => {
  let h: Harness;
  let browser: Chromium;
  let context: BrowserContext;
  beforeAll(async () => {
    h = await startHarness({ seed: 51, idle: true, poolBytes: 1 << 20, listen: { keepAliveMs: 500 } });
    browser = await launchChromium({ width: 1150, height: 1000 });
    context = browser.context;
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('loads, updates its numbers and plots from /events as blocks arrive, and no text overlaps', async () => {
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${h.url}/`, { waitUntil: 'load' });
    const read = () =>
      page.evaluate(`({ blocks: document.getElementById('blocks').textContent,
        trials: document.getElementById('trials').textContent, s: document.getElementById('s').textContent,
        state: document.getElementById('state').textContent, certs: document.querySelectorAll('#certs a').length })`) as Promise<{
        blocks: string;
        trials: string;
        s: string;
        state: string;
        certs: number;
      }>;
    await page.waitForFunction(`document.getElementById('state').textContent === 'starting'`, undefined, {
      timeout: 30_000,
    });
    const before = await read();
    expect(before).toMatchObject({ blocks: '0', trials: '0', s: '-' });
    h.service.start();
    await until(() => h.service.counters.blocksCertified >= 3, 120_000, 'three blocks');
    // Also serve some bytes, so the pool plot has both curves moving.
    await fetch(`${h.url}/random?bytes=5000`);
    await page.waitForFunction(`Number(document.getElementById('blocks').textContent) >= 3`, undefined, {
      timeout: 30_000,
    });
    const after = await read();
    expect(Number(after.trials)).toBeGreaterThan(0);
    expect(Number(after.s)).toBeGreaterThan(2);
    expect(after.certs).toBeGreaterThanOrEqual(3);
    await page.waitForFunction(`document.querySelectorAll('svg.plot circle.data').length >= 6`, undefined, {
      timeout: 30_000,
    });
    expect(await page.locator('svg.plot').count()).toBe(2);
    const shots = process.env.EPQRNG_SCREENSHOTS;
    if (shots) await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
    expect(await findOverlaps(page)).toEqual([]);
    // Everything came from the service itself.
    expect(requests.filter((u) => !u.startsWith(h.url))).toEqual([]);
    // A certificate link resolves to its line.
    const href = await page.locator('#certs a').first().getAttribute('href');
    const line = await (await fetch(new URL(href!, `${h.url}/`))).json();
    expect(line).toHaveProperty('extraction.outputSha256');
    await page.close();
  }, 240_000);

  it('behind --token: the login form, then the dashboard live over a session cookie; the token in no URL', async () => {
    const token = 'dashboard-token-0123456789abcdef';
    const t = await startHarness({ seed: 52, poolBytes: 1 << 20, listen: { token, keepAliveMs: 500 } });
    const page = await context.newPage();
    try {
      const urls: string[] = [];
      page.on('request', (r) => urls.push(r.url()));
      await page.goto(`${t.url}/`, { waitUntil: 'load' });
      await page.fill('#token', token);
      await Promise.all([page.waitForURL(`${t.url}/`, { waitUntil: 'load' }), page.click('#sign-in')]);
      // The dashboard, live: its block count rises from /events (EventSource sends the cookie).
      await page.waitForFunction(`document.getElementById('state') !== null`, undefined, { timeout: 30_000 });
      const blocks = () => page.evaluate(`Number(document.getElementById('blocks').textContent)`) as Promise<number>;
      const seen = await blocks();
      await page.waitForFunction(`Number(document.getElementById('blocks').textContent) > ${seen}`, undefined, {
        timeout: 120_000,
      });
      await page.waitForFunction(`document.querySelectorAll('svg.plot').length === 2`, undefined, { timeout: 30_000 });
      const cookies = await context.cookies(t.url);
      expect(cookies).toHaveLength(1);
      expect(cookies[0]).toMatchObject({ name: 'epqrng_session', httpOnly: true, sameSite: 'Strict' });
      expect(cookies[0]!.value).not.toContain(token);
      expect(await page.evaluate('document.cookie')).toBe(''); // no script can read the session
      expect(urls.filter((u) => u.includes(token))).toEqual([]);
      expect(urls.filter((u) => !u.startsWith(t.url))).toEqual([]);
    } finally {
      await page.close();
      await context.clearCookies();
      await t.close();
    }
  }, 240_000);
});
