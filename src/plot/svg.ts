/**
 * Minimal inline-SVG charts shared by the calibration report and the serve
 * dashboard: scatter points with error bars, fitted curves, vertical
 * markers, horizontal reference lines and bars, linear or log axes. No
 * external resources: the output is a string to paste into HTML.
 *
 * Layout rule: no text over the data or over other text. Inside the plot
 * frame there is only data (and bar value labels above their bars); the
 * legend goes below the x-axis title, in rows; marker labels go in a band
 * above the frame (a second row when two would touch); reference-line
 * labels go in the right margin, spread apart vertically. The x range is
 * padded so a marker at the extreme x stays inside the frame.
 *
 * Classes, for tests and readers' tools: every data marker "data", every
 * curve "fit", every error bar "err", every text "label", every legend
 * swatch "legend-key".
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
  /** Height of the plot frame plus axes (the legend rows add to it). */
  height?: number;
  /** Force the y range (e.g. to include 0). */
  yMin?: number;
  yMax?: number;
  /** Category labels for bar charts: x = index. */
  categories?: readonly string[];
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];

/** The CHSH reference lines of every S plot: the local (classical) bound 2 and Tsirelson's bound 2 sqrt 2. */
export const CHSH_BOUNDS = [
  { y: 2, label: 'local bound 2', color: '#d62728' },
  { y: 2 * Math.SQRT2, label: 'Tsirelson 2.83', color: '#2ca02c' },
] as const;

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

/** A generous width estimate of sans-serif text (0.62 em per character), for layout before the browser measures. */
export function textWidth(s: string, fontSize: number): number {
  return s.length * fontSize * 0.62;
}

const FONT = 11;
const ROW = 15;

interface Frame {
  left: number;
  top: number;
  width: number;
  height: number;
}

interface Scales {
  sx: (x: number) => number;
  sy: (y: number) => number;
  xMin: number;
  xMax: number;
  yLo: number;
  yHi: number;
}

function finitePoints(spec: PlotSpec, pts: readonly PlotPoint[]): PlotPoint[] {
  return pts.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!spec.logY || p.y > 0));
}

/** Data ranges (x padded by 3% each side so nothing sits on the frame), in the frame's coordinates. */
function scales(spec: PlotSpec, f: Frame): Scales {
  const finite = finitePoints(
    spec,
    spec.series.flatMap((s) => s.points),
  );
  const xs = finite.map((p) => p.x).concat((spec.markers ?? []).map((mk) => mk.x));
  const ys = finite
    .flatMap((p) => (p.err ? [p.y - p.err, p.y + p.err] : [p.y]))
    .concat((spec.hlines ?? []).map((h) => h.y));
  const ty = (y: number) => (spec.logY ? Math.log10(Math.max(y, 1e-300)) : y);
  let xMin = xs.length ? Math.min(...xs) : 0;
  let xMax = xs.length ? Math.max(...xs) : 1;
  if (!(xMax > xMin)) {
    xMin -= 1;
    xMax += 1;
  }
  const xPad = (xMax - xMin) * 0.03;
  xMin -= xPad;
  xMax += xPad;
  if (spec.categories) {
    xMin = -0.5;
    xMax = spec.categories.length - 0.5;
  }
  const yv = ys.filter((y) => !spec.logY || y > 0).map(ty);
  let yLo = spec.yMin !== undefined ? ty(spec.yMin) : yv.length ? Math.min(...yv) : 0;
  let yHi = spec.yMax !== undefined ? ty(spec.yMax) : yv.length ? Math.max(...yv) : 1;
  if (!(yHi > yLo)) {
    yLo -= 1;
    yHi += 1;
  }
  const pad = (yHi - yLo) * 0.05;
  if (spec.yMin === undefined) yLo -= pad;
  if (spec.yMax === undefined) yHi += pad;
  return {
    sx: (x) => f.left + ((x - xMin) / (xMax - xMin)) * f.width,
    sy: (y) => f.top + f.height - ((ty(y) - yLo) / (yHi - yLo)) * f.height,
    xMin,
    xMax,
    yLo,
    yHi,
  };
}

/** Places labels centred at xs in rows so that none touches another; returns each label's row. */
function rowsFor(items: readonly { x: number; width: number }[]): number[] {
  const rowEnds: number[] = [];
  const order = items.map((_, i) => i).sort((a, b) => items[a]!.x - items[b]!.x);
  const rows = new Array<number>(items.length).fill(0);
  for (const i of order) {
    const it = items[i]!;
    let r = rowEnds.findIndex((end) => end + 6 <= it.x);
    if (r < 0) r = rowEnds.push(-Infinity) - 1;
    rows[i] = r;
    rowEnds[r] = it.x + it.width;
  }
  return rows;
}

/** Legend entries flowed into rows of the given width: each entry's offset and row. */
function legendLayout(series: readonly Series[], width: number): { x: number; row: number }[] {
  let x = 0;
  let row = 0;
  return series.map((s) => {
    const w = 22 + textWidth(s.name, FONT) + 14;
    if (x > 0 && x + w > width) {
      x = 0;
      row++;
    }
    const at = { x, row };
    x += w;
    return at;
  });
}

function axes(spec: PlotSpec, f: Frame, sc: Scales, totalHeight: number, out: string[]): void {
  out.push(
    `<g class="axes" stroke="#444" fill="none"><rect x="${f.left}" y="${f.top}" width="${f.width}" height="${f.height}"/></g>`,
  );
  const bottom = f.top + f.height;
  const xt = spec.categories ? spec.categories.map((_, i) => i) : niceTicks(sc.xMin, sc.xMax);
  for (const t of xt) {
    const x = sc.sx(t);
    if (x < f.left - 0.5 || x > f.left + f.width + 0.5) continue;
    const label = spec.categories ? (spec.categories[t] ?? '') : fmt(t);
    out.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#444"/>`);
    out.push(
      `<text class="label" x="${x}" y="${bottom + 18}" text-anchor="middle" font-size="${FONT}">${escapeXml(label)}</text>`,
    );
  }
  const ytVals = spec.logY
    ? niceTicks(Math.ceil(sc.yLo), Math.floor(sc.yHi), 6)
        .filter((v) => Number.isInteger(v))
        .map((e) => 10 ** e)
    : niceTicks(sc.yLo, sc.yHi);
  for (const t of ytVals) {
    const y = sc.sy(t);
    if (y < f.top - 0.5 || y > bottom + 0.5) continue;
    out.push(`<line x1="${f.left - 5}" y1="${y}" x2="${f.left}" y2="${y}" stroke="#444"/>`);
    out.push(`<line x1="${f.left}" y1="${y}" x2="${f.left + f.width}" y2="${y}" stroke="#eee"/>`);
    out.push(
      `<text class="label" x="${f.left - 8}" y="${y + 4}" text-anchor="end" font-size="${FONT}">${fmt(t)}</text>`,
    );
  }
  if (spec.xLabel)
    out.push(
      `<text class="label" x="${f.left + f.width / 2}" y="${bottom + 38}" text-anchor="middle" font-size="12">${escapeXml(spec.xLabel)}</text>`,
    );
  const yMid = f.top + f.height / 2;
  out.push(
    `<text class="label" x="14" y="${yMid}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${yMid})">${escapeXml(spec.yLabel)}</text>`,
  );
  void totalHeight;
}

function drawSeries(spec: PlotSpec, s: Series, sc: Scales, out: string[]): void {
  const pts = finitePoints(spec, s.points);
  if (s.kind === 'line') {
    if (pts.length < 2) return;
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${sc.sx(p.x).toFixed(1)},${sc.sy(p.y).toFixed(1)}`).join('');
    out.push(`<path class="fit" d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    return;
  }
  for (const p of pts) {
    const x = sc.sx(p.x);
    const y = sc.sy(p.y);
    if (s.kind === 'bars') {
      const y0 = sc.sy(spec.yMin ?? 0);
      out.push(
        `<rect class="data" x="${x - 30}" y="${Math.min(y, y0)}" width="60" height="${Math.max(1, Math.abs(y0 - y))}" fill="${s.color}" opacity="0.8"/>`,
      );
      const top = p.err ? Math.min(sc.sy(p.y + p.err), y) : Math.min(y, y0);
      if (p.err)
        out.push(
          `<line class="err" x1="${x}" y1="${sc.sy(p.y - p.err)}" x2="${x}" y2="${sc.sy(p.y + p.err)}" stroke="#000" stroke-width="1.5"/>`,
        );
      // The value sits above the bar and its error bar.
      out.push(
        `<text class="label" x="${x}" y="${top - 5}" text-anchor="middle" font-size="${FONT}">${fmt(p.y)}</text>`,
      );
      continue;
    }
    if (p.err) {
      const lo = spec.logY ? Math.max(p.y - p.err, p.y / 10) : p.y - p.err;
      out.push(
        `<line class="err" x1="${x.toFixed(1)}" y1="${sc.sy(lo).toFixed(1)}" x2="${x.toFixed(1)}" y2="${sc.sy(p.y + p.err).toFixed(1)}" stroke="${s.color}" stroke-width="1"/>`,
      );
    }
    out.push(`<circle class="data" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${s.color}"/>`);
  }
}

/** Reference lines inside the frame, their labels in the right margin, at least one row apart. */
function hlines(spec: PlotSpec, f: Frame, sc: Scales, out: string[], labels: string[]): void {
  const hs = [...(spec.hlines ?? [])].sort((a, b) => sc.sy(a.y) - sc.sy(b.y));
  let last = -Infinity;
  for (const h of hs) {
    const y = sc.sy(h.y);
    out.push(
      `<line class="ref" x1="${f.left}" y1="${y}" x2="${f.left + f.width}" y2="${y}" stroke="${h.color ?? '#888'}" stroke-dasharray="6 4"/>`,
    );
    const ly = Math.max(y + 4, last + 13);
    last = ly;
    labels.push(
      `<text class="label" x="${f.left + f.width + 6}" y="${ly}" font-size="${FONT}" fill="${h.color ?? '#666'}">${escapeXml(h.label)}</text>`,
    );
  }
}

/** Vertical markers inside the frame, their labels in the band above it (rows as rowsFor places them). */
function markers(spec: PlotSpec, f: Frame, sc: Scales, out: string[], labels: string[]): void {
  const ms = spec.markers ?? [];
  const rows = rowsFor(
    ms.map((mk) => ({ x: sc.sx(mk.x) - textWidth(mk.label, FONT) / 2, width: textWidth(mk.label, FONT) })),
  );
  ms.forEach((mk, i) => {
    const x = sc.sx(mk.x);
    out.push(
      `<line class="marker" x1="${x}" y1="${f.top}" x2="${x}" y2="${f.top + f.height}" stroke="${mk.color ?? '#555'}" stroke-dasharray="3 3"/>`,
    );
    labels.push(
      `<text class="label" x="${x}" y="${f.top - 5 - (rows[i] ?? 0) * 13}" text-anchor="middle" font-size="${FONT}" fill="${mk.color ?? '#555'}">${escapeXml(mk.label)}</text>`,
    );
  });
}

function legend(spec: PlotSpec, width: number, top: number, out: string[]): void {
  const lay = legendLayout(spec.series, width - 20);
  spec.series.forEach((s, i) => {
    const y = top + lay[i]!.row * ROW + 11;
    const x = 10 + lay[i]!.x;
    out.push(
      s.kind === 'line'
        ? `<line class="legend-key" x1="${x}" y1="${y - 4}" x2="${x + 16}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"/>`
        : `<circle class="legend-key" cx="${x + 8}" cy="${y - 4}" r="3" fill="${s.color}"/>`,
    );
    out.push(`<text class="label" x="${x + 22}" y="${y}" font-size="${FONT}">${escapeXml(s.name)}</text>`);
  });
}

export function renderPlot(spec: PlotSpec): string {
  const width = spec.width ?? 560;
  const ms = spec.markers ?? [];
  const right = Math.max(20, ...(spec.hlines ?? []).map((h) => textWidth(h.label, FONT) + 12));
  // Marker rows: measured on a provisional frame (the x scale barely depends on the top margin).
  const probe: Frame = { left: 70, top: 0, width: width - 70 - right, height: 1 };
  const probeSc = scales(spec, probe);
  const markerRows = ms.length
    ? Math.max(
        ...rowsFor(
          ms.map((mk) => ({ x: probeSc.sx(mk.x) - textWidth(mk.label, FONT) / 2, width: textWidth(mk.label, FONT) })),
        ),
      ) + 1
    : 0;
  const top = 30 + markerRows * 13 + (ms.length ? 4 : 0);
  const plotHeight = (spec.height ?? 340) - 34 - 48;
  const f: Frame = { left: 70, top, width: width - 70 - right, height: plotHeight };
  const legendRows =
    spec.series.length > 1 || spec.series[0]?.name
      ? Math.max(...legendLayout(spec.series, width - 20).map((l) => l.row)) + 1
      : 0;
  const legendTop = f.top + f.height + (spec.xLabel ? 46 : 30);
  const height = legendTop + legendRows * ROW + 6;
  const sc = scales(spec, f);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(spec.title)}">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  out.push(
    `<text class="label" x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(spec.title)}</text>`,
  );
  axes(spec, f, sc, height, out);
  const clip = `c${Math.abs(hash(spec.title))}`;
  out.push(
    `<clipPath id="${clip}"><rect x="${f.left}" y="${f.top}" width="${f.width}" height="${f.height}"/></clipPath>`,
  );
  out.push(`<g clip-path="url(#${clip})">`);
  const labels: string[] = [];
  hlines(spec, f, sc, out, labels);
  markers(spec, f, sc, out, labels);
  for (const s of spec.series) drawSeries(spec, s, sc, out);
  out.push('</g>', ...labels);
  if (legendRows) legend(spec, width, legendTop, out);
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
