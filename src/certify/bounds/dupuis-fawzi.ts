/**
 * Quantum side information with host spot-checking, improved second order:
 * Dupuis & Fawzi, IEEE Trans. Inf. Theory 65, 7596 (2019), arXiv:1805.11652
 * (DF19). For any alpha in (1, 2):
 *   k = n f_t(gamma omega_thr) - n ((alpha - 1)/(2 - alpha)) (ln 2 / 2) V^2
 *       - (1 - 2 log2(eps_s eps_EA / K)) / (alpha - 1) - n (alpha - 1)^2 K_alpha,
 *   V = log2(2 d_O^2 + 1) + sqrt(2 + Var(f)),  Var(f) <= g'^2 / gamma,  Max(f) - Min(f) <= g' / gamma,
 * maximised over the tangent point and alpha. The statement is transcribed
 * from two implementations (George-Lin-Lutkenhaus 2022, Theorem 15; Brown-
 * Ragy-Colbeck 2020, Lemma 3.3), taking the larger loss wherever they could
 * differ; the certificate states this (DF19_ASSUMPTION). Derivation and
 * sources: docs/bounds.md.
 */
import {
  EAT_OUTPUT_DIMENSION,
  EAT_THRESHOLD_GRID_SIZE,
  maximizeOverTangent,
  type EatBound,
  type EpsSplit,
} from '../bounds.ts';
import { NO_EAT_BOUND } from './adfrv-spot-check.ts';
import { eatAtThreshold, type BlockStats, type Bound, type BoundEvaluation } from './bound.ts';

/** The assumption a certificate that used the DF19 bound adds to its list (file comment: the transcription). */
export const DF19_ASSUMPTION =
  'the Dupuis-Fawzi 2019 entropy accumulation statement as implemented by George-Lin-Lutkenhaus 2022 (Theorem 15) and Brown-Ragy-Colbeck 2020 (Lemma 3.3); not checked against the paper text';

/** Var(f) and Max(f) - Min_Sigma(f) of the wins-only min-tradeoff function (docs/bounds.md): upper bounds s^2/gamma and s/gamma. */
export function spotCheckDf19Pieces(slope: number, gamma: number): { variance: number; range: number } {
  return { variance: (slope * slope) / gamma, range: slope / gamma };
}

/**
 * K_alpha of DF19, the larger of its two published forms (docs/bounds.md):
 *   1 / (6 (2 - alpha)^3 ln 2) 2^((alpha - 1)(log2 d_O + R)) ln^3(2^(log2 d_O + R) + e^2),
 *   (2 - alpha)^3 / (6 (3 - 2 alpha)^3 ln 2) 2^(beta (2 log2 d_O + R)) ln^3(2^(2 log2 d_O + R) + e^2),
 * beta = (alpha - 1)/(2 - alpha), R = Max(f) - Min_Sigma(f). ln(2^E + e^2) is computed without overflow.
 */
export function df19K(alpha: number, range: number, outputDimension = EAT_OUTPUT_DIMENSION): number {
  const lnOf = (e: number): number => e * Math.LN2 + Math.log1p(Math.exp(2 - e * Math.LN2));
  const e1 = Math.log2(outputDimension) + range;
  const k1 = (1 / (6 * (2 - alpha) ** 3 * Math.LN2)) * 2 ** ((alpha - 1) * e1) * lnOf(e1) ** 3;
  const e2 = 2 * Math.log2(outputDimension) + range;
  const k2 =
    ((2 - alpha) ** 3 / (6 * (3 - 2 * alpha) ** 3 * Math.LN2)) *
    2 ** (((alpha - 1) / (2 - alpha)) * e2) *
    lnOf(e2) ** 3;
  return Math.max(k1, k2);
}

/** DF19's loss in bits for n trials at one alpha in (1, 2) (file comment). */
export function df19Loss(
  trials: number,
  alpha: number,
  variance: number,
  range: number,
  logTerm: number,
  outputDimension = EAT_OUTPUT_DIMENSION,
): number {
  const a = alpha - 1;
  const v = Math.log2(2 * outputDimension * outputDimension + 1) + Math.sqrt(2 + variance);
  return (
    trials * (a / (2 - alpha)) * (Math.LN2 / 2) * v * v +
    logTerm / a +
    trials * a * a * df19K(alpha, range, outputDimension)
  );
}

/**
 * The smallest DF19 loss over alpha in (1, 2): golden-section search on
 * ln(alpha - 1) in [ln 1e-14, ln 0.5] (each term is convex in alpha - 1 there;
 * the tests check it against a dense grid).
 */
export function df19BestLoss(
  trials: number,
  variance: number,
  range: number,
  logTerm: number,
  outputDimension = EAT_OUTPUT_DIMENSION,
): { alpha: number; lossBits: number } {
  const at = (x: number): number => df19Loss(trials, 1 + Math.exp(x), variance, range, logTerm, outputDimension);
  const phi = (Math.sqrt(5) - 1) / 2;
  let lo = Math.log(1e-14);
  let hi = Math.log(0.5);
  let x1 = hi - phi * (hi - lo);
  let x2 = lo + phi * (hi - lo);
  let f1 = at(x1);
  let f2 = at(x2);
  for (let i = 0; i < 100; i++) {
    if (f1 < f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - phi * (hi - lo);
      f1 = at(x1);
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + phi * (hi - lo);
      f2 = at(x2);
    }
  }
  const x = f1 < f2 ? x1 : x2;
  return { alpha: 1 + Math.exp(x), lossBits: Math.min(f1, f2) };
}

/**
 * The DF19 spot-checking bound for n trials whose won test rounds are at
 * least n gamma omegaThreshold: max over the tangent point omega_t in
 * (3/4, omegaThreshold] (bounds.ts maximizeOverTangent's grid) and alpha of
 * n f_t(gamma omega_thr) - loss. secondOrderPerTrial is the whole loss per
 * trial. epsEA is the error for this one threshold.
 */
export function spotCheckEntropyDf19(
  trials: number,
  omegaThreshold: number,
  gamma: number,
  epsSmooth: number,
  epsEA: number,
  outputDimension = EAT_OUTPUT_DIMENSION,
): EatBound {
  if (!(gamma > 0 && gamma <= 1)) return NO_EAT_BOUND;
  const logTerm = 1 - 2 * Math.log2(epsSmooth * epsEA);
  return maximizeOverTangent(
    trials,
    omegaThreshold,
    (slope) => {
      const { variance, range } = spotCheckDf19Pieces(slope, gamma);
      // maximizeOverTangent subtracts v sqrt(n): pass the loss in that form
      return df19BestLoss(trials, variance, range, logTerm, outputDimension).lossBits / Math.sqrt(trials);
    },
    400,
  );
}

export const dupuisFawziSpotCheck: Bound = {
  name: 'dupuis-fawzi-spot-check',
  adversary: 'quantum',
  assumptions: [DF19_ASSUMPTION],
  modes: ['spot-check'],
  evaluate({ trials, sEstimate, testRate: gamma }: BlockStats, eps: EpsSplit): BoundEvaluation {
    const formula = `Dupuis-Fawzi 2019 EAT (improved second order; statement as in George-Lin-Lutkenhaus 2022 Thm 15 and Brown-Ragy-Colbeck 2020 Lemma 3.3, not checked against the paper's text) with spot-checking (gamma = ${gamma}): n * f_t(gamma omega_thr) - min over alpha of the loss, V^2 with Var(f) <= g'^2/gamma, d_O = ${EAT_OUTPUT_DIMENSION}, eps_EA / ${EAT_THRESHOLD_GRID_SIZE} thresholds`;
    const epsEA = eps.estimation / EAT_THRESHOLD_GRID_SIZE;
    return eatAtThreshold(sEstimate, formula, (omegaThr) =>
      spotCheckEntropyDf19(trials, omegaThr, gamma, eps.smoothing, epsEA),
    );
  },
};
