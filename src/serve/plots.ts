/**
 * The dashboard's plots, drawn on the server by the same renderer as the
 * calibration report (src/plot/svg.ts), so the same layout rule and the
 * same layout check hold for both.
 */
import { CHSH_BOUNDS, PALETTE, renderPlot } from '../plot/svg.ts';
import type { EntropyService } from './service.ts';

/** CHSH S and its lower bound per block, against the local bound 2 and Tsirelson's 2 sqrt 2. */
export function sPlot(s: EntropyService): string {
  const blocks = s.history.map((b, i) => ({ ...b, i }));
  const ok = blocks.filter((b) => b.ok);
  const refused = blocks.filter((b) => !b.ok);
  return renderPlot({
    title: 'CHSH S per block',
    xLabel: 'block (last 64)',
    yLabel: 'S',
    series: [
      { name: 'S', kind: 'points', color: PALETTE[0]!, points: ok.map((b) => ({ x: b.i, y: b.sEstimate })) },
      {
        name: 'S lower bound (certified)',
        kind: 'points',
        color: PALETTE[2]!,
        points: ok.map((b) => ({ x: b.i, y: b.sLowerBound })),
      },
      {
        name: 'refused block',
        kind: 'points',
        color: PALETTE[1]!,
        points: refused.map((b) => ({ x: b.i, y: b.sEstimate })),
      },
    ],
    hlines: CHSH_BOUNDS,
    yMin: 1.8,
    yMax: 3,
    width: 520,
    height: 300,
  });
}

/** Pool level and bytes served over time. */
export function poolPlot(s: EntropyService): string {
  const pts = s.levels.map((l) => ({ t: l.atMs / 1000, pool: l.pool / 1024, served: l.served / 1024 }));
  return renderPlot({
    title: 'Pool and bytes served',
    xLabel: 'time since start (s)',
    yLabel: 'KiB',
    series: [
      { name: 'pool level', kind: 'line', color: PALETTE[0]!, points: pts.map((p) => ({ x: p.t, y: p.pool })) },
      { name: 'served (total)', kind: 'line', color: PALETTE[4]!, points: pts.map((p) => ({ x: p.t, y: p.served })) },
    ],
    yMin: 0,
    width: 520,
    height: 300,
  });
}
