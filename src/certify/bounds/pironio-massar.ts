/**
 * Classical side information: Pironio et al., Nature 464, 1021 (2010),
 *   f(S) = 1 - log2(1 + sqrt(2 - S^2/4)) per trial,
 * in the corrected finite-statistics form of Pironio & Massar, PRA 87,
 * 012336 (2013):
 *   k = n f(S_thr - mu) - log2(K / eps_EA),  mu the Azuma-Hoeffding deviation at eps_s eps_EA / K,
 * S_thr from the fixed grid of K thresholds. Derivation: docs/bounds.md.
 */
import { azumaDeviation, EAT_THRESHOLD_GRID_SIZE, eatThresholdS, pironioMinEntropy, type EpsSplit } from '../bounds.ts';
import { VARIABLE_LENGTH_NOTE, type BlockStats, type Bound, type BoundEvaluation } from './bound.ts';

export const pironioMassar: Bound = {
  name: 'pironio-massar',
  adversary: 'classical',
  assumptions: [],
  modes: ['uniform'],
  evaluate({ trials, sEstimate }: BlockStats, eps: EpsSplit): BoundEvaluation {
    const thr = eatThresholdS(sEstimate);
    const epsEA = eps.estimation / EAT_THRESHOLD_GRID_SIZE;
    const sAt = thr === null ? null : thr - azumaDeviation(trials, eps.smoothing * epsEA);
    return {
      entropyBits: sAt === null ? 0 : trials * pironioMinEntropy(sAt) - Math.log2(1 / epsEA),
      details: {
        formula: `Pironio 2010 / Pironio-Massar 2013: n * (1 - log2(1 + sqrt(2 - S^2/4))) at S = S_thr - mu (Azuma-Hoeffding at eps_s eps_EA), minus log2(1/eps_EA); eps_EA / ${EAT_THRESHOLD_GRID_SIZE} thresholds; ${VARIABLE_LENGTH_NOTE}`,
        sEvaluated: sAt,
      },
    };
  },
};
