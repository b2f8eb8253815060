/**
 * Step "operating-point": no measurement; from the fitted values, choose the per-detector biases and the window that
 * maximise the expected certified entropy per trial, under the section 7 model (click-model.ts) evaluated with the
 * fitted values. More in ../README.md (steps/operating-point.ts).
 */
import { chshValue, expectedCountsPerTrial, pironioBitsPerTrial, type ClickModel, type Quad } from '../click-model.ts';
import { darkClickProbability, efficiencyAtBias, gateFraction } from '../models.ts';
import { chshAnglesDeg } from '../angles.ts';
import { maximiseInteger } from '../../math/index.ts';
import { darkRate, type DarkCurve } from './dark.ts';
import type { EfficiencyCurve } from './bias.ts';

/** Everything the calibration learned about the chip, as point estimates. */
export interface ChipEstimates {
  darkCurves: readonly DarkCurve[];
  efficiencyCurves: readonly EfficiencyCurve[];
  /** Pair probability per trial at the chosen pump (b_max at the pi pulse). */
  brightness: number;
  g2: number;
  visibility: number;
  rotDeg: number;
  pathDelayPs: number;
  jitterPs: number;
}

export interface OperatingSettings {
  biasMv: Quad;
  windowPs: number;
  delayPs: number;
}

export function clickModelFor(est: ChipEstimates, s: OperatingSettings): ClickModel {
  return {
    brightness: est.brightness,
    g2: est.g2,
    visibility: est.visibility,
    rotDeg: est.rotDeg,
    efficiency: [0, 1, 2, 3].map((d) => {
      const c = est.efficiencyCurves[d]!;
      return efficiencyAtBias(s.biasMv[d]!, c.etaMax.value, c.breakdownMv.value, c.slopeMv.value);
    }) as Quad,
    gateFraction: gateFraction(s.delayPs, est.pathDelayPs, est.jitterPs, s.windowPs),
    darkProbability: [0, 1, 2, 3].map((d) =>
      darkClickProbability(darkRate(est.darkCurves[d]!, s.biasMv[d]!), s.windowPs),
    ) as Quad,
  };
}

/** The model's S at the rot-compensated CHSH angles. */
export function predictedS(est: ChipEstimates, s: OperatingSettings): number {
  return chshValue(clickModelFor(est, s), chshAnglesDeg(est.rotDeg));
}

export interface OperatingPoint extends OperatingSettings {
  predictedS: number;
  predictedBitsPerTrial: number;
  /**
   * The trade-offs behind the choice: model S versus each detector's bias (the others as chosen), and versus the
   * window.
   */
  biasScan: [ScanPoint[], ScanPoint[], ScanPoint[], ScanPoint[]];
  windowScan: ScanPoint[];
}

export interface ScanPoint {
  x: number;
  s: number;
}

/**
 * Chooses biases and window. `maxBiasMv[d]` bounds each detector's bias
 * (the highest bias its sweep visited plus 1 V: no blind extrapolation).
 */
export function chooseOperatingPoint(
  est: ChipEstimates,
  delayPs: number,
  maxBiasMv: Quad,
  startBiasMv: Quad,
): OperatingPoint {
  const s: OperatingSettings = { biasMv: [...startBiasMv] as Quad, windowPs: 1000, delayPs };
  // PROTOCOL 5 SET_BIAS: 20000..40000 mV; SET_WINDOW: 100..20000 ps.
  const lo = (d: number) => Math.max(20000, Math.ceil(est.efficiencyCurves[d]!.breakdownMv.value) + 100);
  const hi = (d: number) => Math.min(40000, Math.max(lo(d), maxBiasMv[d]!));
  for (let d = 0; d < 4; d++) s.biasMv[d] = Math.min(hi(d), Math.max(lo(d), s.biasMv[d]!));
  for (let round = 0; round < 3; round++) {
    for (let d = 0; d < 4; d++) {
      s.biasMv[d] = maximiseInteger(
        (v) => {
          const biasMv = [...s.biasMv] as Quad;
          biasMv[d] = v;
          return predictedS(est, { ...s, biasMv });
        },
        lo(d),
        hi(d),
      );
    }
    s.windowPs = maximiseInteger(
      (w) => predictedS(est, { ...s, windowPs: w }),
      Math.max(100, 2 * est.jitterPs),
      Math.min(20000, 40 * est.jitterPs + 1000),
    );
  }
  const sValue = predictedS(est, s);
  const biasScan = [0, 1, 2, 3].map((d) => {
    const out: ScanPoint[] = [];
    for (let u = lo(d); u <= hi(d); u += Math.max(50, Math.round((hi(d) - lo(d)) / 60))) {
      const biasMv = [...s.biasMv] as Quad;
      biasMv[d] = u;
      out.push({ x: u, s: predictedS(est, { ...s, biasMv }) });
    }
    return out;
  }) as OperatingPoint['biasScan'];
  const windowScan: ScanPoint[] = [];
  for (let w = 100; w <= Math.min(20000, 4 * s.windowPs); w += Math.max(10, Math.round(s.windowPs / 25)))
    windowScan.push({ x: w, s: predictedS(est, { ...s, windowPs: w }) });
  return { ...s, predictedS: sValue, predictedBitsPerTrial: pironioBitsPerTrial(sValue), biasScan, windowScan };
}

/** Bisection for the root of an increasing function on [lo, hi]. */
function solveIncreasing(f: (x: number) => number, target: number, lo: number, hi: number): number {
  let a = lo;
  let b = hi;
  for (let i = 0; i < 60; i++) {
    const m = (a + b) / 2;
    if (f(m) < target) a = m;
    else b = m;
  }
  return (a + b) / 2;
}

/**
 * Brightness b from station A's singles per trial (the Rabi fit at the pi
 * pulse), inverting the model's singles with the fitted efficiencies and dark
 * rates at the biases then in force.
 */
export function brightnessFromSingles(
  est: ChipEstimates,
  singlesAPerTrial: number,
  biasMv: Quad,
  windowPs: number,
): number {
  const at = (b: number) => {
    const m = clickModelFor({ ...est, brightness: b }, { biasMv, windowPs, delayPs: est.pathDelayPs });
    const { singles } = expectedCountsPerTrial(m, 0, 0);
    return singles[0] + singles[1];
  };
  return solveIncreasing(at, singlesAPerTrial, 0, 1);
}

/**
 * The state visibility V from the fitted fringe amplitude: the coincidence
 * fringe is washed out a little by multi-pair and dark coincidences, so V is
 * the value whose model fringe amplitude (E at alpha - beta + rot = 0 minus
 * E at 90 degrees, halved) equals the fitted one.
 */
export function visibilityFromFringe(est: ChipEstimates, fringeAmplitude: number, s: OperatingSettings): number {
  const amplitude = (v: number) => {
    const m = clickModelFor({ ...est, visibility: v }, s);
    const e = (alphaDeg: number, betaDeg: number) => {
      const c = expectedCountsPerTrial(m, alphaDeg, betaDeg).coincidences;
      return (c[0] + c[3] - c[1] - c[2]) / (c[0] + c[1] + c[2] + c[3]);
    };
    return (e(0, est.rotDeg) - e(90, est.rotDeg)) / 2;
  };
  return Math.min(1, solveIncreasing(amplitude, fringeAmplitude, 0, 1));
}
