/**
 * Spot-checking (the host's randomness-expansion protocol, Arnon-Friedman,
 * Renner, Vidick, SIAM J. Comput. 48, 181 (2019), protocol DIRE): per trial
 * T_i ~ Bernoulli(gamma); a test round has uniform x, y, a generation round
 * the fixed inputs (0, 0). This file holds the protocol's arithmetic (the
 * S estimate, the setting bits it costs, block sizing); its bounds are
 * bounds/adfrv-spot-check.ts and bounds/dupuis-fawzi.ts, derived in
 * docs/bounds.md.
 */
import { binaryEntropy } from './bounds.ts';
import { certifyBlockBound, type BlockBound } from './bounds/registry.ts';

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
 * S estimate of a spot-checking block: per trial Z_i = 8 [won test round] / gamma - 4,
 * with E[Z_i | past] = 8 gamma omega_i / gamma - 4 = S_i (the test decision is
 * independent of the device), so the mean is unbiased for the block's S;
 * lost trials count as lost games (never a win).
 */
export function spotCheckSEstimate(trials: number, testWins: number, gamma: number): number {
  return trials > 0 ? (8 * testWins) / (gamma * trials) - 4 : -4;
}

/** The certified entropy and output length of one spot-checking block (the best quantum spot-checking bound). */
export function spotCheckBlockBound(
  trials: number,
  testWins: number,
  gamma: number,
  eps: number,
): BlockBound & { sEstimate: number } {
  const sEstimate = spotCheckSEstimate(trials, testWins, gamma);
  return { ...certifyBlockBound({ trials, sEstimate, testRate: gamma }, eps, 'quantum'), sEstimate };
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
