/**
 * Choosing a PEF and its power beta for a block before its data: the PEF
 * optimal for a design behaviour (the calibration profile's, a previous
 * block's frequencies, or a fixed default), with beta maximising the entropy
 * the block would certify if its frequencies were the design's
 * (Knill et al., PRR 2, 033465 (2020), "Optimizing PEFs" and "Choosing
 * the power beta": the certified entropy n r(beta)/beta - penalty(beta) is
 * traded off over beta). The PEF is re-verified on every extreme point
 * (solver.ts pefInvalidReason) before it is returned.
 */
import { goldenSectionMin } from '../../math/index.ts';
import { type Behaviour, modelExtremePoints, type PefModel, UNIFORM_SETTINGS } from './model.ts';
import { optimalPef, pefInvalidReason, withMargin, type PefSolution } from './solver.ts';

/** Smallest and largest power searched. */
export const BETA_MIN = 1e-5;
export const BETA_MAX = 0.5;

/**
 * Weight of the uniform behaviour mixed into a design behaviour, so that every
 * cell has nu > 0 (a zero there would give F = 0 for an outcome that may still
 * occur, and T = 0 for the block).
 */
export const DESIGN_REGULARISATION = 1e-3;

export interface PefDesign {
  model: PefModel;
  /** F(c, z) at index 8x + 4y + 2a + b, verified on the model's extreme points. */
  factors: Float64Array;
  beta: number;
  /** sum nu log2 F / beta at the design behaviour: the expected log-probability rate, bits per trial. */
  expectedRateBits: number;
}

/** nu(c, z) = p(z) q(c|z) of a behaviour mixed with DESIGN_REGULARISATION of the uniform one. */
export function designFrequencies(q: Behaviour, settings: readonly number[] = UNIFORM_SETTINGS): Float64Array {
  const d = DESIGN_REGULARISATION;
  return q.map((p, i) => (settings[i >> 2] ?? 0) * ((1 - d) * p + d / 4));
}

/**
 * The PEF maximising score(log2Rate, beta) over beta in [BETA_MIN, BETA_MAX]:
 * golden-section search on ln(beta), each step warm-started from the
 * previous solution (the score is unimodal in beta for these models; the
 * tests compare it with a dense grid).
 */
export function bestPef(
  nu: Float64Array,
  points: readonly Behaviour[],
  settings: readonly number[],
  score: (log2Rate: number, beta: number) => number,
  gapBits: (beta: number) => number = () => 1e-10,
): { solution: PefSolution; score: number } {
  let start: Float64Array | undefined;
  let best: { solution: PefSolution; score: number } | undefined;
  const negScore = (x: number): number => {
    const beta = Math.exp(x);
    const solution = optimalPef(nu, points, beta, settings, { start, gapBits: gapBits(beta), maxIterations: 20_000 });
    start = solution.weights;
    const value = score(solution.log2Rate, beta);
    if (best === undefined || value > best.score) best = { solution, score: value };
    return -value;
  };
  // a bracket of ln(0.5/1e-5) = 10.8 shrunk to below 0.01: 15 steps
  goldenSectionMin(negScore, Math.log(BETA_MIN), Math.log(BETA_MAX), 15);
  if (best === undefined) throw new Error('no beta evaluated');
  return best;
}

/**
 * The PEF for a block of `trials` trials designed at behaviour q: beta
 * maximises n r/beta + log2(eps_s kappa)/beta + log2(kappa) (entropy.ts
 * pefEntropyBits at the design frequencies), the duality gap is held below
 * 0.1 bit of the block's entropy (at most 20,000 EM steps per beta: a
 * solution stopped early is feasible, only less good). Throws if the result fails the validity
 * check (an internal error: never used unverified).
 */
export function designPef(
  q: Behaviour,
  trials: number,
  epsSmooth: number,
  kappa: number,
  model: PefModel = 'ns-tsirelson',
): PefDesign {
  const points = modelExtremePoints(model);
  const nu = designFrequencies(q);
  const penalty = Math.log2(epsSmooth) + Math.log2(kappa);
  // n * gap / beta <= 0.1 bit of the block's entropy (a looser stop only lowers the rate: F stays feasible)
  const gapBits = (beta: number): number => Math.max(1e-13, (0.1 * beta) / trials);
  const { solution } = bestPef(nu, points, UNIFORM_SETTINGS, (r, beta) => (trials * r + penalty) / beta, gapBits);
  const factors = withMargin(solution.factors);
  const reason = pefInvalidReason(factors, points, solution.beta, UNIFORM_SETTINGS);
  if (reason !== null) throw new Error(`PEF design failed its own check: ${reason}`);
  return { model, factors, beta: solution.beta, expectedRateBits: solution.log2Rate / solution.beta };
}
