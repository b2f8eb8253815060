/**
 * The layout check shared by the calibration report and the dashboard tests:
 * in a rendered page, for every `svg.plot`, no text (`.label`) overlaps the
 * data (`.data` markers and bars, `.err` error bars, points along each `path.fit` curve, legend
 * swatches) or another text, all as the browser lays them out (bounding
 * boxes in screen coordinates). Data hidden by the plot's clip (outside the
 * frame) does not count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export interface Overlap {
  plot: string;
  label: string;
  other: string;
}

/** Runs in the page: returns every overlap found. */
export function findOverlaps(page: Page): Promise<Overlap[]> {
  return page.evaluate(IN_PAGE) as Promise<Overlap[]>;
}

/** The check as plain JavaScript run in the page (the tests' TypeScript has no DOM types). */
const IN_PAGE = `(() => {
    const overlaps = [];
    const box = (el, what) => {
      const r = el.getBoundingClientRect();
      return { x: r.left, y: r.top, w: r.width, h: r.height, what };
    };
    // Half a pixel of slack: anti-aliased edges that merely touch are not an overlap.
    const hit = (a, b) =>
      a.x + 0.5 < b.x + b.w && b.x + 0.5 < a.x + a.w && a.y + 0.5 < b.y + b.h && b.y + 0.5 < a.y + a.h;
    for (const svg of document.querySelectorAll('svg.plot')) {
      const plot = svg.getAttribute('aria-label') ?? '?';
      const frameEl = svg.querySelector('.axes rect');
      const frame = frameEl ? box(frameEl, 'frame') : null;
      const inFrame = (b) => !frame || hit(b, frame);
      const labels = [...svg.querySelectorAll('text')]
        .map((t) => box(t, \`text '\${t.textContent}'\`))
        .filter((b) => b.w > 0 && b.h > 0);
      const data = [...svg.querySelectorAll('.data, .err, .legend-key')]
        .map((el) => box(el, \`\${el.tagName} \${el.getAttribute('class')}\`))
        .filter((b) => (b.what.includes('legend-key') ? true : inFrame(b)));
      const ctm = svg.getScreenCTM();
      for (const path of svg.querySelectorAll('path.fit')) {
        const p = path;
        const len = p.getTotalLength();
        for (let i = 0; i <= 400; i++) {
          const pt = p.getPointAtLength((len * i) / 400);
          const sp = ctm ? new DOMPoint(pt.x, pt.y).matrixTransform(ctm) : pt;
          const b = { x: sp.x - 1, y: sp.y - 1, w: 2, h: 2, what: 'curve' };
          if (inFrame(b)) data.push(b);
        }
      }
      labels.forEach((l, i) => {
        for (const d of data) if (hit(l, d)) overlaps.push({ plot, label: l.what, other: d.what });
        for (const m of labels.slice(i + 1)) if (hit(l, m)) overlaps.push({ plot, label: l.what, other: m.what });
      });
    }
    return overlaps;
})()`;

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless Chromium with the project's flags, in a throw-away profile. */
export async function launchChromium(viewport: { width: number; height: number }): Promise<Chromium> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'epq-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
