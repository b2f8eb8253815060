/**
 * An INDEPENDENT closed form of PROTOCOL section 7 for the simulator tests:
 * written from the spec text, sharing no code with src/simulator/physics.ts
 * (its own normal CDF by Simpson integration, its own detection algebra by
 * inclusion-exclusion over "no detector of T clicks" events instead of the
 * 16-pattern convolution of the simulator).
 */
import type { HiddenParams } from '../../src/simulator/physics.ts';

export interface Knobs {
  angles: number[]; // centidegrees A0 A1 B0 B1 (unused by rates at explicit angles)
  windowPs: number;
  delayPs: number;
  pumpMicrowatts: number;
  biasMillivolts: number[];
}

/** Phi(z) by composite Simpson integration of the standard normal density from -12. */
export function phiSimpson(z: number): number {
  if (z < -12) return 0;
  if (z > 12) return 1;
  const lo = -12;
  const n = 4000;
  const h = (z - lo) / n;
  const pdf = (t: number) => Math.exp((-t * t) / 2) / Math.sqrt(2 * Math.PI);
  let s = pdf(lo) + pdf(z);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * pdf(lo + i * h);
  return (s * h) / 3;
}

/** Detection model of one trial at analyzer angles alphaDeg, betaDeg. Detectors 0..3 = A0 A1 B0 B1. */
export function model(h: HiddenParams, k: Knobs, alphaDeg: number, betaDeg: number) {
  const eta = [0, 1, 2, 3].map((i) => {
    const u = k.biasMillivolts[i]! - h.breakdownMillivolts[i]!;
    return u > 0 ? h.etaMax[i]! * (1 - Math.exp(-u / h.efficiencyScaleMillivolts[i]!)) : 0;
  });
  const dark = [0, 1, 2, 3].map((i) => {
    const rate =
      h.darkRateAtBreakdownHz[i]! *
      Math.exp((k.biasMillivolts[i]! - h.breakdownMillivolts[i]!) / h.darkScaleMillivolts[i]!);
    return 1 - Math.exp(-rate * k.windowPs * 1e-12);
  });
  const sinArg = Math.sin((Math.PI / 2) * (k.pumpMicrowatts / h.piPumpMicrowatts));
  const b = h.bMax * sinArg * sinArg;
  const p2 = (h.g2 * b * b) / 2;
  const p1 = b - p2;
  const p0 = 1 - b;
  const off = h.pathDelayPs - k.delayPs;
  const g = phiSimpson((k.windowPs / 2 - off) / h.jitterPs) - phiSimpson((-k.windowPs / 2 - off) / h.jitterPs);
  const det = [eta[0], eta[1], eta[2]! * g, eta[3]! * g];
  const c = h.visibility * Math.cos((2 * (alphaDeg - betaDeg + h.rotDegrees) * Math.PI) / 180);
  const joint = (pa: number, pb: number) => (1 + (pa === pb ? c : -c)) / 4;
  /** P(no detector in T clicks). */
  const none = (T: number[]) => {
    const inT = (d: number) => T.includes(d);
    let perPair = 0;
    for (let pa = 0; pa < 2; pa++) {
      for (let pb = 0; pb < 2; pb++) {
        perPair += joint(pa, pb) * (1 - (inT(pa) ? det[pa]! : 0)) * (1 - (inT(2 + pb) ? det[2 + pb]! : 0));
      }
    }
    let pDark = 1;
    for (const d of T) pDark *= 1 - dark[d]!;
    return pDark * (p0 + p1 * perPair + p2 * perPair * perPair);
  };
  const singles = [0, 1, 2, 3].map((d) => 1 - none([d]));
  const coincidences: number[] = [];
  for (const a of [0, 1]) for (const bb of [2, 3]) coincidences.push(1 - none([a]) - none([bb]) + none([a, bb]));
  // Outcomes (issue 3 binning): a = 1 iff A1 clicked and A0 did not; b likewise.
  const pA1 = none([0]) - none([0, 1]);
  const pB1 = none([2]) - none([2, 3]);
  const pA1B1 = none([0, 2]) - none([0, 1, 2]) - none([0, 2, 3]) + none([0, 1, 2, 3]);
  const pDiffer = pA1 + pB1 - 2 * pA1B1;
  return { singles, coincidences, E: 1 - 2 * pDiffer, g, b };
}

/** CHSH S = E00 + E01 + E10 - E11 at the four angles of k. */
export function modelS(h: HiddenParams, k: Knobs): number {
  const E = (x: number, y: number) => model(h, k, k.angles[x]! / 100, k.angles[2 + y]! / 100).E;
  return E(0, 0) + E(0, 1) + E(1, 0) - E(1, 1);
}

/** |observed - n p| / sqrt(n p (1 - p)): binomial z-score. */
export function zScore(observed: number, n: number, p: number): number {
  const sd = Math.sqrt(n * p * (1 - p));
  return sd === 0 ? (observed === n * p ? 0 : Infinity) : Math.abs(observed - n * p) / sd;
}
