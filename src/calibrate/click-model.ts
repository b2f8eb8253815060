/**
 * The per-trial click statistics of PROTOCOL section 7, in closed form, for given (estimated) chip values and
 * settings. The calibration uses it to predict S and the certified entropy of an operating point from what it
 * measured, and to correct its efficiency proxies for dark counts and multi-pair emission. More in README.md
 * (click-model.ts).
 */
import { chshRate, omegaOfS, pironioMinEntropy } from '../certify/bounds.ts';
import { pairCorrelation } from './models.ts';

/** Detector order everywhere, as on the wire (PROTOCOL 4 STATUS bias, COUNTS singles). */
export const DETECTORS = ['A0', 'A1', 'B0', 'B1'] as const;
export type Quad = [number, number, number, number];

export const A0 = 1;
export const A1 = 2;
export const B0 = 4;
export const B1 = 8;

export interface ClickModel {
  /** Pair probability per trial b at the pump in force. */
  brightness: number;
  /** Multi-pair parameter g2: P(2 pairs) = g2 b^2 / 2. */
  g2: number;
  visibility: number;
  rotDeg: number;
  /** Detection efficiency per detector A0 A1 B0 B1 at its bias (B's without the gate). */
  efficiency: Quad;
  /** Share g of B's photons inside B's gate. */
  gateFraction: number;
  /** Per-gate dark click probability per detector. */
  darkProbability: Quad;
}

function bit(mask: number, b: number): number {
  return mask & b ? 1 : 0;
}

/** P(no detector in `mask` clicks) at analyzer angles alpha (A) and beta (B), degrees. */
export function noClickProbability(m: ClickModel, alphaDeg: number, betaDeg: number, mask: number): number {
  const c = pairCorrelation(alphaDeg, betaDeg, m.visibility, m.rotDeg);
  const pSame = (1 + c) / 4;
  const pDiff = (1 - c) / 4;
  const [ea0, ea1, eb0, eb1] = m.efficiency;
  const g = m.gateFraction;
  const missA0 = 1 - bit(mask, A0) * ea0;
  const missA1 = 1 - bit(mask, A1) * ea1;
  const missB0 = 1 - bit(mask, B0) * eb0 * g;
  const missB1 = 1 - bit(mask, B1) * eb1 * g;
  const q = pSame * (missA0 * missB0 + missA1 * missB1) + pDiff * (missA0 * missB1 + missA1 * missB0);
  const b = Math.min(1, Math.max(0, m.brightness));
  const p2 = (m.g2 * b * b) / 2;
  const p1 = b - p2;
  const p0 = 1 - b;
  let dark = 1;
  for (let i = 0; i < 4; i++) if (mask & (1 << i)) dark *= 1 - m.darkProbability[i]!;
  return dark * (p0 + p1 * q + p2 * q * q);
}

/** Expected singles and coincidences per trial, as MEASURE_COUNTS reports them (PROTOCOL 4 COUNTS). */
export function expectedCountsPerTrial(
  m: ClickModel,
  alphaDeg: number,
  betaDeg: number,
): { singles: Quad; coincidences: Quad } {
  const none = (mask: number) => noClickProbability(m, alphaDeg, betaDeg, mask);
  const singles = [A0, A1, B0, B1].map((d) => 1 - none(d)) as Quad;
  // COUNTS coincidences order: A0B0, A0B1, A1B0, A1B1; P(i and j) = 1 - P(!i) - P(!j) + P(!i and !j).
  const pairs: [number, number][] = [
    [A0, B0],
    [A0, B1],
    [A1, B0],
    [A1, B1],
  ];
  const coincidences = pairs.map(([i, j]) => 1 - none(i) - none(j) + none(i | j)) as Quad;
  return { singles, coincidences };
}

/**
 * P(A0 and A1 both click) and P(B0 and B1 both click): the double clicks a
 * trial run shows, which reveal multi-pair emission.
 */
export function doubleClickProbability(m: ClickModel, alphaDeg: number, betaDeg: number, station: 'A' | 'B'): number {
  const [x, y] = station === 'A' ? [A0, A1] : [B0, B1];
  const none = (mask: number) => noClickProbability(m, alphaDeg, betaDeg, mask);
  return 1 - none(x) - none(y) + none(x | y);
}

/**
 * Correlator E = P(a = b) - P(a != b) with the fixed binning of the
 * certified stream (certify/outcomes.ts): a = 1 iff A1 clicked and A0 did not, else 0
 * (no click and double click give 0); the same for b.
 */
export function correlator(m: ClickModel, alphaDeg: number, betaDeg: number): number {
  const none = (mask: number) => noClickProbability(m, alphaDeg, betaDeg, mask);
  // P(A1 and not A0) = P(not A0) - P(not A0, not A1).
  const pa1 = none(A0) - none(A0 | A1);
  const pb1 = none(B0) - none(B0 | B1);
  // P(A1, not A0, B1, not B0) by inclusion-exclusion over the two required clicks.
  const p11 = none(A0 | B0) - none(A0 | B0 | A1) - none(A0 | B0 | B1) + none(A0 | A1 | B0 | B1);
  const pDiffer = pa1 + pb1 - 2 * p11;
  return 1 - 2 * pDiffer;
}

/**
 * CHSH value S = E00 + E01 + E10 - E11 (PROTOCOL 7), over all trials, for
 * analyzer angles [A(x=0), A(x=1), B(y=0), B(y=1)] in degrees.
 */
export function chshValue(m: ClickModel, anglesDeg: readonly [number, number, number, number]): number {
  const [a0, a1, b0, b1] = anglesDeg;
  return correlator(m, a0, b0) + correlator(m, a0, b1) + correlator(m, a1, b0) - correlator(m, a1, b1);
}

/**
 * Certified min-entropy per trial against classical side information,
 * Pironio et al., Nature 464, 1021 (2010): f(S) = 1 - log2(1 + sqrt(2 - S^2/4)),
 * zero at S <= 2; the certified stream's own implementation (src/certify).
 */
export const pironioBitsPerTrial: (s: number) => number = pironioMinEntropy;

/**
 * Asymptotic entropy rate per trial against quantum side information
 * (Arnon-Friedman et al., Nat. Commun. 9, 459 (2018), the CHSH rate
 * 1 - h(1/2 + 1/2 sqrt(S^2/4 - 1))), at winning probability omega = 1/2 + S/8.
 */
export function quantumBitsPerTrial(s: number): number {
  return chshRate(omegaOfS(s));
}
