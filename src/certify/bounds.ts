/**
 * Finite-statistics entropy bounds for one block of CHSH trials
 * (issue 3 scope 4). Pure functions of the block's counts and the error
 * budget; every formula cites its source.
 *
 * Notation: n trials in the block (lost ones included, scored as lost
 * games), S-hat the mean of the per-trial estimator I (estimate.ts),
 * omega = 1/2 + S/8 the CHSH win probability with uniform settings.
 *
 * Two adversaries (the certificate names the one used):
 *
 * - 'classical' (side information classical): Pironio et al., Nature 464,
 *   1021 (2010), main text (their bound f(I), I the CHSH value): per trial
 *     H_min(AB|XY) >= f(S) = 1 - log2(1 + sqrt(2 - S^2/4)).
 *   Over n trials we use the corrected finite-statistics form (Pironio &
 *   Massar, Phys. Rev. A 87, 012336 (2013); Fehr, Gelles, Schaffner, Phys.
 *   Rev. A 87, 012335 (2013), who showed the 2010 statement needs a fixed
 *   threshold and a conditioning term). For a threshold S_thr fixed before
 *   the data and the event Omega = {S-hat >= S_thr}: the trials' conditional
 *   Bell values average below S_thr - mu only with probability
 *   eps_mu = exp(-2 n mu^2 / 8^2) (Azuma-Hoeffding, azumaDeviation), and on
 *   the complement the guessing probability of the 2n outcome bits is at most
 *   2^(-n f(S_thr - mu)) (f convex, chain rule over trials). Conditioning on
 *   Omega with Pr[Omega] >= eps_EA then gives
 *     H_min^{eps_s}(AB^n | XY^n E, Omega) >= n f(S_thr - mu) - log2(1/eps_EA),
 *     with eps_mu = eps_s * eps_EA,
 *   the same structure as the EAT below (and the same threshold grid and
 *   union bound). The extractor input is both outcome bits of every trial.
 * - 'quantum' (quantum side information, the default): the entropy
 *   accumulation theorem (EAT) of Dupuis, Fawzi, Renner as applied to CHSH
 *   by Arnon-Friedman, Dupuis, Fawzi, Renner, Vidick, Nat. Commun. 9, 459
 *   (2018) (ADFRV), Methods "Entropy accumulation theorem" and the DIRE/DIQKD
 *   rate with all rounds tested (gamma = 1), and Arnon-Friedman, Renner,
 *   Vidick, SIAM J. Comput. 48, 181 (2019):
 *     single-round bound (their g):
 *       g(omega) = 1 - h(1/2 + 1/2 sqrt(16 omega (omega - 1) + 3))
 *                = 1 - h(1/2 + 1/2 sqrt(S^2/4 - 1))      (S = 8 omega - 4)
 *     min-tradeoff function: the tangent of g at omega_t,
 *       f_t(omega) = g(omega_t) + g'(omega_t) (omega - omega_t)
 *     EAT: for the event Omega = {win fraction >= omega_thr},
 *       H_min^{eps_s}(A^n B^n | X^n Y^n E)_{rho|Omega} > n f_t(omega_thr) - v sqrt(n),
 *       v = 2 (log2(1 + 2 d_O) + ceil(|g'(omega_t)|)) sqrt(1 - 2 log2(eps_s * eps_EA)),
 *     unless Pr[Omega] < eps_EA; d_O = 4 is the dimension of one round's
 *     outputs A_i B_i, and the bound is maximised over omega_t in
 *     (3/4, omega_thr]. (H(AB|XYE) >= H(A|XYE) >= g: the extractor input is
 *     both outcome bits of every trial, as for the classical bound.)
 *   Why not Alice's bits alone (half the extractor input): g bounds the
 *   single-round H(A|XYE), but the EAT accumulates the entropy of the
 *   registers the test statistic is computed from (Dupuis, Fawzi, Renner,
 *   Commun. Math. Phys. 379, 867 (2020): X_i a function of the round's
 *   outputs O_i and side information S_i), and the CHSH win needs B_i. With
 *   B_i in the side information the round's bound would be H(A|XYBE), which
 *   g does not bound; so O_i = A_i B_i and the theorem bounds
 *   H_min(A^n B^n | X^n Y^n E). ADFRV's DIQKD keeps Alice's bits alone only
 *   by subtracting H_max of Bob's test-round outputs (about gamma n bits):
 *   here every round is a test round, so that costs n bits, more than k.
 *   The threshold omega_thr must be fixed before the data: it is taken from
 *   a fixed grid of EAT_THRESHOLD_GRID_SIZE values (the largest one the
 *   block reaches), and eps_EA is divided by the grid size (union bound over
 *   the thresholds the certifier can pick).
 *
 * Output length (leftover hash lemma with Toeplitz hashing; Tomamichel,
 * Schaffner, Smith, Renner, IEEE Trans. Inf. Theory 57, 5524 (2011)):
 *   m = floor(k - 2 log2(1/eps_ext)), rounded down to whole bytes.
 * Total error per block, both adversaries: eps_EA + 2 eps_s + eps_ext
 * (either Pr[Omega] < eps_EA, or the output conditioned on Omega is
 * 2 eps_s + eps_ext close to uniform; epsSplit below splits eps).
 */

export type Adversary = 'quantum' | 'classical';

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
 * for both adversaries.
 */
export function epsSplit(eps: number, _adversary: Adversary): EpsSplit {
  return { total: eps, estimation: eps / 3, smoothing: eps / 6, extraction: eps / 3 };
}

export interface BlockBound {
  adversary: Adversary;
  eps: EpsSplit;
  /** Azuma-Hoeffding lower confidence bound on S at eps.estimation (the Bell test's criterion: > 2). */
  sLowerBound: number;
  /** The S the entropy is evaluated at: S_thr - mu (classical) or the EAT threshold S_thr (quantum); null below the grid. */
  sEvaluated: number | null;
  /** Certified (smooth) min-entropy of the block in bits, >= 0. */
  entropyBits: number;
  /** m: output bits, a multiple of 8, >= 0. */
  outputBits: number;
  /** Extractor input bits: 2 per trial (a, b). */
  inputBits: number;
  /** The formula in words, for the certificate. */
  bound: string;
  /** EAT details (quantum only). */
  eat?: EatBound;
  /** An assumption this bound adds to the certificate's list (spot-check.ts: the DF19 transcription). */
  assumption?: string;
}

/** m = floor(k - 2 log2(1/eps_ext)) rounded down to whole bytes, >= 0. */
export function outputBitsFor(entropyBits: number, epsExtraction: number): number {
  const m = Math.floor(entropyBits - 2 * Math.log2(1 / epsExtraction));
  return m >= 8 ? m - (m % 8) : 0;
}

/** Extractor input bits per trial: certifyRun hashes both outcome bits, a then b (CertifiedBlock.input). */
export const INPUT_BITS_PER_TRIAL = 2;

/** The certified entropy and output length of one block from its S-hat (lost trials already scored). */
export function blockBound(trials: number, sEstimate: number, eps: number, adversary: Adversary): BlockBound {
  const split = epsSplit(eps, adversary);
  const lb = sLowerBound(sEstimate, trials, split.estimation);
  const inputBits = INPUT_BITS_PER_TRIAL * trials;
  const thr = eatThresholdS(sEstimate);
  if (adversary === 'classical') {
    // Pironio et al. 2010 f(S), in the corrected form of Pironio & Massar 2013 (file comment):
    // k = n f(S_thr - mu) - log2(K / eps_EA), mu the Azuma-Hoeffding deviation at eps_s * eps_EA / K.
    const epsEA = split.estimation / EAT_THRESHOLD_GRID_SIZE;
    const sAt = thr === null ? null : thr - azumaDeviation(trials, split.smoothing * epsEA);
    const k =
      sAt === null ? 0 : Math.min(inputBits, Math.max(0, trials * pironioMinEntropy(sAt) - Math.log2(1 / epsEA)));
    return {
      adversary,
      eps: split,
      sLowerBound: lb,
      sEvaluated: sAt,
      entropyBits: k,
      outputBits: outputBitsFor(k, split.extraction),
      inputBits,
      bound: `Pironio 2010 / Pironio-Massar 2013: n * (1 - log2(1 + sqrt(2 - S^2/4))) at S = S_thr - mu (Azuma-Hoeffding at eps_s eps_EA), minus log2(1/eps_EA); eps_EA / ${EAT_THRESHOLD_GRID_SIZE} thresholds`,
    };
  }
  const eat =
    thr === null
      ? undefined
      : eatEntropy(trials, omegaOfS(thr), split.smoothing, split.estimation / EAT_THRESHOLD_GRID_SIZE);
  const k = eat ? Math.min(inputBits, Math.max(0, eat.entropyBits)) : 0;
  return {
    adversary,
    eps: split,
    sLowerBound: lb,
    sEvaluated: thr,
    entropyBits: k,
    outputBits: outputBitsFor(k, split.extraction),
    inputBits,
    bound: `ADFRV 2018 EAT: n * f_t(omega_thr) - v sqrt(n), d_O = ${EAT_OUTPUT_DIMENSION}, eps_EA / ${EAT_THRESHOLD_GRID_SIZE} thresholds`,
    eat,
  };
}

/**
 * The smallest block size (trials) whose certified output is at least one
 * byte when the chip's S is exactly `s` (no statistical fluctuation, no lost
 * trials), or Infinity when none below 2^40. Useful for defaults.
 */
export function minBlockTrials(s: number, eps: number, adversary: Adversary): number {
  const ok = (n: number): boolean => blockBound(n, s, eps, adversary).outputBits >= 8;
  let hi = 64;
  while (!ok(hi)) {
    hi *= 2;
    if (hi > 2 ** 40) return Infinity;
  }
  let lo = hi / 2;
  // Output grows with n here (both bounds increase in n at fixed S), so bisect.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
