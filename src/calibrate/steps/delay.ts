/**
 * Step "delay": coincidences versus B's gate delay find the photons' true path delay D and the timing jitter sigma
 * (PROTOCOL 7): g(d) = Phi((w/2 - (D - d))/sigma) - Phi((-w/2 - (D - d))/sigma). More in ../README.md
 * (steps/delay.ts).
 */
import { DeviceError } from '../../errors.ts';
import type { CalibrationContext } from '../context.ts';
import type { CalibrationPlan } from '../plan.ts';
import { fitCurve } from '../fit.ts';
import { gateFraction } from '../models.ts';

/** PROTOCOL 5 SET_DELAY: i16 ps, -10000..10000. */
export const MIN_DELAY_PS = -10000;
export const MAX_DELAY_PS = 10000;

export interface DelayPoint {
  delayPs: number;
  trials: number;
  /** Sum of the four coincidences A0B0 A0B1 A1B0 A1B1. */
  coincidences: number;
}

export interface DelayFit {
  windowPs: number;
  /** Coincidences per trial with the whole jitter profile inside the gate. */
  amplitude: { value: number; error: number };
  pathDelayPs: { value: number; error: number };
  jitterPs: { value: number; error: number };
  background: { value: number; error: number };
  chi2: number;
  dof: number;
}

export interface DelayResult {
  coarseWindowPs: number;
  coarse: DelayPoint[];
  /** Coarse estimate of D (count centroid). */
  coarseCentrePs: number;
  fineWindowPs: number;
  fine: DelayPoint[];
  fit: DelayFit;
}

function clampDelay(ps: number): number {
  return Math.max(MIN_DELAY_PS, Math.min(MAX_DELAY_PS, Math.round(ps)));
}

/** Centroid of the counts above the scan's floor, around the peak (coarse scan). */
export function coarseCentre(points: readonly DelayPoint[]): number {
  const rates = points.map((p) => p.coincidences / p.trials);
  const floor = Math.min(...rates);
  let peak = 0;
  for (let i = 1; i < rates.length; i++) if (rates[i]! > rates[peak]!) peak = i;
  let sw = 0,
    sd = 0;
  for (let i = Math.max(0, peak - 2); i <= Math.min(points.length - 1, peak + 2); i++) {
    const w = rates[i]! - floor;
    sw += w;
    sd += w * points[i]!.delayPs;
  }
  return sw > 0 ? sd / sw : points[peak]!.delayPs;
}

/** Fits the erf-window profile to a fine scan made with window `windowPs`. */
export function fitDelayProfile(points: readonly DelayPoint[], windowPs: number): DelayFit {
  const ys = points.map((p) => p.coincidences / p.trials);
  const sigmas = points.map((p) => Math.sqrt(Math.max(p.coincidences, 1)) / p.trials);
  const floor = Math.min(...ys);
  let sw = 0,
    sd = 0,
    sdd = 0;
  points.forEach((p, i) => {
    const w = ys[i]! - floor;
    sw += w;
    sd += w * p.delayPs;
    sdd += w * p.delayPs * p.delayPs;
  });
  const centre0 = sd / sw;
  const variance = Math.max(0, sdd / sw - centre0 * centre0);
  const jitter0 = Math.sqrt(Math.max(variance - (windowPs * windowPs) / 12, 900));
  const peak0 = Math.max(...ys) - floor;
  const amplitude0 = peak0 / Math.max(0.05, gateFraction(0, 0, jitter0, windowPs));
  const fit = fitCurve({
    names: ['amplitude', 'pathDelayPs', 'jitterPs', 'background'],
    xs: points.map((p) => p.delayPs),
    ys,
    sigmas,
    model: (p, delayPs) => p[0]! * gateFraction(delayPs, p[1]!, p[2]!, windowPs) + p[3]!,
    initial: [amplitude0, centre0, jitter0, Math.max(0, floor)],
    min: [0, MIN_DELAY_PS - 1000, 5, -0.01],
    max: [2, MAX_DELAY_PS + 1000, 2000, 1],
    steps: [1e-6, 0.01, 0.01, 1e-7],
    maxIterations: 200,
  });
  return {
    windowPs,
    amplitude: { value: fit.values[0]!, error: fit.errors[0]! },
    pathDelayPs: { value: fit.values[1]!, error: fit.errors[1]! },
    jitterPs: { value: fit.values[2]!, error: fit.errors[2]! },
    background: { value: fit.values[3]!, error: fit.errors[3]! },
    chi2: fit.chi2,
    dof: fit.dof,
  };
}

async function scan(
  ctx: CalibrationContext,
  delaysPs: readonly number[],
  integrationMs: number,
  done: number,
  total: number,
): Promise<DelayPoint[]> {
  const points: DelayPoint[] = [];
  for (const delayPs of delaysPs) {
    await ctx.port.setDelay(delayPs);
    const c = await ctx.measure(0, 0, integrationMs);
    points.push({
      delayPs,
      trials: c.trials,
      coincidences: c.coincidences[0] + c.coincidences[1] + c.coincidences[2] + c.coincidences[3],
    });
    ctx.progress(done + points.length, total);
  }
  return points;
}

function fineDelays(centrePs: number, plan: CalibrationPlan): number[] {
  const out: number[] = [];
  for (let off = -plan.fineHalfSpanPs; off <= plan.fineHalfSpanPs + 1e-9; off += plan.fineStepPs)
    out.push(clampDelay(centrePs + off));
  return [...new Set(out)];
}

/**
 * Runs the coarse and fine scans. Leaves the window at the fine window and
 * the delay at the last point: the caller sets the fitted D.
 */
export async function scanDelay(ctx: CalibrationContext, plan: CalibrationPlan): Promise<DelayResult> {
  const finePlanned = fineDelays(0, plan).length;
  const total = plan.coarseDelaysPs.length + finePlanned;
  await ctx.port.setWindow(plan.coarseWindowPs);
  const coarse = await scan(ctx, plan.coarseDelaysPs, plan.coarseIntegrationMs, 0, total);
  const peak = Math.max(...coarse.map((p) => p.coincidences));
  if (peak < 50) {
    throw new DeviceError(
      'NO_COINCIDENCES',
      `no coincidences between gate delays ${plan.coarseDelaysPs[0]} and ${plan.coarseDelaysPs[plan.coarseDelaysPs.length - 1]} ps (at most ${peak}): check the pump and station B`,
    );
  }
  const coarseCentrePs = coarseCentre(coarse);
  await ctx.port.setWindow(plan.fineWindowPs);
  let fine = await scan(ctx, fineDelays(coarseCentrePs, plan), plan.fineIntegrationMs, coarse.length, total);
  let fit = fitDelayProfile(fine, plan.fineWindowPs);
  // A peak near the edge of the fine scan: scan again around the fitted centre (once).
  if (Math.abs(fit.pathDelayPs.value - coarseCentrePs) > plan.fineHalfSpanPs - 4 * Math.max(fit.jitterPs.value, 50)) {
    fine = await scan(ctx, fineDelays(fit.pathDelayPs.value, plan), plan.fineIntegrationMs, coarse.length, total);
    fit = fitDelayProfile(fine, plan.fineWindowPs);
  }
  ctx.progress(total, total);
  return { coarseWindowPs: plan.coarseWindowPs, coarse, coarseCentrePs, fineWindowPs: plan.fineWindowPs, fine, fit };
}
