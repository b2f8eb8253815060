/**
 * The Bound interface: one finite-statistics entropy bound for one block of
 * CHSH trials. Each bound lives in its own file beside this one and is
 * listed once in registry.ts; the certifier evaluates every bound the
 * registry declares valid for the run's adversary and settings mode and
 * certifies with the best one. A certificate's `adversary`, `assumptions`
 * and `bound` are all read from the Bound that was used, so they cannot
 * disagree. How to add a bound: docs/bounds.md.
 */
import { eatThresholdS, omegaOfS, type EatBound, type EpsSplit } from '../bounds.ts';
import type { PefModel } from '../pef/model.ts';

/** The side information a bound holds against, the one list every option and schema reads. */
export const ADVERSARIES = ['quantum', 'classical'] as const;
export type Adversary = (typeof ADVERSARIES)[number];

/**
 * How the settings of a block were chosen:
 * - 'uniform': every trial a test round, x and y uniform (the chip's generator, or the host's at gamma = 1);
 * - 'spot-check': the host's spot-checking protocol (ARV 2019 DIRE), test rounds with probability gamma < 1.
 */
export const SETTINGS_MODES = ['uniform', 'spot-check'] as const;
export type SettingsMode = (typeof SETTINGS_MODES)[number];

/** What a bound reads of a block. */
export interface BlockStats {
  /** n: trials in the block, lost ones included (scored as lost games). */
  trials: number;
  /** S-hat: the block's unbiased Bell estimate (estimate.ts, or the won test rounds with spot-checking). */
  sEstimate: number;
  /** gamma: the probability of a test round (1: every trial is one). */
  testRate: number;
  /** N(a,b|x,y) at index 8x+4y+2a+b (bounds that read the full statistics: probability estimation). */
  counts?: readonly number[];
  /** Trials of the block without a record. */
  lostTrials?: number;
  /** The block's index in the run. */
  blockIndex?: number;
}

export interface BoundDetails {
  /** The formula in words, with its source and parameters: the certificate's `bound`. */
  formula: string;
  /** The S the entropy is evaluated at (threshold, or threshold minus a deviation); null below the grid. */
  sEvaluated: number | null;
  /** Tangent point and terms of an entropy-accumulation bound. */
  eat?: EatBound;
  /** The PEF a probability-estimation bound used, for the certificate. */
  pef?: PefRecord;
  /** The stopping rule that ended the block (--target-bits), for the certificate. */
  stopping?: StoppingRecord;
}

export interface BoundEvaluation {
  /** Smooth min-entropy lower bound of the block's extractor input in bits (may be negative: nothing certified). */
  entropyBits: number;
  details: BoundDetails;
}

export interface Bound {
  /** Short stable name, e.g. 'pironio-massar'. */
  readonly name: string;
  /** The side information the bound holds against: the certificate's `adversary`. */
  readonly adversary: Adversary;
  /** Its own statement of the adversary model, when not ADVERSARY_ASSUMPTION's (which names another bound). */
  readonly adversaryAssumption?: string;
  /** Assumptions the bound adds to the certificate's list, beyond those of its adversary model. */
  readonly assumptions: readonly string[];
  /** The settings modes the bound is proved for. */
  readonly modes: readonly SettingsMode[];
  evaluate(stats: BlockStats, eps: EpsSplit): BoundEvaluation;
}

/**
 * How a bound that picks its threshold from a grid covers a variable output length, for the certificate's
 * `bound` (the argument: docs/bounds.md, "Thresholds and variable length").
 */
export const VARIABLE_LENGTH_NOTE =
  'variable length: the statement applied to the exact event "this threshold is the largest reached" (errors weighted by its probability) is derived here, not a cited theorem';

/** The certificate's statement of each adversary model (the second assumption of every certificate). */
export const ADVERSARY_ASSUMPTION: Record<Adversary, string> = {
  quantum: 'the adversary may hold quantum side information (entropy accumulation bound)',
  classical:
    "the adversary's side information is classical (Pironio et al. 2010 bound); not secure against quantum side information",
};

/** The settings mode of a block drawn with test rate gamma. */
export function settingsModeOf(testRate: number): SettingsMode {
  return testRate < 1 ? 'spot-check' : 'uniform';
}

/**
 * An entropy-accumulation bound evaluated at the block's threshold: the
 * largest point of the fixed grid at or below S-hat (docs/bounds.md: the
 * threshold must not depend on the data beyond that choice, paid for by the
 * union bound over the grid); nothing certified below the grid.
 */
export function eatAtThreshold(
  sEstimate: number,
  formula: string,
  entropyAt: (omegaThreshold: number) => EatBound,
): BoundEvaluation {
  const thr = eatThresholdS(sEstimate);
  const eat = thr === null ? undefined : entropyAt(omegaOfS(thr));
  return {
    entropyBits: eat ? eat.entropyBits : -Infinity,
    details: { formula, sEvaluated: thr, ...(eat ? { eat } : {}) },
  };
}

/** The certificate's record of the PEF certification of a block. */
export interface PefRecord {
  model: PefModel;
  /** F(a,b|x,y) at index 8x+4y+2a+b. */
  factors: number[];
  beta: number;
  origin: string;
  /** sum over the block's trials of log2 F. */
  log2Product: number;
  /** The grid threshold L_j used (bits), and the grid size. */
  thresholdBits: number;
  thresholds: number;
}

/** The certificate's record of the stopping rule that ended a block (--target-bits; bounds/pef-stopping.ts). */
export interface StoppingRecord {
  rule: string;
  /** K: the output bits the rule aims at. */
  targetBits: number;
  /** L*: the threshold on log2(prod F)/beta, bits. */
  thresholdBits: number;
  /** tau: the trial count at which the rule fired (the block's length). */
  firedAtTrial: number;
  /** The rule is checked every segmentTrials trials; a block ends at maxTrials at the latest. */
  segmentTrials: number;
  maxTrials: number;
}
