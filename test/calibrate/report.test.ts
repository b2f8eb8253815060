/**
 * The HTML report: self-contained (no scripts, no external resources), and it
 * renders in headless Chromium with every plot present: the test counts SVG
 * plots, data markers and fitted curves with non-empty bounding boxes, and
 * checks the screenshot is not blank (its pixels read back through a canvas).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { calibrate } from '../../src/calibrate/procedure.ts';
import { makePlan } from '../../src/calibrate/plan.ts';
import { renderReport } from '../../src/calibrate/report.ts';
import { niceTicks, renderPlot } from '../../src/plot/svg.ts';
import type { CalibrationProfile } from '../../src/calibrate/profile.ts';
import { openSimulated } from './sim.ts';
import { CHROMIUM, findOverlaps, launchChromium, type Chromium } from '../plot/layout.ts';

function byTitleOf<T extends { title: string | null }>(plots: T[], re: RegExp): T {
  return plots.find((p) => re.test(p.title ?? ''))!;
}
const haveChromium = existsSync(CHROMIUM);
let profile: CalibrationProfile;
let html: string;

beforeAll(async () => {
  const s = await openSimulated({ seed: 71, calibrated: false });
  profile = await calibrate(s.device, { plan: makePlan('quick'), save: true });
  await s.device.close();
  html = renderReport(profile);
});

describe('report HTML', () => {
  it('is self-contained: no scripts, no links, no external URLs', () => {
    expect(html).not.toMatch(/<script|<link|<img|<iframe/i);
    expect(html).not.toMatch(/(?:src|href)\s*=/i);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html.match(/url\(([^)]*)\)/g)?.every((u) => u.startsWith('url(#'))).toBe(true);
  });

  it('names the device, the outcome and the fitted values', () => {
    expect(html).toContain(profile.device.serial);
    expect(html).toContain('saved: S');
    expect(html).toContain(profile.estimates.rotDeg.value.toFixed(3));
    expect(html).toContain(profile.estimates.pathDelayPs.value.toFixed(1));
  });

  it('plots escape text and choose round ticks', () => {
    const svg = renderPlot({
      title: 'a < b & c',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        {
          name: '"q"',
          kind: 'points',
          color: '#000',
          points: [
            { x: 0, y: 1 },
            { x: 1, y: 2 },
          ],
        },
      ],
    });
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg).toContain('&quot;q&quot;');
    // Heckbert's nice numbers: steps of 1, 2 or 5 times a power of ten.
    for (const [i, t] of niceTicks(0, 1, 6).entries()) expect(t).toBeCloseTo(0.2 * i, 12);
    expect(niceTicks(24000, 36000, 6)).toEqual([25000, 30000, 35000]);
    expect(niceTicks(-3100, -2500, 6)).toEqual([-3000, -2800, -2600]);
  });
});

let browser: Chromium | undefined;
let context: BrowserContext;
beforeAll(async () => {
  if (!haveChromium) return;
  browser = await launchChromium({ width: 1250, height: 1000 });
  context = browser.context;
});
afterAll(async () => browser?.close());

describe.skipIf(!haveChromium)(`report in headless Chromium (${CHROMIUM})`, () => {
  it('renders every plot with data, and the screenshot is not blank', async () => {
    const page = await context.newPage();
    // Any request would be an external resource: fail the test if one is made.
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.setContent(html, { waitUntil: 'load' });
    const plots = await page.$$eval('svg.plot', (svgs) =>
      svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        const visible = (sel: string) =>
          [...svg.querySelectorAll(sel)].filter((el) => {
            const b = (el as unknown as { getBBox(): { width: number; height: number } }).getBBox();
            return b.width > 0 || b.height > 0;
          }).length;
        return {
          title: svg.getAttribute('aria-label'),
          width: box.width,
          height: box.height,
          data: visible('.data'),
          fits: visible('path.fit'),
        };
      }),
    );
    const titles = plots.map((p) => p.title ?? '');
    for (const want of [
      /^CHSH S/,
      /^Detector efficiency/,
      /^Dark counts/,
      /^Model S vs each bias/,
      /^Model S vs window/,
      /^Rabi curve/,
      /^Delay scan/,
      /^Coarse delay scan/,
      /^Fringes/,
    ]) {
      expect(
        titles.some((t) => want.test(t)),
        String(want),
      ).toBe(true);
    }
    expect(plots).toHaveLength(9);
    for (const p of plots) {
      expect(p.width, p.title!).toBeGreaterThan(100);
      expect(p.height, p.title!).toBeGreaterThan(100);
      // Measurement plots show their data points; the model plots their curves.
      if (/^Model S/.test(p.title!)) expect(p.fits, p.title!).toBeGreaterThanOrEqual(1);
      else expect(p.data, p.title!).toBeGreaterThanOrEqual(3);
    }
    expect(byTitleOf(plots, /^Model S vs each bias/).fits).toBe(4);
    const byTitle = (re: RegExp) => byTitleOf(plots, re);
    expect(byTitle(/^Detector efficiency/).fits).toBe(4);
    expect(byTitle(/^Dark counts/).fits).toBe(4);
    expect(byTitle(/^Rabi curve/).fits).toBe(1);
    expect(byTitle(/^Delay scan/).fits).toBe(1);
    expect(byTitle(/^Fringes/).fits).toBe(2);
    expect(byTitle(/^Fringes/).data).toBe(profile.steps.fringes.points.length);
    expect(byTitle(/^CHSH S/).data).toBe(3);

    const png = await page.screenshot({ fullPage: true });
    expect(png.length).toBeGreaterThan(10_000);
    // Read the screenshot's pixels back: a blank page is one colour.
    const stats = await screenshotStats(page, png);
    expect(stats.width).toBe(1250);
    expect(stats.height).toBeGreaterThan(2000);
    expect(stats.dark / stats.total).toBeGreaterThan(0.002);
    expect(stats.coloured / stats.total).toBeGreaterThan(0.005);
    expect(requests.filter((u) => !u.startsWith('data:') && u !== 'about:blank')).toEqual([]);
    await page.close();
  });
});

describe.skipIf(!haveChromium)('report layout', () => {
  it('no text overlaps the data, a legend swatch or another text in any of the 9 plots (bounding boxes)', async () => {
    const page = await context.newPage();
    await page.setContent(html, { waitUntil: 'load' });
    // EPQRNG_SCREENSHOTS=DIR keeps the screenshot, for a person to look at.
    const shots = process.env.EPQRNG_SCREENSHOTS;
    if (shots) {
      await page.screenshot({ path: join(shots, 'report.png'), fullPage: true });
      const svgs = await page.$$('svg.plot');
      for (const [i, el] of svgs.entries()) await el.screenshot({ path: join(shots, `report-plot-${i}.png`) });
    }
    expect(await findOverlaps(page)).toEqual([]);
    await page.close();
  });
});

/** Reads a screenshot's pixels back in the page: its size, and how many are dark and how many coloured. */
function screenshotStats(page: Page, png: Buffer) {
  return page.evaluate(async (b64) => {
    // Browser globals (this function runs in the page; the test's TypeScript has no DOM lib).
    const { Image, document } = globalThis as unknown as {
      Image: new () => { src: string; width: number; height: number; decode(): Promise<void> };
      document: {
        createElement(tag: 'canvas'): {
          width: number;
          height: number;
          getContext(k: '2d'): {
            drawImage(i: unknown, x: number, y: number): void;
            getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
          } | null;
        };
      };
    };
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, img.width, img.height).data;
    let dark = 0;
    let coloured = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i]! + d[i + 1]! + d[i + 2]! < 384) dark++;
      if (Math.max(d[i]!, d[i + 1]!, d[i + 2]!) - Math.min(d[i]!, d[i + 1]!, d[i + 2]!) > 60) coloured++;
    }
    return { width: img.width, height: img.height, dark, coloured, total: d.length / 4 };
  }, png.toString('base64'));
}
