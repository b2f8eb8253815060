/**
 * Quantum side information with host spot-checking (test rounds with
 * probability gamma < 1): the EAT bound of ADFRV 2018 (Methods) / Arnon-
 * Friedman, Renner, Vidick, SIAM J. Comput. 48, 181 (2019), protocol DIRE,
 * with the min-tradeoff function f_t(p) = tangent of g(p(1)/gamma):
 *   k = max over omega_t of n f_t(gamma omega_thr) - v sqrt(n),
 *   v = 2 (log2(1 + 2 d_O) + ceil(g'(omega_t) / gamma)) sqrt(1 - 2 log2(eps_s eps_EA / K)),  d_O = 4.
 * At gamma = 1 it is exactly adfrv-eat.ts. Derivation: docs/bounds.md.
 */
import {
  EAT_OUTPUT_DIMENSION,
  EAT_THRESHOLD_GRID_SIZE,
  maximizeOverTangent,
  type EatBound,
  type EpsSplit,
} from '../bounds.ts';
import { eatAtThreshold, VARIABLE_LENGTH_NOTE, type BlockStats, type Bound, type BoundEvaluation } from './bound.ts';

/** ADFRV/ARV second-order coefficient v for spot-checking (file comment). */
export function spotCheckV(
  slope: number,
  gamma: number,
  epsSmooth: number,
  epsEA: number,
  outputDimension = EAT_OUTPUT_DIMENSION,
): number {
  return (
    2 *
    (Math.log2(1 + 2 * outputDimension) + Math.ceil(Math.abs(slope) / gamma)) *
    Math.sqrt(1 - 2 * Math.log2(epsSmooth * epsEA))
  );
}

/** No certified entropy (gamma outside (0, 1]). */
export const NO_EAT_BOUND: EatBound = {
  entropyBits: -Infinity,
  tangentOmega: NaN,
  firstOrderPerTrial: 0,
  secondOrderPerTrial: Infinity,
};

/** The spot-checking event: n trials whose won test rounds are at least n gamma omegaThreshold, and its errors. */
export interface SpotCheckEvent {
  trials: number;
  omegaThreshold: number;
  gamma: number;
  epsSmooth: number;
  /** The error of this one threshold (after any union bound). */
  epsEA: number;
}

/**
 * The spot-checking EAT bound for n trials whose won test rounds are at
 * least n gamma omegaThreshold: max over omega_t in (3/4, omegaThreshold] of
 *   n (g(omega_t) + g'(omega_t) (omegaThreshold - omega_t)) - v(omega_t, gamma) sqrt(n).
 * epsEA is the error for this one threshold (after any union bound).
 */
export function spotCheckEntropy(event: SpotCheckEvent, outputDimension = EAT_OUTPUT_DIMENSION): EatBound {
  const { trials, omegaThreshold, gamma, epsSmooth, epsEA } = event;
  if (!(gamma > 0 && gamma <= 1)) return NO_EAT_BOUND;
  return maximizeOverTangent(
    trials,
    omegaThreshold,
    (slope) => spotCheckV(slope, gamma, epsSmooth, epsEA, outputDimension),
    2000,
  );
}

export const adfrvSpotCheck: Bound = {
  name: 'adfrv-spot-check',
  adversary: 'quantum',
  assumptions: [],
  modes: ['spot-check'],
  evaluate({ trials, sEstimate, testRate: gamma }: BlockStats, eps: EpsSplit): BoundEvaluation {
    const formula = `ADFRV 2018 / ARV 2019 EAT with spot-checking (gamma = ${gamma}): n * f_t(gamma omega_thr) - v sqrt(n), v with ceil(g'/gamma), d_O = ${EAT_OUTPUT_DIMENSION}, eps_EA / ${EAT_THRESHOLD_GRID_SIZE} thresholds; ${VARIABLE_LENGTH_NOTE}`;
    const epsEA = eps.estimation / EAT_THRESHOLD_GRID_SIZE;
    return eatAtThreshold(sEstimate, formula, (omegaThr) =>
      spotCheckEntropy({ trials, omegaThreshold: omegaThr, gamma, epsSmooth: eps.smoothing, epsEA }),
    );
  },
};
