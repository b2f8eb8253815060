/**
 * Early stopping with probability estimation: a run of trials ends as soon
 * as its certified entropy reaches a target, so the first output arrives
 * after as few trials as the statistics allow (Knill et al., PRR 2, 033465
 * (2020): the PEF product is a test supermartingale, and optional stopping
 * keeps E[T_tau mu(C^tau|Z^tau)^beta] <= 1 for a stopping time tau bounded by
 * the largest run; README.md, "Why the argument holds for the exact event").
 *
 * Stopping rule (stated in the certificate): stop at the first trial tau with
 *   log2(T_tau)/beta >= L* = K + 2 log2(1/eps_ext) - log2(eps_s kappa)/beta - log2(kappa),
 * K the target output bits; one event (the rule fired), so kappa = eps_EA
 * with no union bound. Then H_min^{eps_s}(C^tau | Z E, fired) >= L* + log2(eps_s kappa)/beta
 * + log2(kappa) = K + 2 log2(1/eps_ext), and the leftover hash lemma gives K
 * bits. A lost trial has F = 0: the run cannot fire after it.
 *
 * The certifier (--target-bits, ../bounds/pef-stopping.ts) checks the same
 * threshold at the end of each segment of 4096 trials rather than at every
 * trial: a stopping time all the same, at most one segment later.
 */
import { countCell } from '../outcomes.ts';

/** L*: the log-probability threshold (bits) at which a stopped run certifies targetBits output bits (file comment). */
export function stoppingThreshold(
  targetBits: number,
  beta: number,
  epsSmooth: number,
  kappa: number,
  epsExtraction: number,
): number {
  return (
    targetBits + 2 * Math.log2(1 / epsExtraction) - (Math.log2(epsSmooth) + Math.log2(kappa)) / beta - Math.log2(kappa)
  );
}

/**
 * The first trial count tau (1-based) at which log2(prod F)/beta over the
 * records reaches thresholdBits, or null if the records end first.
 */
export function stoppingTrial(
  records: Uint8Array,
  factors: Float64Array,
  beta: number,
  thresholdBits: number,
): number | null {
  const logF = Array.from(factors, (f) => Math.log2(f) / beta);
  let l = 0;
  for (let i = 0; i < records.length; i++) {
    l += logF[countCell(records[i] as number)] as number;
    if (l >= thresholdBits) return i + 1;
  }
  return null;
}
