/**
 * Counts of a trial run, for the verification step: the 16 counts
 * N(a, b | x, y), singles and double clicks, and the trials lost.
 *
 * Binning (fixed before data, as in the certified stream, certify/outcomes.ts): a = 1 iff
 * A1 clicked and A0 did not, else 0; the same for b. No trial is dropped: a
 * no-click trial counts as a = b = 0 (PROTOCOL 1: every trial is reported).
 */
import { RECORD_BIT } from '../protocol/types.ts';
import { pironioBitsPerTrial, quantumBitsPerTrial } from './click-model.ts';

export interface TrialTally {
  trials: number;
  /** Trials the chip reported lost (GAP) or missing indices: unknown, not counted in S. */
  lostTrials: number;
  /** counts[(x << 1) | y][(a << 1) | b]. */
  counts: number[][];
  /** Clicks per detector A0 A1 B0 B1. */
  singles: [number, number, number, number];
  /** Trials where A0 and A1 both clicked; the same for B. */
  doublesA: number;
  doublesB: number;
}

export function emptyTally(): TrialTally {
  return {
    trials: 0,
    lostTrials: 0,
    counts: [0, 1, 2, 3].map(() => [0, 0, 0, 0]),
    singles: [0, 0, 0, 0],
    doublesA: 0,
    doublesB: 0,
  };
}

/** Adds one record byte (PROTOCOL 4 TRIALS record: bit 5 x, bit 4 y, bit 3 A1, bit 2 A0, bit 1 B1, bit 0 B0). */
export function addRecord(t: TrialTally, r: number): void {
  const x = r & RECORD_BIT.X ? 1 : 0;
  const y = r & RECORD_BIT.Y ? 1 : 0;
  const a0 = r & RECORD_BIT.A0;
  const a1 = r & RECORD_BIT.A1;
  const b0 = r & RECORD_BIT.B0;
  const b1 = r & RECORD_BIT.B1;
  const a = a1 && !a0 ? 1 : 0;
  const b = b1 && !b0 ? 1 : 0;
  t.counts[(x << 1) | y]![(a << 1) | b]!++;
  t.trials++;
  if (a0) t.singles[0]++;
  if (a1) t.singles[1]++;
  if (b0) t.singles[2]++;
  if (b1) t.singles[3]++;
  if (a0 && a1) t.doublesA++;
  if (b0 && b1) t.doublesB++;
}

export interface ChshEstimate {
  s: number;
  /** One standard deviation of s: Var E_xy = (1 - E_xy^2) / N_xy, the four independent. */
  sError: number;
  correlators: [number, number, number, number];
  /** Certified bits per trial at the point estimate of S (Pironio et al. 2010 bound, classical side information). */
  bitsPerTrial: number;
  /** Asymptotic rate against quantum side information at the point estimate (entropy accumulation). */
  quantumBitsPerTrial: number;
}

/** S = E00 + E01 + E10 - E11 from the counts (PROTOCOL 7), each E = (N(a=b) - N(a!=b)) / N_xy. */
export function chshFromTally(t: TrialTally): ChshEstimate {
  const correlators = [0, 0, 0, 0] as [number, number, number, number];
  let variance = 0;
  for (let xy = 0; xy < 4; xy++) {
    const [n00, n01, n10, n11] = t.counts[xy] as [number, number, number, number];
    const n = n00 + n01 + n10 + n11;
    const e = n > 0 ? (n00 + n11 - n01 - n10) / n : 0;
    correlators[xy] = e;
    variance += n > 0 ? (1 - e * e) / n : 1;
  }
  const s = correlators[0] + correlators[1] + correlators[2] - correlators[3];
  return {
    s,
    sError: Math.sqrt(variance),
    correlators,
    bitsPerTrial: pironioBitsPerTrial(s),
    quantumBitsPerTrial: quantumBitsPerTrial(s),
  };
}

/**
 * Multi-pair parameter from the double clicks of station A: with k = 2 pairs
 * w.p. g2 b^2 / 2 (PROTOCOL 7) and the two photons landing in different
 * detectors half the time, P(A0 and A1) = g2 b^2 eta0 eta1 / 4 + dark terms,
 * while P(A0) P(A1) = b^2 eta0 eta1 / 4 to first order: their ratio is g2
 * (the heralding-free second-order correlation of the source). Dark
 * coincidences are subtracted to first order. Null when there are too few
 * double clicks to say (fewer than 20).
 */
export function g2FromTally(
  t: TrialTally,
  darkProbability: readonly number[] = [0, 0, 0, 0],
): { value: number; error: number } | null {
  if (t.trials === 0 || t.doublesA < 20) return null;
  const p0 = t.singles[0] / t.trials;
  const p1 = t.singles[1] / t.trials;
  const pDouble = t.doublesA / t.trials;
  // Accidental doubles: a dark count in one detector while the other clicked.
  const accidental = darkProbability[0]! * p1 + darkProbability[1]! * p0;
  const value = Math.max(0, (pDouble - accidental) / (p0 * p1));
  return { value, error: value / Math.sqrt(t.doublesA) };
}
