/**
 * CHSH estimate of one block (issue 3 scope 3).
 *
 * Per-trial estimator (the one the martingale bound is built on): for a
 * trial with settings (x, y), chosen with probability q(x, y), and outcomes
 * (a, b),
 *
 *   I = (-1)^(x*y) * (-1)^(a XOR b) / q(x, y)
 *
 * so that E[I] = sum_xy (-1)^(xy) E_xy = E00 + E01 + E10 - E11 = S whatever
 * the device does (the settings are independent of the device: PROTOCOL 6),
 * i.e. I is an unbiased estimator of S trial by trial. With uniform settings
 * q = 1/4 and I = 8 * win - 4 in {-4, +4}, where win = [a XOR b = x AND y]
 * is the CHSH game; the win probability is omega = 1/2 + S/8.
 *
 * Lost trials (PROTOCOL 6: GAP or missing indices) are scored at the worst
 * value of I, -1/q_min = -4 (a lost CHSH game): never dropped, and a lost
 * trial can never raise the estimate.
 */
import { countsFromHistogram } from './outcomes.ts';

/** Setting probability q(x, y) for internal and host settings alike (uniform; issue 3 scope 3). */
export const SETTING_PROBABILITY = 0.25;
/** Range of the per-trial estimator I: [-1/q, +1/q]. */
export const ESTIMATOR_MAX = 1 / SETTING_PROBABILITY;
/** Worst case of I, the score of a lost trial. */
export const LOST_TRIAL_SCORE = -ESTIMATOR_MAX;

/** Per-trial estimator I for a cell 8x + 4y + 2a + b (uniform settings). */
export function estimatorOfCell(cell: number): number {
  const x = (cell >> 3) & 1;
  const y = (cell >> 2) & 1;
  const a = (cell >> 1) & 1;
  const b = cell & 1;
  const sign = ((x & y) ^ a ^ b) === 0 ? 1 : -1;
  return sign / SETTING_PROBABILITY;
}

export interface ChshEstimate {
  /** Trials in the block, lost ones included. */
  trials: number;
  /** Trials lost (scored at the worst case). */
  lostTrials: number;
  /** N(a,b|x,y), indexed 8x + 4y + 2a + b. */
  counts: number[];
  /** Won CHSH games among the recorded trials (a lost trial is a lost game). */
  wins: number;
  /** Mean of the per-trial estimator over all trials, lost ones at -1/q: unbiased for S. */
  sEstimate: number;
  /** Win fraction over all trials (lost = lost game): omega-hat = 1/2 + S-hat/8 for uniform settings. */
  winFraction: number;
  /** Correlators E_xy over the recorded trials of each setting (ratio estimates, for display). */
  correlators: [number, number, number, number];
  /** Trials per setting pair (x,y) in order 00, 01, 10, 11, among recorded trials. */
  settingCounts: [number, number, number, number];
  /** Recorded trials (sum of settingCounts). */
  recordedTrials: number;
}

/** The estimate from the 16 counts and the number of lost trials. */
export function estimateFromCounts(counts: readonly number[], lostTrials: number): ChshEstimate {
  if (counts.length !== 16) throw new RangeError('"counts" must have 16 entries');
  let sum = 0;
  let wins = 0;
  let recorded = 0;
  const settingCounts: [number, number, number, number] = [0, 0, 0, 0];
  const same = [0, 0, 0, 0];
  for (let cell = 0; cell < 16; cell++) {
    const n = counts[cell]!;
    const value = estimatorOfCell(cell);
    sum += n * value;
    if (value > 0) wins += n;
    recorded += n;
    settingCounts[cell >> 2]! += n;
    if (((cell >> 1) & 1) === (cell & 1)) same[cell >> 2]! += n;
  }
  const trials = recorded + lostTrials;
  sum += lostTrials * LOST_TRIAL_SCORE;
  const correlators = settingCounts.map((n, xy) => (n === 0 ? 0 : (2 * same[xy]! - n) / n)) as [
    number,
    number,
    number,
    number,
  ];
  return {
    trials,
    lostTrials,
    counts: [...counts],
    wins,
    sEstimate: trials === 0 ? LOST_TRIAL_SCORE : sum / trials,
    winFraction: trials === 0 ? 0 : wins / trials,
    correlators,
    settingCounts,
    recordedTrials: recorded,
  };
}

/** The estimate from a 64-bin histogram of record bytes (bits 0..5) and the lost trials. */
export function estimateFromHistogram(histogram: ArrayLike<number>, lostTrials: number): ChshEstimate {
  return estimateFromCounts(countsFromHistogram(histogram), lostTrials);
}
