/**
 * Step "bias": detector efficiency versus bias, per detector, from the Klyshko ratio (coincidences over the partner
 * station's singles), fitted by eta(U) = eta_max (1 - exp(-(U - U_bd)/U_s)) (PROTOCOL 7). More in ../README.md
 * (steps/bias.ts).
 */
import type { CalibrationContext } from '../context.ts';
import type { CalibrationPlan } from '../plan.ts';
import { fitCurve } from '../fit.ts';
import { darkClickProbability, efficiencyAtBias } from '../models.ts';
import { toCentidegrees } from '../angles.ts';
import { DARK_REF_BIAS_MV, darkRate, type DarkResult } from './dark.ts';
import { expectedCountsPerTrial, type ClickModel, type Quad } from '../click-model.ts';

export interface BiasPoint {
  station: 'A' | 'B';
  biasMv: number;
  trials: number;
  singles: Quad;
  coincidences: Quad;
}

export interface EfficiencyCurve {
  etaMax: { value: number; error: number };
  breakdownMv: { value: number; error: number };
  slopeMv: { value: number; error: number };
  /** Dark rate at breakdown R0 (PROTOCOL 7), from the dark curve at the fitted U_bd. */
  darkAtBreakdownPerS: number;
  chi2: number;
  dof: number;
}

export interface EfficiencySample {
  biasMv: number;
  eta: number;
  error: number;
}

export interface BiasResult {
  integrationMs: number;
  heraldBiasMv: number;
  windowPs: number;
  points: BiasPoint[];
  /** Efficiency estimates per detector A0 A1 B0 B1 (what the curves were fitted to). */
  samples: [EfficiencySample[], EfficiencySample[], EfficiencySample[], EfficiencySample[]];
  curves: [EfficiencyCurve, EfficiencyCurve, EfficiencyCurve, EfficiencyCurve];
}

export interface BiasContext {
  dark: DarkResult;
  rotDeg: number;
  /** Share of B's photons inside the gate during the sweep. */
  gateFraction: number;
  g2: number;
  brightness: number;
  windowPs: number;
  /** Bias of the station not swept. */
  heraldBiasMv: number;
}

/** Klyshko ratio of detector d at one point: its coincidences with the other station over that station's singles. */
function klyshko(p: BiasPoint, d: number): { k: number; herald: number } {
  const c = p.coincidences;
  const [cross, herald] =
    d === 0
      ? [c[0] + c[1], p.singles[2] + p.singles[3]]
      : d === 1
        ? [c[2] + c[3], p.singles[2] + p.singles[3]]
        : d === 2
          ? [c[0] + c[2], p.singles[0] + p.singles[1]]
          : [c[1] + c[3], p.singles[0] + p.singles[1]];
  return { k: herald > 0 ? cross / herald : 0, herald };
}

/** Bisection for x in [lo, hi] with f(x) = target, f increasing. */
function solveIncreasing(f: (x: number) => number, target: number, lo: number, hi: number): number {
  let a = lo;
  let b = hi;
  for (let i = 0; i < 50; i++) {
    const m = (a + b) / 2;
    if (f(m) < target) a = m;
    else b = m;
  }
  return (a + b) / 2;
}

/**
 * Efficiencies of the swept station's two detectors at one point, by
 * inverting the section 7 click model (click-model.ts): the efficiency whose
 * predicted Klyshko ratio equals the measured one, with dark counts, the
 * gate share and multi-pair emission in the model (a first-order multi-pair
 * factor 1 + g2 b over-corrects by about 1%). The herald detectors'
 * efficiencies come from their own singles, eta = 2 (S/N - dark) / (b g).
 */
export function efficienciesAtPoint(p: BiasPoint, bc: BiasContext): [number, number] {
  const swept = p.station === 'A' ? [0, 1] : [2, 3];
  const gate = (d: number) => (d >= 2 ? bc.gateFraction : 1);
  const biasOf = (d: number) => (swept.includes(d) ? p.biasMv : bc.heraldBiasMv);
  const dark = [0, 1, 2, 3].map((d) =>
    darkClickProbability(darkRate(bc.dark.curves[d]!, biasOf(d)), bc.windowPs),
  ) as Quad;
  const eta = [0, 1, 2, 3].map((d) =>
    swept.includes(d)
      ? Math.max(0, (2 * (klyshko(p, d).k - dark[d]!)) / gate(d))
      : Math.min(
          1,
          Math.max(0, (2 * (p.singles[d]! / p.trials - dark[d]!)) / (Math.max(bc.brightness, 1e-6) * gate(d))),
        ),
  ) as Quad;
  const model = (e: Quad): ClickModel => ({
    brightness: bc.brightness,
    g2: bc.g2,
    visibility: 1,
    rotDeg: bc.rotDeg,
    efficiency: e,
    gateFraction: bc.gateFraction,
    darkProbability: dark,
  });
  const betaDeg = 45 + bc.rotDeg; // the sweep's angles: alpha - beta + rot = -45, uncorrelated pairs
  for (let round = 0; round < 2; round++) {
    for (const d of swept) {
      const target = klyshko(p, d).k;
      eta[d] = solveIncreasing(
        (x) => {
          const e = [...eta] as Quad;
          e[d] = x;
          return klyshkoOf(expectedCountsPerTrial(model(e), 0, betaDeg), d);
        },
        target,
        0,
        1.5,
      );
    }
  }
  return [eta[swept[0]!]!, eta[swept[1]!]!];
}

function klyshkoOf(x: { singles: Quad; coincidences: Quad }, d: number): number {
  return klyshko(
    { station: d < 2 ? 'A' : 'B', biasMv: 0, trials: 1, singles: x.singles, coincidences: x.coincidences },
    d,
  ).k;
}

/** Efficiency samples of one detector from the sweep of its station. */
export function efficiencySamples(points: readonly BiasPoint[], detector: number, bc: BiasContext): EfficiencySample[] {
  const station = detector < 2 ? 'A' : 'B';
  return points
    .filter((p) => p.station === station)
    .map((p) => {
      const { k, herald } = klyshko(p, detector);
      const eta = efficienciesAtPoint(p, bc)[detector % 2]!;
      // d eta / d K is about 2 / g: the binomial error of K scaled.
      const scale = 2 / (station === 'B' ? bc.gateFraction : 1);
      const kErr = Math.sqrt(Math.max(k * (1 - k), 1 / Math.max(herald, 1)) / Math.max(herald, 1));
      return { biasMv: p.biasMv, eta, error: kErr * scale };
    });
}

/** Fits eta(U); the start comes from a grid over (U_bd, U_s) with eta_max solved exactly. */
export function fitEfficiencyCurve(samples: readonly EfficiencySample[]): Omit<EfficiencyCurve, 'darkAtBreakdownPerS'> {
  let best = { sse: Infinity, etaMax: 0.9, bd: 25000, s: 2000 };
  for (let bd = 20000; bd <= 32000; bd += 200) {
    for (let s = 300; s <= 6000; s += 300) {
      let num = 0,
        den = 0;
      for (const p of samples) {
        const f = efficiencyAtBias(p.biasMv, 1, bd, s);
        num += (f * p.eta) / (p.error * p.error);
        den += (f * f) / (p.error * p.error);
      }
      if (den <= 0) continue;
      const etaMax = num / den;
      let sse = 0;
      for (const p of samples) {
        const r = (p.eta - efficiencyAtBias(p.biasMv, etaMax, bd, s)) / p.error;
        sse += r * r;
      }
      if (sse < best.sse) best = { sse, etaMax, bd, s };
    }
  }
  const fit = fitCurve({
    names: ['etaMax', 'breakdownMv', 'slopeMv'],
    xs: samples.map((p) => p.biasMv),
    ys: samples.map((p) => p.eta),
    sigmas: samples.map((p) => p.error),
    model: (p, u) => efficiencyAtBias(u, p[0]!, p[1]!, p[2]!),
    initial: [best.etaMax, best.bd, best.s],
    min: [0.01, 15000, 100],
    max: [1.5, 40000, 20000],
    steps: [1e-5, 0.1, 0.1],
    maxIterations: 200,
  });
  return {
    etaMax: { value: fit.values[0]!, error: fit.errors[0]! },
    breakdownMv: { value: fit.values[1]!, error: fit.errors[1]! },
    slopeMv: { value: fit.values[2]!, error: fit.errors[2]! },
    chi2: fit.chi2,
    dof: fit.dof,
  };
}

export function fitBiasSweep(points: readonly BiasPoint[], bc: BiasContext): Pick<BiasResult, 'samples' | 'curves'> {
  const samples = [0, 1, 2, 3].map((d) => efficiencySamples(points, d, bc)) as BiasResult['samples'];
  const curves = samples.map((s, d) => {
    const fit = fitEfficiencyCurve(s);
    const dc = bc.dark.curves[d]!;
    // PROTOCOL 7: dark(U) = R0 exp((U - U_bd)/U_d), so R0 = dark(U_bd).
    const darkAtBreakdownPerS =
      dc.refRatePerS.value * Math.exp((fit.breakdownMv.value - DARK_REF_BIAS_MV) / dc.slopeMv.value);
    return { ...fit, darkAtBreakdownPerS };
  }) as BiasResult['curves'];
  return { samples, curves };
}

/**
 * Sweeps station A then station B. Leaves the biases at the herald bias;
 * the operating-point step sets the chosen ones.
 */
export async function sweepBias(ctx: CalibrationContext, plan: CalibrationPlan, bc: BiasContext): Promise<BiasResult> {
  const port = ctx.port;
  await port.setWindow(bc.windowPs);
  const angleA = 0;
  const angleB = toCentidegrees(45 + bc.rotDeg); // alpha - beta + rot = -45: uncorrelated pairs
  const points: BiasPoint[] = [];
  const total = 2 * plan.biasSweepMv.length;
  let done = 0;
  for (const station of ['A', 'B'] as const) {
    const swept = station === 'A' ? [0, 1] : [2, 3];
    const herald = station === 'A' ? [2, 3] : [0, 1];
    for (const d of herald) await port.setBias(d, plan.heraldBiasMv);
    for (const biasMv of plan.biasSweepMv) {
      done++;
      const tooDark = swept.some(
        (d) => darkClickProbability(darkRate(bc.dark.curves[d]!, biasMv), bc.windowPs) > plan.biasMaxDarkProbability,
      );
      if (tooDark) continue;
      for (const d of swept) await port.setBias(d, biasMv);
      const c = await ctx.measure(angleA, angleB, plan.biasIntegrationMs);
      points.push({
        station,
        biasMv,
        trials: c.trials,
        singles: [...c.singles] as Quad,
        coincidences: [...c.coincidences] as Quad,
      });
      ctx.progress(done, total);
    }
    for (const d of swept) await port.setBias(d, plan.heraldBiasMv);
  }
  ctx.progress(total, total);
  return {
    integrationMs: plan.biasIntegrationMs,
    heraldBiasMv: plan.heraldBiasMv,
    windowPs: bc.windowPs,
    points,
    ...fitBiasSweep(points, bc),
  };
}
