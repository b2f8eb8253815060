/**
 * Minimal inline-SVG charts for the calibration report: scatter points with
 * error bars, fitted curves, vertical markers and bars, linear or log axes.
 * No external resources: the output is a string to paste into HTML.
 *
 * Every data marker carries class "data", every curve class "fit", so a test
 * (or a reader's tools) can count what was drawn.
 */

export interface PlotPoint {
  x: number;
  y: number;
  /** One standard deviation, drawn as an error bar. */
  err?: number;
}

export interface Series {
  name: string;
  kind: 'points' | 'line' | 'bars';
  points: readonly PlotPoint[];
  color: string;
}

export interface Marker {
  x: number;
  label: string;
  color?: string;
}

export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  markers?: readonly Marker[];
  /** Horizontal reference lines. */
  hlines?: readonly { y: number; label: string; color?: string }[];
  logY?: boolean;
  width?: number;
  height?: number;
  /** Force the y range (e.g. to include 0). */
  yMin?: number;
  yMax?: number;
  /** Category labels for bar charts: x = index. */
  categories?: readonly string[];
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** "Nice" tick values covering [lo, hi] (Heckbert, Graphics Gems I, "Nice numbers for graph labels"). */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const nice = (x: number, round: boolean) => {
    const e = Math.floor(Math.log10(x));
    const f = x / 10 ** e;
    const nf = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * 10 ** e;
  };
  const step = nice(nice(hi - lo, false) / (count - 1), true);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0);
  return Number(v.toPrecision(4)).toString();
}

export function renderPlot(spec: PlotSpec): string {
  const width = spec.width ?? 560;
  const height = spec.height ?? 340;
  const m = { left: 70, right: 20, top: 34, bottom: 48 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const all = spec.series.flatMap((s) => s.points);
  const finite = all.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!spec.logY || p.y > 0));
  const xs = finite.map((p) => p.x).concat((spec.markers ?? []).map((mk) => mk.x));
  const ys = finite
    .flatMap((p) => (p.err ? [p.y - p.err, p.y + p.err] : [p.y]))
    .concat((spec.hlines ?? []).map((h) => h.y));
  const ty = (y: number) => (spec.logY ? Math.log10(Math.max(y, 1e-300)) : y);
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (spec.categories) {
    xMin = -0.5;
    xMax = spec.categories.length - 0.5;
  }
  if (!(xMax > xMin)) {
    xMin -= 1;
    xMax += 1;
  }
  let yLo = spec.yMin !== undefined ? ty(spec.yMin) : Math.min(...ys.filter((y) => !spec.logY || y > 0).map(ty));
  let yHi = spec.yMax !== undefined ? ty(spec.yMax) : Math.max(...ys.filter((y) => !spec.logY || y > 0).map(ty));
  if (!(yHi > yLo)) {
    yLo -= 1;
    yHi += 1;
  }
  const pad = (yHi - yLo) * 0.05;
  if (spec.yMin === undefined) yLo -= pad;
  if (spec.yMax === undefined) yHi += pad;
  const sx = (x: number) => m.left + ((x - xMin) / (xMax - xMin)) * pw;
  const sy = (y: number) => m.top + ph - ((ty(y) - yLo) / (yHi - yLo)) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(spec.title)}">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  out.push(
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(spec.title)}</text>`,
  );
  // Axes and ticks.
  out.push(
    `<g class="axes" stroke="#444" fill="none"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></g>`,
  );
  const xt = spec.categories ? spec.categories.map((_, i) => i) : niceTicks(xMin, xMax);
  for (const t of xt) {
    const x = sx(t);
    const label = spec.categories ? spec.categories[t]! : fmt(t);
    out.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}" stroke="#444"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle" font-size="11">${escapeXml(label)}</text>`);
  }
  const ytVals = spec.logY
    ? niceTicks(Math.ceil(yLo), Math.floor(yHi), 6)
        .filter((v) => Number.isInteger(v))
        .map((e) => 10 ** e)
    : niceTicks(yLo, yHi);
  for (const t of ytVals) {
    const y = sy(t);
    if (y < m.top - 0.5 || y > m.top + ph + 0.5) continue;
    out.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left}" y2="${y}" stroke="#444"/>`);
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${m.left - 8}" y="${y + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`);
  }
  out.push(
    `<text x="${m.left + pw / 2}" y="${height - 8}" text-anchor="middle" font-size="12">${escapeXml(spec.xLabel)}</text>`,
  );
  out.push(
    `<text x="14" y="${m.top + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${m.top + ph / 2})">${escapeXml(spec.yLabel)}</text>`,
  );
  out.push(
    `<clipPath id="c${Math.abs(hash(spec.title))}"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath>`,
  );
  out.push(`<g clip-path="url(#c${Math.abs(hash(spec.title))})">`);
  for (const h of spec.hlines ?? []) {
    const y = sy(h.y);
    out.push(
      `<line class="ref" x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="${h.color ?? '#888'}" stroke-dasharray="6 4"/>`,
    );
    out.push(
      `<text x="${m.left + pw - 4}" y="${y - 4}" text-anchor="end" font-size="11" fill="${h.color ?? '#666'}">${escapeXml(h.label)}</text>`,
    );
  }
  for (const mk of spec.markers ?? []) {
    const x = sx(mk.x);
    out.push(
      `<line class="marker" x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="${mk.color ?? '#555'}" stroke-dasharray="3 3"/>`,
    );
    out.push(
      `<text x="${x + 4}" y="${m.top + 12}" font-size="11" fill="${mk.color ?? '#555'}">${escapeXml(mk.label)}</text>`,
    );
  }
  for (const s of spec.series) {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!spec.logY || p.y > 0));
    if (s.kind === 'line') {
      if (pts.length < 2) continue;
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join('');
      out.push(`<path class="fit" d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    } else if (s.kind === 'bars') {
      for (const p of pts) {
        const x = sx(p.x);
        const y0 = sy(spec.yMin ?? 0);
        const y = sy(p.y);
        out.push(
          `<rect class="data" x="${x - 30}" y="${Math.min(y, y0)}" width="60" height="${Math.max(1, Math.abs(y0 - y))}" fill="${s.color}" opacity="0.8"/>`,
        );
        if (p.err)
          out.push(
            `<line x1="${x}" y1="${sy(p.y - p.err)}" x2="${x}" y2="${sy(p.y + p.err)}" stroke="#000" stroke-width="1.5"/>`,
          );
        out.push(`<text x="${x}" y="${Math.min(y, y0) - 4}" text-anchor="middle" font-size="11">${fmt(p.y)}</text>`);
      }
    } else {
      for (const p of pts) {
        const x = sx(p.x);
        const y = sy(p.y);
        if (p.err) {
          const lo = spec.logY ? Math.max(p.y - p.err, p.y / 10) : p.y - p.err;
          out.push(
            `<line x1="${x.toFixed(1)}" y1="${sy(lo).toFixed(1)}" x2="${x.toFixed(1)}" y2="${sy(p.y + p.err).toFixed(1)}" stroke="${s.color}" stroke-width="1"/>`,
          );
        }
        out.push(`<circle class="data" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${s.color}"/>`);
      }
    }
  }
  out.push('</g>');
  // Legend.
  spec.series.forEach((s, i) => {
    const y = m.top + 14 + i * 15;
    const x = m.left + 10;
    out.push(
      s.kind === 'line'
        ? `<line x1="${x}" y1="${y - 4}" x2="${x + 16}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"/>`
        : `<circle cx="${x + 8}" cy="${y - 4}" r="3" fill="${s.color}"/>`,
    );
    out.push(`<text x="${x + 22}" y="${y}" font-size="11">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** Samples f over [lo, hi] for a fitted curve. */
export function sampleCurve(f: (x: number) => number, lo: number, hi: number, n = 200): PlotPoint[] {
  return Array.from({ length: n }, (_, i) => {
    const x = lo + ((hi - lo) * i) / (n - 1);
    return { x, y: f(x) };
  });
}
