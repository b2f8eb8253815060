/**
 * Step "fringes": polarization correlation fringes find the rotation rot between the stations and the visibility V
 * (PROTOCOL 7): P(pa = pb) = (1 + V cos 2(alpha - beta + rot)) / 2. More in ../README.md (steps/fringes.ts).
 */
import type { CalibrationContext } from '../context.ts';
import type { CalibrationPlan } from '../plan.ts';
import { fitCurve, invertMatrix } from '../fit.ts';
import { toCentidegrees, wrapHalfTurnDeg } from '../angles.ts';

export interface FringePoint {
  alphaDeg: number;
  betaDeg: number;
  /** A0B0 A0B1 A1B0 A1B1. */
  coincidences: [number, number, number, number];
}

export interface FringeResult {
  integrationMs: number;
  points: FringePoint[];
  visibility: { value: number; error: number };
  rotDeg: { value: number; error: number };
  offset: { value: number; error: number };
  chi2: number;
  dof: number;
}

export function fringeCorrelator(c: readonly number[]): { e: number; n: number } {
  const n = c[0]! + c[1]! + c[2]! + c[3]!;
  return { e: n > 0 ? (c[0]! + c[3]! - c[1]! - c[2]!) / n : 0, n };
}

const RAD = Math.PI / 180;

export function fitFringes(points: readonly FringePoint[]): Omit<FringeResult, 'integrationMs' | 'points'> {
  const data = points
    .map((p) => fringeCorrelator(p.coincidences))
    .map(({ e, n }) => ({ e, sigma: Math.sqrt(Math.max(1 - e * e, 1e-4) / Math.max(n, 1)) }));
  const xs = points.map((p) => p.alphaDeg - p.betaDeg);
  // Linear start: normal equations for (e0, u, v).
  const ata = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  const atb = [0, 0, 0];
  xs.forEach((x, i) => {
    const row = [1, Math.cos(2 * x * RAD), -Math.sin(2 * x * RAD)];
    const w = 1 / (data[i]!.sigma * data[i]!.sigma);
    for (let a = 0; a < 3; a++) {
      atb[a]! += row[a]! * data[i]!.e * w;
      for (let b = 0; b < 3; b++) ata[a]![b]! += row[a]! * row[b]! * w;
    }
  });
  const inv = invertMatrix(ata);
  if (!inv) throw new Error('fringes: the angles measured do not determine the fringe');
  const [e0, u, v] = [0, 1, 2].map((a) => inv[a]![0]! * atb[0]! + inv[a]![1]! * atb[1]! + inv[a]![2]! * atb[2]!) as [
    number,
    number,
    number,
  ];
  const v0 = Math.hypot(u, v);
  const rot0 = Math.atan2(v, u) / 2 / RAD;
  const fit = fitCurve({
    names: ['offset', 'visibility', 'rotDeg'],
    xs,
    ys: data.map((d) => d.e),
    sigmas: data.map((d) => d.sigma),
    model: (p, x) => p[0]! + p[1]! * Math.cos(2 * (x + p[2]!) * RAD),
    initial: [e0, Math.min(v0, 1.5), rot0],
    min: [-1, 0, rot0 - 45],
    max: [1, 2, rot0 + 45],
    steps: [1e-6, 1e-6, 1e-5],
  });
  return {
    offset: { value: fit.values[0]!, error: fit.errors[0]! },
    visibility: { value: fit.values[1]!, error: fit.errors[1]! },
    rotDeg: { value: wrapHalfTurnDeg(fit.values[2]!), error: fit.errors[2]! },
    chi2: fit.chi2,
    dof: fit.dof,
  };
}

/** Measures the fringes with the gate already on B's photons (after the delay step). */
export async function measureFringes(ctx: CalibrationContext, plan: CalibrationPlan): Promise<FringeResult> {
  const points: FringePoint[] = [];
  const total = plan.fringeAlphasDeg.length * plan.fringeBetasDeg.length;
  for (const alphaDeg of plan.fringeAlphasDeg) {
    for (const betaDeg of plan.fringeBetasDeg) {
      const c = await ctx.measure(toCentidegrees(alphaDeg), toCentidegrees(betaDeg), plan.fringeIntegrationMs);
      points.push({ alphaDeg, betaDeg, coincidences: [...c.coincidences] as FringePoint['coincidences'] });
      ctx.progress(points.length, total);
    }
  }
  return { integrationMs: plan.fringeIntegrationMs, points, ...fitFringes(points) };
}
