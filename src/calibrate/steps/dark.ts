/**
 * Step "dark": dark counts per detector versus bias, pump off. More in ../README.md (steps/dark.ts).
 */
import type { CalibrationContext } from '../context.ts';
import type { CalibrationPlan } from '../plan.ts';
import { fitCurve, type FitResult } from '../fit.ts';
import { darkClickProbability, darkRateAtBias } from '../models.ts';
import type { Quad } from '../click-model.ts';

export const DARK_REF_BIAS_MV = 30000;

export interface DarkPoint {
  biasMv: number;
  trials: number;
  /** Clicks of A0 A1 B0 B1. */
  clicks: Quad;
}

export interface DarkCurve {
  /** Dark rate at DARK_REF_BIAS_MV, counts/s. */
  refRatePerS: { value: number; error: number };
  /** U_d, mV. */
  slopeMv: { value: number; error: number };
  chi2: number;
  dof: number;
}

export interface DarkResult {
  windowPs: number;
  integrationMs: number;
  points: DarkPoint[];
  /** One curve per detector A0 A1 B0 B1. */
  curves: [DarkCurve, DarkCurve, DarkCurve, DarkCurve];
}

/** The fitted dark rate of a detector at a bias, counts/s. */
export function darkRate(curve: DarkCurve, biasMv: number): number {
  return darkRateAtBias(biasMv, curve.refRatePerS.value, DARK_REF_BIAS_MV, curve.slopeMv.value);
}

/**
 * Fits one detector's dark curve to the click counts. Parameters: ln R_ref
 * (keeps the rate positive and the problem well scaled) and U_d; the data are
 * per-gate click probabilities with binomial errors.
 */
export function fitDarkCurve(points: readonly DarkPoint[], detector: number, windowPs: number): DarkCurve {
  const usable = points.filter((p) => p.clicks[detector]! >= 3);
  if (usable.length < 2)
    throw new Error(`dark counts of detector ${detector} too few to fit (fewer than 2 biases with 3 or more clicks)`);
  // Start: weighted straight line through ln(rate) versus U.
  let sw = 0,
    su = 0,
    sl = 0,
    suu = 0,
    sul = 0;
  for (const p of usable) {
    const w = p.clicks[detector]!;
    const rate = -Math.log1p(-p.clicks[detector]! / p.trials) / (windowPs * 1e-12);
    const l = Math.log(rate);
    sw += w;
    su += w * p.biasMv;
    sl += w * l;
    suu += w * p.biasMv * p.biasMv;
    sul += w * p.biasMv * l;
  }
  const det = sw * suu - su * su;
  const slope0 = det > 0 ? (sw * sul - su * sl) / det : 1 / 1250;
  const intercept0 = (sl - slope0 * su) / sw;
  const slopeMv0 = slope0 > 1e-5 ? Math.min(5000, 1 / slope0) : 1250;
  const lnRef0 = intercept0 + DARK_REF_BIAS_MV * (slope0 > 1e-5 ? slope0 : 1 / 1250);
  const model = (p: readonly number[], biasMv: number) =>
    darkClickProbability(darkRateAtBias(biasMv, Math.exp(p[0]!), DARK_REF_BIAS_MV, p[1]!), windowPs);
  const fit: FitResult = fitCurve({
    names: ['lnRefRate', 'slopeMv'],
    xs: points.map((p) => p.biasMv),
    ys: points.map((p) => p.clicks[detector]! / p.trials),
    sigmas: points.map((p) => {
      const q = Math.max(p.clicks[detector]!, 1) / p.trials;
      return Math.sqrt((q * (1 - Math.min(q, 0.99))) / p.trials);
    }),
    model,
    initial: [lnRef0, slopeMv0],
    min: [-10, 200],
    max: [25, 10000],
    steps: [1e-4, 0.1],
  });
  const refRate = Math.exp(fit.values[0]!);
  return {
    refRatePerS: { value: refRate, error: refRate * fit.errors[0]! },
    slopeMv: { value: fit.values[1]!, error: fit.errors[1]! },
    chi2: fit.chi2,
    dof: fit.dof,
  };
}

/**
 * Measures the dark curves. Leaves the pump off, the window at the wide dark
 * window and the biases at `restoreBiasMv`; the next step sets what it needs.
 */
export async function measureDarkCounts(
  ctx: CalibrationContext,
  plan: CalibrationPlan,
  restoreBiasMv: Quad,
): Promise<DarkResult> {
  const port = ctx.port;
  await port.setPump(0); // PROTOCOL 5 SET_PUMP: 0 = off
  await port.setWindow(plan.darkWindowPs);
  const points: DarkPoint[] = [];
  const total = plan.darkBiasesMv.length;
  for (const biasMv of plan.darkBiasesMv) {
    for (let d = 0; d < 4; d++) await port.setBias(d, biasMv);
    const counts = await ctx.measure(0, 0, plan.darkIntegrationMs);
    const clicks = [...counts.singles] as Quad;
    points.push({ biasMv, trials: counts.trials, clicks });
    ctx.progress(points.length, total);
    if (clicks.some((c) => c / counts.trials > plan.darkMaxClickProbability)) break;
  }
  for (let d = 0; d < 4; d++) await port.setBias(d, restoreBiasMv[d]!);
  ctx.progress(total, total);
  const curves = [0, 1, 2, 3].map((d) => fitDarkCurve(points, d, plan.darkWindowPs)) as DarkResult['curves'];
  return { windowPs: plan.darkWindowPs, integrationMs: plan.darkIntegrationMs, points, curves };
}
