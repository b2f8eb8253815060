/**
 * The mathematics the entropy bounds share (each bound is a file in
 * bounds/, listed in bounds/registry.ts): the CHSH rate g and its slope,
 * the EAT maximisation over the tangent point, the threshold grid, the
 * Azuma-Hoeffding deviation, the eps split and the output length. Pure
 * functions; every formula cites its source; derivations in docs/bounds.md.
 *
 * Notation: n trials in the block (lost ones included, scored as lost
 * games), S-hat the mean of the per-trial estimator I (estimate.ts),
 * omega = 1/2 + S/8 the CHSH win probability with uniform settings.
 *
 * Output length (leftover hash lemma with Toeplitz hashing; Tomamichel,
 * Schaffner, Smith, Renner, IEEE Trans. Inf. Theory 57, 5524 (2011)):
 *   m = floor(k - 2 log2(1/eps_ext)), rounded down to whole bytes.
 * Total error per block: eps_EA + 2 eps_s + eps_ext (epsSplit).
 */

/** Tsirelson's bound 2 sqrt 2. */
export const S_MAX = 2 * Math.SQRT2;
/** omega for S = 2 (the local bound) and S = 2 sqrt 2. */
export const OMEGA_LOCAL = 0.75;
export const OMEGA_MAX = (2 + Math.SQRT2) / 4;
/** Range width of the per-trial estimator I in [-4, 4] (uniform settings, estimate.ts). */
export const ESTIMATOR_RANGE_WIDTH = 8;
/** ADFRV EAT: d_O, the dimension of one round's outputs (A_i, B_i). */
export const EAT_OUTPUT_DIMENSION = 4;
/** Grid of EAT thresholds: S_thr = 2 + j * step, j = 1..size, step 2^-10 (about 0.001). */
export const EAT_THRESHOLD_STEP = 2 ** -10;
export const EAT_THRESHOLD_GRID_SIZE = Math.floor((S_MAX - 2) / EAT_THRESHOLD_STEP);

/** omega = 1/2 + S/8 (CHSH game with uniform settings; ADFRV, CHSH game). */
export function omegaOfS(s: number): number {
  return 0.5 + s / 8;
}
export function sOfOmega(omega: number): number {
  return 8 * omega - 4;
}

/** Binary entropy h(p) in bits. */
export function binaryEntropy(p: number): number {
  if (p <= 0 || p >= 1) return 0;
  return -p * Math.log2(p) - (1 - p) * Math.log2(1 - p);
}

/**
 * Azuma-Hoeffding: for martingale differences D_i = I_i - E[I_i | past]
 * each confined to an interval of width c (here c = 8: I in [-4, 4]),
 *   P( (1/n) sum D_i >= t ) <= exp(-2 n t^2 / c^2)
 * (Hoeffding's lemma inside Azuma's inequality; Azuma, Tohoku Math. J. 19,
 * 357 (1967)). Solving exp(-2 n t^2 / c^2) = eps gives the deviation
 *   t = c sqrt(ln(1/eps) / (2 n)).
 * Pironio et al. 2010 (Methods) use the same inequality with
 * |D_i| <= 1/q + I_q, i.e. a width c = 2 (1/q + I_q).
 */
export function azumaDeviation(trials: number, eps: number, rangeWidth = ESTIMATOR_RANGE_WIDTH): number {
  if (!(trials > 0)) return Infinity;
  return rangeWidth * Math.sqrt(Math.log(1 / eps) / (2 * trials));
}

/** Lower confidence bound on the mean Bell value at error eps (Azuma-Hoeffding, above). */
export function sLowerBound(sEstimate: number, trials: number, eps: number): number {
  return sEstimate - azumaDeviation(trials, eps);
}

/**
 * Pironio et al., Nature 464, 1021 (2010), main text: min-entropy of the
 * outcome pair per trial against classical side information,
 *   f(S) = 1 - log2(1 + sqrt(2 - S^2/4)),
 * 0 at S = 2, 1 bit at S = 2 sqrt 2. Defined as 0 for S <= 2 (no violation,
 * no certified randomness) and capped at S = 2 sqrt 2.
 */
export function pironioMinEntropy(s: number): number {
  if (!(s > 2)) return 0;
  const sc = Math.min(s, S_MAX);
  return 1 - Math.log2(1 + Math.sqrt(Math.max(0, 2 - (sc * sc) / 4)));
}

/**
 * ADFRV (Nat. Commun. 9, 459 (2018)), the single-round CHSH bound used for
 * the min-tradeoff function (originally Pironio et al., New J. Phys. 11,
 * 045021 (2009)):
 *   g(omega) = 1 - h(1/2 + 1/2 sqrt(16 omega (omega - 1) + 3)),
 * 0 for omega <= 3/4, 1 at omega = (2 + sqrt 2)/4.
 */
export function chshRate(omega: number): number {
  if (!(omega > OMEGA_LOCAL)) return 0;
  const w = Math.min(omega, OMEGA_MAX);
  const s = Math.sqrt(Math.max(0, 16 * w * (w - 1) + 3));
  return 1 - binaryEntropy(0.5 + 0.5 * s);
}

/**
 * g'(omega), derivative of chshRate: with s = sqrt(16 w (w-1) + 3) and
 * p = (1 + s)/2, g' = log2(p / (1 - p)) * (8 w - 4) / s
 *                   = (2 atanh(s) / (s ln 2)) * (8 w - 4),
 * which tends to 4 / ln 2 at omega = 3/4 and to infinity at omega_max.
 */
export function chshRateSlope(omega: number): number {
  const w = Math.min(Math.max(omega, OMEGA_LOCAL), OMEGA_MAX);
  const s = Math.sqrt(Math.max(0, 16 * w * (w - 1) + 3));
  const atanhOverS = s < 1e-8 ? 1 : s >= 1 ? Infinity : Math.atanh(s) / s;
  return ((2 * atanhOverS) / Math.LN2) * (8 * w - 4);
}

/** ADFRV EAT second-order coefficient v (see the file comment). */
export function eatV(slope: number, epsSmooth: number, epsEA: number, outputDimension = EAT_OUTPUT_DIMENSION): number {
  return (
    2 *
    (Math.log2(1 + 2 * outputDimension) + Math.ceil(Math.abs(slope))) *
    Math.sqrt(1 - 2 * Math.log2(epsSmooth * epsEA))
  );
}

export interface EatBound {
  /** Smooth min-entropy lower bound in bits (may be negative: nothing certified). */
  entropyBits: number;
  /** Tangent point omega_t that maximises the bound. */
  tangentOmega: number;
  /** f_t(omega_thr), bits per trial before the second-order term. */
  firstOrderPerTrial: number;
  /** v / sqrt(n), bits per trial. */
  secondOrderPerTrial: number;
}

/**
 * ADFRV EAT bound for n rounds that won at least a fraction omegaThreshold
 * of CHSH games: max over omega_t in (3/4, omegaThreshold] of
 *   n (g(omega_t) + g'(omega_t) (omegaThreshold - omega_t)) - v(omega_t) sqrt(n).
 * epsEA is the error for this one threshold (after any union bound).
 */
export function eatEntropy(
  trials: number,
  omegaThreshold: number,
  epsSmooth: number,
  epsEA: number,
  outputDimension = EAT_OUTPUT_DIMENSION,
): EatBound {
  return maximizeOverTangent(trials, omegaThreshold, (slope) => eatV(slope, epsSmooth, epsEA, outputDimension), 500);
}

/**
 * max over the tangent point omega_t in (3/4, omegaThreshold] of
 *   n (g(omega_t) + g'(omega_t) (omegaThreshold - omega_t)) - v(g'(omega_t)) sqrt(n),
 * the min-tradeoff function being the tangent of g at omega_t: a coarse grid
 * of `steps` points, then a grid 100 times finer around the best (checked
 * against a brute-force search in the tests). Shared by the all-test-rounds
 * bound (eatEntropy) and the spot-checking one (spot-check.ts), which differ
 * only in v.
 */
export function maximizeOverTangent(
  trials: number,
  omegaThreshold: number,
  vOfSlope: (slope: number) => number,
  steps: number,
): EatBound {
  const none: EatBound = {
    entropyBits: -Infinity,
    tangentOmega: NaN,
    firstOrderPerTrial: 0,
    secondOrderPerTrial: Infinity,
  };
  if (!(trials > 0) || !(omegaThreshold > OMEGA_LOCAL)) return none;
  const top = Math.min(omegaThreshold, OMEGA_MAX - 1e-12);
  const sqrtN = Math.sqrt(trials);
  let best = none;
  const evaluate = (t: number): void => {
    const slope = chshRateSlope(t);
    const first = chshRate(t) + slope * (omegaThreshold - t);
    const v = vOfSlope(slope);
    const bits = trials * first - v * sqrtN;
    if (bits > best.entropyBits)
      best = { entropyBits: bits, tangentOmega: t, firstOrderPerTrial: first, secondOrderPerTrial: v / sqrtN };
  };
  const lo = OMEGA_LOCAL + 1e-9;
  for (let i = 0; i <= steps; i++) evaluate(lo + ((top - lo) * i) / steps);
  const h = (top - lo) / steps;
  const centre = best.tangentOmega;
  for (let i = -100; i <= 100; i++) {
    const t = centre + (h * i) / 100;
    if (t > lo && t <= top) evaluate(t);
  }
  return best;
}

/** The EAT threshold the certifier may use for an observed S-hat: the largest grid point 2 + j*step <= S-hat (j >= 1), or null. */
export function eatThresholdS(sEstimate: number): number | null {
  const j = Math.min(EAT_THRESHOLD_GRID_SIZE, Math.floor((sEstimate - 2) / EAT_THRESHOLD_STEP + 1e-9));
  return j >= 1 ? 2 + j * EAT_THRESHOLD_STEP : null;
}

export interface EpsSplit {
  total: number;
  /** eps_EA: the probability below which passing the Bell test needs no entropy (split over the threshold grid). */
  estimation: number;
  /** Smoothing eps_s (counted twice in the total). */
  smoothing: number;
  /** Extraction eps_ext (leftover hash lemma). */
  extraction: number;
}

/**
 * How the per-block error eps is split (the certificate states it):
 * eps = eps_EA + 2 eps_s + eps_ext with eps_EA = eps_ext = eps/3, eps_s = eps/6,
 * for every bound.
 */
export function epsSplit(eps: number): EpsSplit {
  return { total: eps, estimation: eps / 3, smoothing: eps / 6, extraction: eps / 3 };
}

/** m = floor(k - 2 log2(1/eps_ext)) rounded down to whole bytes, >= 0. */
export function outputBitsFor(entropyBits: number, epsExtraction: number): number {
  const m = Math.floor(entropyBits - 2 * Math.log2(1 / epsExtraction));
  return m >= 8 ? m - (m % 8) : 0;
}

/** Extractor input bits per trial: certifyRun hashes both outcome bits, a then b (CertifiedBlock.input). */
export const INPUT_BITS_PER_TRIAL = 2;
