/**
 * Spot-checking (issue 6 scope 3): the randomness-expansion protocol of
 * Arnon-Friedman, Renner, Vidick, SIAM J. Comput. 48, 181 (2019) (ARV,
 * Protocol "DIRE") and Arnon-Friedman, Dupuis, Fawzi, Renner, Vidick,
 * Nat. Commun. 9, 459 (2018) (ADFRV, Methods), certified by entropy
 * accumulation with its finite-size terms.
 *
 * Protocol, per trial i (ARV DIRE steps 2-4):
 *   T_i ~ Bernoulli(gamma); T_i = 0 (generation round): fixed inputs
 *   (X_i, Y_i) = (0, 0); T_i = 1 (test round): X_i, Y_i uniform.
 *   C_i = w_CHSH(X_i, Y_i, A_i, B_i) on test rounds, C_i = "bottom" otherwise.
 * The host's randomness per trial: about h(gamma) bits for T_i (an
 * entropy-efficient sampler, src/output/host-settings.ts) plus 2 bits on
 * test rounds: h(gamma) + 2 gamma per trial on average.
 *
 * Bound (ADFRV Methods / ARV, EAT with test rounds): with p(1) the fraction
 * of all n trials that are won test rounds, and the event
 * Omega = {p(1) >= gamma omega_thr},
 *   H_min^{eps_s}(A^n B^n | X^n Y^n T^n E)_{rho|Omega} > n f_t(gamma omega_thr) - v sqrt(n),
 * unless Pr[Omega] < eps_EA, with the min-tradeoff function of the
 * spot-checking protocol, the tangent at p_t(1) = gamma omega_t of
 *   f(p) = g(p(1) / gamma),  g(omega) = 1 - h(1/2 + 1/2 sqrt(16 omega (omega - 1) + 3))
 * (bounds.ts chshRate), so
 *   f_t(p(1)) = g(omega_t) + (g'(omega_t) / gamma) (p(1) - gamma omega_t),
 *   f_t(gamma omega_thr) = g(omega_t) + g'(omega_t) (omega_thr - omega_t),
 * and the second-order term with the gradient of f_t, which carries 1/gamma:
 *   v = 2 (log2(1 + 2 d_O) + ceil(g'(omega_t) / gamma)) sqrt(1 - 2 log2(eps_s eps_EA)),  d_O = 4,
 * maximised over omega_t in (3/4, omega_thr]. At gamma = 1 this is exactly
 * the all-test-rounds bound of bounds.ts (eatEntropy).
 *
 * The 1/gamma in v is the price of spot-checking: at gamma = 0.01 the
 * second-order term is about 100 times that of gamma = 1, and with this
 * bound alone a block needs about 10^10 trials before its certified bits
 * exceed the h(gamma) + 2 gamma setting bits per trial it consumed.
 *
 * Second bound, the improved second order of Dupuis & Fawzi, IEEE Trans.
 * Inf. Theory 65, 7596 (2019), arXiv:1805.11652 (DF19), which replaces
 * ceil(||grad f||) by the variance of f, about g'/sqrt(gamma) instead of
 * g'/gamma. For the same event Omega (same threshold grid, same eps_s and
 * eps_EA) and any alpha in (1, 2):
 *   H_min^{eps_s}(A^n B^n | X^n Y^n T^n E)_{rho|Omega}
 *     > n f_t(gamma omega_thr) - n ((alpha - 1)/(2 - alpha)) (ln 2 / 2) V^2
 *       - (1 - 2 log2(eps_s eps_EA)) / (alpha - 1) - n (alpha - 1)^2 K_alpha,
 *   V = log2(2 d_O^2 + 1) + sqrt(2 + Var(f)),
 *   K_alpha the larger of the two published forms (df19K below), both with
 *   Max(f) - Min_Sigma(f),
 * unless Pr[Omega] < eps_EA. Transcription: the paper's theorem text was
 * not readable here; the statement is taken from two independent
 * implementations that agree term by term: George, Lin, Lutkenhaus,
 * arXiv:2203.06554, EATSolver/calculate_correction.m ("EAT version 2 -
 * Dupuis and Fawzi (2019)", their Theorem 15), and Brown, Ragy, Colbeck,
 * IEEE Trans. Inf. Theory 66, 2964 (2020), Lemma 3.3, as coded in
 * peterjbrown519/dirng eat_methods.py (errV, errK, errW). Every place where
 * the sources differ or we were unsure takes the larger loss: the factor
 * (alpha - 1)/(2 - alpha) >= alpha - 1 on V^2; the log term
 * (1 - 2 log2(eps_s eps_EA))/(alpha - 1), an upper bound on DF19's
 * (g(eps_s) + alpha log2(1/Pr[Omega]))/(alpha - 1) with
 * g(eps) = -log2(1 - sqrt(1 - eps^2)) <= log2(2/eps^2), alpha < 2 and
 * Pr[Omega] >= eps_EA; and the larger K_alpha. The certificate and the
 * README state this assumption.
 *
 * The min-tradeoff function is the same tangent f_t, written on the
 * alphabet C = {win, lose, bottom} as a function of the wins alone:
 *   f(win) = T(0) + s / gamma,  f(lose) = f(bottom) = T(0),
 *   T(w) = g(omega_t) + s (w - omega_t),  s = g'(omega_t) > 0,
 * so that f(q) = T(q(win) / gamma), which is T(w) on every round
 * distribution q = (gamma w, gamma (1 - w), 1 - gamma). It must depend on the
 * wins alone: the EAT needs f(freq(c)) >= h for every string c of the event
 * Omega = {wins >= n gamma omega_thr}, and an empirical frequency need not
 * have exactly gamma n test rounds (a function that also reads the losses,
 * e.g. the crossover with f(bottom) = Max, could fall below h there). Then
 * (upper bounds, any w in [0, 1]):
 *   Max(f) - Min_Sigma(f) = T(0) + s/gamma - T(w_min) <= s / gamma,
 *   Var_q(f) = (s^2 / gamma) w - s^2 w^2 <= s^2 / gamma,
 * and a larger Var or range only enlarges the loss, so these bounds are
 * used (spotCheckDf19Pieces; checked against the definitions in the tests).
 * The range enters only K_alpha's exponent, with alpha - 1 of order 1e-5.
 * The certified entropy is the larger of the two bounds (both hold for the
 * same event at the same errors); the certificate names the one used.
 *
 * The threshold omega_thr is taken from the fixed grid of bounds.ts (the
 * largest grid point at or below the observed win rate), eps_EA divided by
 * the grid size (union bound), as for the all-test-rounds bound.
 */
import {
  azumaDeviation,
  binaryEntropy,
  EAT_OUTPUT_DIMENSION,
  EAT_THRESHOLD_GRID_SIZE,
  eatThresholdS,
  epsSplit,
  INPUT_BITS_PER_TRIAL,
  omegaOfS,
  outputBitsFor,
  maximizeOverTangent,
  type BlockBound,
  type EatBound,
} from './bounds.ts';

/** ARV DIRE: the inputs of a generation round (T_i = 0). */
export const GENERATION_SETTINGS = 0; // (x << 1) | y = (0, 0)
export const GENERATION_SETTINGS_NAME = 'x=0 y=0';

/**
 * Expected host random bits per trial of the spot-checking protocol:
 * h(gamma) for T_i (entropy-optimal sampling) + 2 gamma for the test rounds'
 * uniform x, y. At gamma = 1: 2 bits (every trial uniform).
 */
export function settingBitsPerTrial(gamma: number): number {
  return binaryEntropy(gamma) + 2 * gamma;
}

/**
 * ADFRV/ARV second-order coefficient for spot-checking:
 * v = 2 (log2(1 + 2 d_O) + ceil(|g'(omega_t)| / gamma)) sqrt(1 - 2 log2(eps_s eps_EA)).
 */
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

/**
 * The spot-checking EAT bound for n trials whose won test rounds are at
 * least n gamma omegaThreshold: max over omega_t in (3/4, omegaThreshold] of
 *   n (g(omega_t) + g'(omega_t) (omegaThreshold - omega_t)) - v(omega_t, gamma) sqrt(n).
 * epsEA is the error for this one threshold (after any union bound).
 */
export function spotCheckEntropy(
  trials: number,
  omegaThreshold: number,
  gamma: number,
  epsSmooth: number,
  epsEA: number,
  outputDimension = EAT_OUTPUT_DIMENSION,
): EatBound {
  if (!(gamma > 0 && gamma <= 1))
    return { entropyBits: -Infinity, tangentOmega: NaN, firstOrderPerTrial: 0, secondOrderPerTrial: Infinity };
  return maximizeOverTangent(
    trials,
    omegaThreshold,
    (slope) => spotCheckV(slope, gamma, epsSmooth, epsEA, outputDimension),
    2000,
  );
}

/**
 * S estimate of a spot-checking block: per trial Z_i = 8 [won test round] / gamma - 4,
 * with E[Z_i | past] = 8 gamma omega_i / gamma - 4 = S_i (the test decision is
 * independent of the device), so the mean is unbiased for the block's S;
 * lost trials count as lost games (never a win).
 */
export function spotCheckSEstimate(trials: number, testWins: number, gamma: number): number {
  return trials > 0 ? (8 * testWins) / (gamma * trials) - 4 : -4;
}

/** Var(f) and Max(f) - Min_Sigma(f) of the wins-only min-tradeoff function (file comment): upper bounds s^2/gamma and s/gamma. */
export function spotCheckDf19Pieces(slope: number, gamma: number): { variance: number; range: number } {
  return { variance: (slope * slope) / gamma, range: slope / gamma };
}

/**
 * K_alpha of DF19, the larger of its two published forms (file comment):
 * GLL calculate_correction.m / dirng errK:
 *   1 / (6 (2 - alpha)^3 ln 2) 2^((alpha - 1)(log2 d_O + R)) ln^3(2^(log2 d_O + R) + e^2),
 * and the form with beta = (alpha - 1)/(2 - alpha) and 2 log2 d_O:
 *   (2 - alpha)^3 / (6 (3 - 2 alpha)^3 ln 2) 2^(beta (2 log2 d_O + R)) ln^3(2^(2 log2 d_O + R) + e^2),
 * R = Max(f) - Min_Sigma(f). ln(2^E + e^2) is computed without overflow.
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
 * The DF19 spot-checking bound (file comment) for n trials whose won test
 * rounds are at least n gamma omegaThreshold: max over the tangent point
 * omega_t in (3/4, omegaThreshold] (bounds.ts maximizeOverTangent's grid)
 * and alpha of n f_t(gamma omega_thr) - loss. secondOrderPerTrial is the
 * whole loss per trial. epsEA is the error for this one threshold.
 */
export function spotCheckEntropyDf19(
  trials: number,
  omegaThreshold: number,
  gamma: number,
  epsSmooth: number,
  epsEA: number,
  outputDimension = EAT_OUTPUT_DIMENSION,
): EatBound {
  if (!(gamma > 0 && gamma <= 1))
    return { entropyBits: -Infinity, tangentOmega: NaN, firstOrderPerTrial: 0, secondOrderPerTrial: Infinity };
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

/** The assumption a certificate that used the DF19 bound adds to its list (file comment: the transcription). */
export const DF19_ASSUMPTION =
  'the Dupuis-Fawzi 2019 entropy accumulation statement as implemented by George-Lin-Lutkenhaus 2022 (Theorem 15) and Brown-Ragy-Colbeck 2020 (Lemma 3.3); not checked against the paper text';

/** The certified entropy and output length of one spot-checking block. */
export function spotCheckBlockBound(
  trials: number,
  testWins: number,
  gamma: number,
  eps: number,
): BlockBound & { sEstimate: number } {
  const split = epsSplit(eps, 'quantum');
  const sEstimate = spotCheckSEstimate(trials, testWins, gamma);
  // Azuma-Hoeffding on Z_i in [-4, 8/gamma - 4]: range width 8 / gamma (bounds.ts azumaDeviation).
  const lb = sEstimate - azumaDeviation(trials, split.estimation, 8 / gamma);
  const inputBits = INPUT_BITS_PER_TRIAL * trials;
  const thr = eatThresholdS(sEstimate);
  const epsEA = split.estimation / EAT_THRESHOLD_GRID_SIZE;
  const adfrv = thr === null ? undefined : spotCheckEntropy(trials, omegaOfS(thr), gamma, split.smoothing, epsEA);
  const df19 = thr === null ? undefined : spotCheckEntropyDf19(trials, omegaOfS(thr), gamma, split.smoothing, epsEA);
  // Both hold for the same event at the same errors: the larger one is certified, and named.
  const useDf19 = df19 !== undefined && adfrv !== undefined && df19.entropyBits > adfrv.entropyBits;
  const eat = useDf19 ? df19 : adfrv;
  const k = eat ? Math.min(inputBits, Math.max(0, eat.entropyBits)) : 0;
  return {
    adversary: 'quantum',
    eps: split,
    sLowerBound: lb,
    sEvaluated: thr,
    entropyBits: k,
    outputBits: outputBitsFor(k, split.extraction),
    inputBits,
    bound: useDf19
      ? `Dupuis-Fawzi 2019 EAT (improved second order; statement as in George-Lin-Lutkenhaus 2022 Thm 15 and Brown-Ragy-Colbeck 2020 Lemma 3.3, not checked against the paper's text) with spot-checking (gamma = ${gamma}): n * f_t(gamma omega_thr) - min over alpha of the loss, V^2 with Var(f) <= g'^2/gamma, d_O = ${EAT_OUTPUT_DIMENSION}, eps_EA / ${EAT_THRESHOLD_GRID_SIZE} thresholds`
      : `ADFRV 2018 / ARV 2019 EAT with spot-checking (gamma = ${gamma}): n * f_t(gamma omega_thr) - v sqrt(n), v with ceil(g'/gamma), d_O = ${EAT_OUTPUT_DIMENSION}, eps_EA / ${EAT_THRESHOLD_GRID_SIZE} thresholds`,
    eat,
    sEstimate,
    ...(useDf19 ? { assumption: DF19_ASSUMPTION } : {}),
  };
}

/**
 * Standard deviation of the setting bits per trial: a trial costs
 * -log2(gamma) + 2 bits when it is a test round and -log2(1 - gamma) bits
 * otherwise (the sampler spends the information of its outcome), so the
 * variance is gamma (1 - gamma) (2 - log2(gamma) + log2(1 - gamma))^2.
 */
export function settingBitsSdPerTrial(gamma: number): number {
  if (!(gamma > 0 && gamma < 1)) return 0;
  return Math.sqrt(gamma * (1 - gamma)) * Math.abs(2 - Math.log2(gamma) + Math.log2(1 - gamma));
}

/**
 * The smallest block (trials) whose net gain is positive at a chip with
 * this S and no loss, with a margin of `sigmas` standard deviations on both
 * random quantities: the block's won test rounds `sigmas` sd below their
 * mean n gamma omega, and its setting bits `sigmas` sd above their mean
 * n (h(gamma) + 2 gamma). From this block size on a spot-checking run
 * expands randomness block by block (the extractor seed is reused: see the
 * certificate's accounting). Infinity when none below 2^44. Bisection on a
 * geometric grid, then on integers to 1e-4 (output grows with n at fixed S).
 */
export function minNetGainBlockTrials(s: number, gamma: number, eps: number, sigmas = 5): number {
  const perTrial = settingBitsPerTrial(gamma);
  const bitsSd = settingBitsSdPerTrial(gamma);
  const pWin = (gamma * (s + 4)) / 8; // gamma omega, omega = 1/2 + S/8
  const ok = (n: number): boolean => {
    const wins = Math.floor(n * pWin - sigmas * Math.sqrt(n * pWin * (1 - pWin)));
    const bits = n * perTrial + sigmas * bitsSd * Math.sqrt(n);
    const b = spotCheckBlockBound(n, wins, gamma, eps);
    // the certifier refuses a block whose S lower bound is not above 2 (certifier.ts), whatever its entropy
    return b.sLowerBound > 2 && b.outputBits > bits;
  };
  let hi = 2 ** 16;
  while (!ok(hi)) {
    hi *= 2;
    if (hi > 2 ** 44) return Infinity;
  }
  let lo = hi / 2;
  while (hi - lo > Math.max(1, hi * 1e-4)) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
