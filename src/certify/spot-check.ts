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
 * second-order term is about 100 times that of gamma = 1, and a block needs
 * billions of trials before its certified bits exceed the h(gamma) + 2 gamma
 * setting bits per trial it consumed (minNetGainBlockTrials).
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
export function spotCheckV(slope: number, gamma: number, epsSmooth: number, epsEA: number, outputDimension = EAT_OUTPUT_DIMENSION): number {
  return 2 * (Math.log2(1 + 2 * outputDimension) + Math.ceil(Math.abs(slope) / gamma)) * Math.sqrt(1 - 2 * Math.log2(epsSmooth * epsEA));
}

/**
 * The spot-checking EAT bound for n trials whose won test rounds are at
 * least n gamma omegaThreshold: max over omega_t in (3/4, omegaThreshold] of
 *   n (g(omega_t) + g'(omega_t) (omegaThreshold - omega_t)) - v(omega_t, gamma) sqrt(n).
 * epsEA is the error for this one threshold (after any union bound).
 */
export function spotCheckEntropy(trials: number, omegaThreshold: number, gamma: number, epsSmooth: number, epsEA: number, outputDimension = EAT_OUTPUT_DIMENSION): EatBound {
  if (!(gamma > 0 && gamma <= 1)) return { entropyBits: -Infinity, tangentOmega: NaN, firstOrderPerTrial: 0, secondOrderPerTrial: Infinity };
  return maximizeOverTangent(trials, omegaThreshold, (slope) => spotCheckV(slope, gamma, epsSmooth, epsEA, outputDimension), 2000);
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

/** The certified entropy and output length of one spot-checking block. */
export function spotCheckBlockBound(trials: number, testWins: number, gamma: number, eps: number): BlockBound & { sEstimate: number } {
  const split = epsSplit(eps, 'quantum');
  const sEstimate = spotCheckSEstimate(trials, testWins, gamma);
  // Azuma-Hoeffding on Z_i in [-4, 8/gamma - 4]: range width 8 / gamma (bounds.ts azumaDeviation).
  const lb = sEstimate - azumaDeviation(trials, split.estimation, 8 / gamma);
  const inputBits = INPUT_BITS_PER_TRIAL * trials;
  const thr = eatThresholdS(sEstimate);
  const eat = thr === null ? undefined : spotCheckEntropy(trials, omegaOfS(thr), gamma, split.smoothing, split.estimation / EAT_THRESHOLD_GRID_SIZE);
  const k = eat ? Math.min(inputBits, Math.max(0, eat.entropyBits)) : 0;
  return {
    adversary: 'quantum',
    eps: split,
    sLowerBound: lb,
    sEvaluated: thr,
    entropyBits: k,
    outputBits: outputBitsFor(k, split.extraction),
    inputBits,
    bound: `ADFRV 2018 / ARV 2019 EAT with spot-checking (gamma = ${gamma}): n * f_t(gamma omega_thr) - v sqrt(n), v with ceil(g'/gamma), d_O = ${EAT_OUTPUT_DIMENSION}, eps_EA / ${EAT_THRESHOLD_GRID_SIZE} thresholds`,
    eat,
    sEstimate,
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
    return spotCheckBlockBound(n, wins, gamma, eps).outputBits > bits;
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
