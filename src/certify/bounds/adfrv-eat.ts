/**
 * Quantum side information, every trial a test round: the entropy
 * accumulation theorem as applied to CHSH by Arnon-Friedman, Dupuis, Fawzi,
 * Renner, Vidick, Nat. Commun. 9, 459 (2018) (ADFRV):
 *   k = max over omega_t of n f_t(omega_thr) - v sqrt(n),
 *   v = 2 (log2(1 + 2 d_O) + ceil(g'(omega_t))) sqrt(1 - 2 log2(eps_s eps_EA / K)),  d_O = 4,
 * f_t the tangent of g(omega) = 1 - h(1/2 + 1/2 sqrt(16 omega (omega - 1) + 3)) at omega_t,
 * omega_thr from the fixed grid of K thresholds. Derivation: docs/bounds.md.
 */
import { EAT_OUTPUT_DIMENSION, EAT_THRESHOLD_GRID_SIZE, eatEntropy, type EpsSplit } from '../bounds.ts';
import { eatAtThreshold, VARIABLE_LENGTH_NOTE, type BlockStats, type Bound, type BoundEvaluation } from './bound.ts';

export const adfrvEat: Bound = {
  name: 'adfrv-eat',
  adversary: 'quantum',
  assumptions: [],
  modes: ['uniform'],
  evaluate({ trials, sEstimate }: BlockStats, eps: EpsSplit): BoundEvaluation {
    const formula = `ADFRV 2018 EAT: n * f_t(omega_thr) - v sqrt(n), d_O = ${EAT_OUTPUT_DIMENSION}, eps_EA / ${EAT_THRESHOLD_GRID_SIZE} thresholds; ${VARIABLE_LENGTH_NOTE}`;
    const epsEA = eps.estimation / EAT_THRESHOLD_GRID_SIZE;
    return eatAtThreshold(sEstimate, formula, (omegaThr) => eatEntropy(trials, omegaThr, eps.smoothing, epsEA));
  },
};
