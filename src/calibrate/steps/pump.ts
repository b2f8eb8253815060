/**
 * Step "pump": station A's singles versus pump power trace the Rabi oscillation of the source, b = b_max sin^2(pi/2
 * P/P_pi) (PROTOCOL 7); the pi pulse P = P_pi gives the most pairs per trial. More in ../README.md (steps/pump.ts).
 */
import type { CalibrationContext } from '../context.ts';
import type { CalibrationPlan } from '../plan.ts';
import { fitCurve } from '../fit.ts';
import { rabiBrightness } from '../models.ts';

export interface PumpPoint {
  pumpMicrowatts: number;
  trials: number;
  /** Clicks of A0 plus A1. */
  singlesA: number;
}

export interface PumpResult {
  integrationMs: number;
  points: PumpPoint[];
  /** c: singles of A per trial from pairs at the pi pulse. */
  amplitude: { value: number; error: number };
  background: { value: number; error: number };
  piPulseMicrowatts: { value: number; error: number };
  chi2: number;
  dof: number;
}

const model = (p: readonly number[], pumpMicrowatts: number) => rabiBrightness(pumpMicrowatts, p[0]!, p[1]!) + p[2]!;

/** Fits the Rabi curve; the start comes from a grid over P_pi with the linear parameters solved exactly. */
export function fitRabi(points: readonly PumpPoint[]): Omit<PumpResult, 'integrationMs' | 'points'> {
  const ys = points.map((p) => p.singlesA / p.trials);
  const sigmas = points.map((p) => {
    const q = Math.max(p.singlesA, 1) / p.trials / 2; // per detector
    return Math.sqrt((2 * q * (1 - Math.min(q, 0.99))) / p.trials);
  });
  let best = { sse: Infinity, c: 0, bg: 0, piUw: 300 };
  for (let piUw = 100; piUw <= 800; piUw += 2) {
    // Weighted linear least squares for y = c s + bg, s = sin^2(pi/2 P/P_pi).
    let sw = 0,
      ss = 0,
      sss = 0,
      sy = 0,
      ssy = 0;
    points.forEach((p, i) => {
      const w = 1 / (sigmas[i]! * sigmas[i]!);
      const s = rabiBrightness(p.pumpMicrowatts, 1, piUw);
      sw += w;
      ss += w * s;
      sss += w * s * s;
      sy += w * ys[i]!;
      ssy += w * s * ys[i]!;
    });
    const det = sw * sss - ss * ss;
    if (det <= 0) continue;
    const c = (sw * ssy - ss * sy) / det;
    const bg = (sy - c * ss) / sw;
    let sse = 0;
    points.forEach((p, i) => {
      const r = (ys[i]! - c * rabiBrightness(p.pumpMicrowatts, 1, piUw) - bg) / sigmas[i]!;
      sse += r * r;
    });
    if (sse < best.sse && c > 0) best = { sse, c, bg, piUw };
  }
  const fit = fitCurve({
    names: ['amplitude', 'piPulseMicrowatts', 'background'],
    xs: points.map((p) => p.pumpMicrowatts),
    ys,
    sigmas,
    model,
    initial: [best.c, best.piUw, best.bg],
    min: [0, 20, -0.1],
    max: [2, 2000, 1],
    steps: [1e-5, 0.01, 1e-6],
  });
  return {
    amplitude: { value: fit.values[0]!, error: fit.errors[0]! },
    background: { value: fit.values[2]!, error: fit.errors[2]! },
    piPulseMicrowatts: { value: fit.values[1]!, error: fit.errors[1]! },
    chi2: fit.chi2,
    dof: fit.dof,
  };
}

/** Measures A's singles over the pump plan. Leaves the pump at the last point: the caller sets the fitted P_pi. */
export async function measurePump(
  ctx: CalibrationContext,
  plan: CalibrationPlan,
  windowPs: number,
): Promise<PumpResult> {
  await ctx.port.setWindow(windowPs);
  const points: PumpPoint[] = [];
  for (const pumpMicrowatts of plan.pumpMicrowatts) {
    await ctx.port.setPump(pumpMicrowatts);
    const counts = await ctx.measure(0, 0, plan.pumpIntegrationMs);
    points.push({ pumpMicrowatts, trials: counts.trials, singlesA: counts.singles[0] + counts.singles[1] });
    ctx.progress(points.length, plan.pumpMicrowatts.length);
  }
  return { integrationMs: plan.pumpIntegrationMs, points, ...fitRabi(points) };
}
