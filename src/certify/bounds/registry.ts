/**
 * Which bounds hold for which adversary and settings mode: adding a bound is
 * one new file beside this one and one line in BOUNDS (docs/bounds.md).
 * The certifier evaluates every bound valid for the block and certifies
 * with the one that certifies the most entropy (the first listed on a tie);
 * the certificate's adversary, assumptions and bound text all come from it.
 */
import {
  azumaDeviation,
  epsSplit,
  ESTIMATOR_RANGE_WIDTH,
  INPUT_BITS_PER_TRIAL,
  outputBitsFor,
  type EatBound,
  type EpsSplit,
} from '../bounds.ts';
import { adfrvEat } from './adfrv-eat.ts';
import { adfrvSpotCheck } from './adfrv-spot-check.ts';
import {
  settingsModeOf,
  type Adversary,
  type BlockStats,
  type Bound,
  type PefRecord,
  type SettingsMode,
  type StoppingRecord,
} from './bound.ts';
import { dupuisFawzi, dupuisFawziSpotCheck } from './dupuis-fawzi.ts';
import { pironioMassar } from './pironio-massar.ts';

/** Every bound the certifier may use; each declares its adversary and settings modes. */
export const BOUNDS: readonly Bound[] = [pironioMassar, adfrvEat, dupuisFawzi, adfrvSpotCheck, dupuisFawziSpotCheck];

/** The bounds that hold against `adversary` for blocks drawn in `mode`, in registry order. */
export function boundsFor(adversary: Adversary, mode: SettingsMode, bounds: readonly Bound[] = BOUNDS): Bound[] {
  return bounds.filter((b) => b.adversary === adversary && b.modes.includes(mode));
}

/** Why a run cannot be certified at all (no bound for its adversary and settings mode), or null. */
export function missingBoundReason(adversary: Adversary, testRate: number): string | null {
  const mode = settingsModeOf(testRate);
  if (boundsFor(adversary, mode).length > 0) return null;
  const held = [...new Set(BOUNDS.filter((b) => b.modes.includes(mode)).map((b) => b.adversary))];
  return `no bound certifies ${mode === 'spot-check' ? 'spot-checking (test rate below 1)' : 'uniform settings'} against ${adversary} side information${held.length > 0 ? ` (only ${held.join(', ')})` : ''}`;
}

export interface BlockBound {
  /** The bound that certified the block: the certificate's adversary, assumptions and bound text. */
  used: Bound;
  adversary: Adversary;
  eps: EpsSplit;
  /** Azuma-Hoeffding lower confidence bound on S at eps.estimation (the Bell test's criterion: > 2). */
  sLowerBound: number;
  /** The S the entropy is evaluated at; null below the threshold grid. */
  sEvaluated: number | null;
  /** Certified (smooth) min-entropy of the block in bits, in [0, inputBits]. */
  entropyBits: number;
  /** m: output bits, a multiple of 8, >= 0. */
  outputBits: number;
  /** Extractor input bits: 2 per trial (a, b). */
  inputBits: number;
  /** The formula in words, for the certificate. */
  bound: string;
  /** Entropy-accumulation details, when the bound is one. */
  eat?: EatBound;
  /** The PEF used, when the bound is probability estimation. */
  pef?: PefRecord;
  /** The stopping rule that ended the block, with --target-bits. */
  stopping?: StoppingRecord;
}

/**
 * The best valid bound's certified entropy and output length for one block.
 * Throws RangeError when no bound holds for the adversary and settings mode
 * (missingBoundReason; the certifier and the pipeline configuration check it first).
 */
export function certifyBlockBound(
  stats: BlockStats,
  eps: number,
  adversary: Adversary,
  bounds: readonly Bound[] = BOUNDS,
): BlockBound {
  const split = epsSplit(eps);
  const candidates = boundsFor(adversary, settingsModeOf(stats.testRate), bounds);
  let best: { bound: Bound; ev: ReturnType<Bound['evaluate']> } | undefined;
  for (const bound of candidates) {
    const ev = bound.evaluate(stats, split);
    if (best === undefined || ev.entropyBits > best.ev.entropyBits) best = { bound, ev };
  }
  if (best === undefined) throw new RangeError(missingBoundReason(adversary, stats.testRate) ?? 'no bound');
  const inputBits = INPUT_BITS_PER_TRIAL * stats.trials;
  const k = Math.min(inputBits, Math.max(0, best.ev.entropyBits));
  // Azuma-Hoeffding on the per-trial estimator, range 8 (uniform settings) or 8 / gamma (spot-checking).
  const deviation = azumaDeviation(stats.trials, split.estimation, ESTIMATOR_RANGE_WIDTH / stats.testRate);
  return {
    used: best.bound,
    adversary: best.bound.adversary,
    eps: split,
    sLowerBound: stats.sEstimate - deviation,
    sEvaluated: best.ev.details.sEvaluated,
    entropyBits: k,
    outputBits: outputBitsFor(k, split.extraction),
    inputBits,
    bound: best.ev.details.formula,
    ...(best.ev.details.eat ? { eat: best.ev.details.eat } : {}),
    ...(best.ev.details.pef ? { pef: best.ev.details.pef } : {}),
    ...(best.ev.details.stopping ? { stopping: best.ev.details.stopping } : {}),
  };
}

/** certifyBlockBound for a block with uniform settings (every trial a test round). */
export function blockBound(trials: number, sEstimate: number, eps: number, adversary: Adversary): BlockBound {
  return certifyBlockBound({ trials, sEstimate, testRate: 1 }, eps, adversary);
}

/**
 * The smallest block size (trials) whose certified output is at least one
 * byte when the chip's S is exactly `s` (no statistical fluctuation, no lost
 * trials, uniform settings), or Infinity when none below 2^40. Useful for defaults.
 */
export function minBlockTrials(s: number, eps: number, adversary: Adversary): number {
  const ok = (n: number): boolean => blockBound(n, s, eps, adversary).outputBits >= 8;
  let hi = 64;
  while (!ok(hi)) {
    hi *= 2;
    if (hi > 2 ** 40) return Infinity;
  }
  let lo = hi / 2;
  // Output grows with n here (every bound increases in n at fixed S), so bisect.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
