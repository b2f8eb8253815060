/**
 * Early stopping with probability estimation (`--target-bits K`, classical
 * side information only): a block ends as soon as its certified entropy
 * reaches K output bits plus the extractor's loss, or at the run's largest
 * block N (then nothing is certified), so the first bytes arrive after as
 * few trials as the statistics allow.
 *
 * Rule (stated in every certificate it certifies): with the PEF F and power
 * beta fixed before the block's first trial (PefPlanner, as for fixed
 * blocks), the block ends at the first multiple tau of
 * STOPPING_SEGMENT_TRIALS trials at which
 *   log2(prod_{i <= tau} F(c_i, z_i)) / beta >= L* = K + 2 log2(1/eps_ext) - log2(eps_s eps_EA)/beta - log2(eps_EA)
 * (../pef/stopping.ts stoppingThreshold, plus a margin of 1e-6 bit against
 * rounding), or at N, or at the end of the first segment with a lost trial
 * (its factor is 0: the rule can no longer fire; nothing is certified). Statement (../pef/README.md, "Why the argument holds
 * for the exact event"): the PEF product is a test supermartingale and
 * optional stopping at a bounded stopping time keeps E[T_tau mu(C^tau|Z^tau)^beta] <= 1
 * (Knill et al., PRR 2, 033465 (2020)); on the one event "the rule fired"
 * T_tau >= 2^(beta L*), so with kappa = eps_EA (no union bound: one event)
 *   H_min^{eps_s}(C^tau | Z^tau E, fired) >= L* + log2(eps_s eps_EA)/beta + log2(eps_EA) = K + 2 log2(1/eps_ext),
 * unless Pr[fired] < eps_EA, and the leftover hash lemma gives K bits with
 * error eps_ext. The pair (tau, c^tau) is what is hashed: tau is public (in
 * the certificate). The conditional form and error split are the project's
 * (docs/bounds.md); the argument is derived here from the papers' test
 * supermartingale, not a theorem cited word for word.
 *
 * Checking only at segment ends is a stopping rule like any other (the
 * stopping time is still a function of the past); it lets the certifier
 * account trials in segments (variable-blocks.ts) and costs at most one
 * segment of trials per block.
 */
import { epsSplit, MAX_OUTPUT_BITS_PER_TRIAL, type EpsSplit } from '../bounds.ts';
import { designPef } from '../pef/design.ts';
import { log2Product, pefEntropyBits } from '../pef/entropy.ts';
import { type Behaviour, behaviourOfS } from '../pef/model.ts';
import { stoppingThreshold } from '../pef/stopping.ts';
import type { BlockStats, Bound, BoundEvaluation } from './bound.ts';
import {
  checkedPlan,
  DEFAULT_PRIOR_S,
  PEF_ADVERSARY_ASSUMPTION,
  PEF_MODEL_ASSUMPTION,
  PefPlanner,
  pefRecord,
} from './probability-estimation.ts';

/** The stopping rule is checked every this many trials (the certifier's accounting unit with --target-bits). */
export const STOPPING_SEGMENT_TRIALS = 4096;

/** Added to L* so that rounding in K -> L* -> entropy never leaves less than K + 2 log2(1/eps_ext). */
const THRESHOLD_MARGIN_BITS = 1e-6;

const RULE = `the block ends at the first multiple tau of ${STOPPING_SEGMENT_TRIALS} trials with log2(prod F)/beta >= L* = K + 2 log2(1/eps_ext) - log2(eps_s eps_EA)/beta - log2(eps_EA), or at the first segment with a lost trial or at the largest block (then nothing is certified); F and beta fixed before the block's first trial`;

const FORMULA = `probability estimation with a stopping rule (Zhang-Knill-Bierhorst 2018, Knill et al. 2020: the PEF product is a test supermartingale, kept by optional stopping), NS + Tsirelson model: on the event "the rule fired", L* + log2(eps_s eps_EA)/beta + log2(eps_EA) (one event: kappa = eps_EA); ${RULE}; the stopped form is derived here, not a cited theorem; a block with a lost trial certifies nothing`;

/**
 * The block length each stopping-rule PEF is designed for: the expected
 * stopping time at the prior behaviour, by fixed-point iteration (design at
 * n, then n = L* / rate; the optimal beta for the expected stopping time is
 * the one that maximises the entropy of a block of that length).
 */
export function stoppingDesignTrials(prior: Behaviour, targetBits: number, eps: number, maxTrials: number): number {
  const split = epsSplit(eps);
  let n = Math.min(maxTrials, 2 ** 16);
  for (let i = 0; i < 4; i++) {
    const d = designPef(prior, n, split.smoothing, split.estimation);
    const l = stoppingThreshold(targetBits, d.beta, split.smoothing, split.estimation, split.extraction);
    const tau = Math.ceil(l / d.expectedRateBits);
    if (!(tau > 0 && Number.isFinite(tau))) break;
    const next = Math.min(maxTrials, Math.max(STOPPING_SEGMENT_TRIALS, tau));
    const settled = Math.abs(next - n) <= 0.05 * n;
    n = next;
    if (settled) break;
  }
  return n;
}

/** The run's stopping rule: its PEF plans (designed before each block) and L* for the current one. */
export class StoppingRule {
  readonly planner: PefPlanner;
  readonly designTrials: number;
  private readonly split: EpsSplit;
  constructor(
    readonly targetBits: number,
    readonly maxTrials: number,
    eps: number,
    prior?: { behaviour: Behaviour; origin: string },
    adapt = true,
  ) {
    if (!(Number.isSafeInteger(targetBits) && targetBits >= 8 && targetBits % 8 === 0))
      throw new RangeError('"targetBits" must be a positive multiple of 8');
    if (!(maxTrials % STOPPING_SEGMENT_TRIALS === 0 && maxTrials >= STOPPING_SEGMENT_TRIALS))
      throw new RangeError(`with "targetBits", "blockTrials" must be a multiple of ${STOPPING_SEGMENT_TRIALS}`);
    this.split = epsSplit(eps);
    this.designTrials = stoppingDesignTrials(
      prior?.behaviour ?? behaviourOfS(DEFAULT_PRIOR_S),
      targetBits,
      eps,
      maxTrials,
    );
    // kappa = eps_EA: the rule's one event needs no union bound
    this.planner = new PefPlanner(this.designTrials, eps, prior, adapt, 1);
  }

  private sumS = 0;
  private sumTrials = 0;

  /**
   * A block has ended: the next block's PEF is designed from the S-hat of every block so far (weighted by
   * trials), not the last one alone: blocks of a few thousand trials would move the design (and re-run
   * it, a fraction of a second each) at every block.
   */
  observe(blockIndex: number, trials: number, sEstimate: number): void {
    if (!Number.isFinite(sEstimate) || !(trials > 0)) return;
    this.sumS += sEstimate * trials;
    this.sumTrials += trials;
    this.planner.observe(
      blockIndex,
      this.sumS / this.sumTrials,
      `blocks 0 to ${blockIndex} (${this.sumTrials} trials)`,
    );
  }

  /** L* (bits) for the current block's PEF. */
  thresholdBits(): number {
    const { beta } = this.planner.current().design;
    const s = this.split;
    return stoppingThreshold(this.targetBits, beta, s.smoothing, s.estimation, s.extraction) + THRESHOLD_MARGIN_BITS;
  }

  /** log2(prod F) of a block so far from its counts (index 8x+4y+2a+b); -Infinity with a lost trial (F(lost) = 0). */
  log2Product(counts: ArrayLike<number>, lostTrials: number): number {
    return lostTrials > 0 ? -Infinity : log2Product(counts, this.planner.current().design.factors);
  }

  /** Whether the rule fires for a block whose product so far is 2^log2T. */
  fired(log2T: number): boolean {
    return log2T / this.planner.current().design.beta >= this.thresholdBits();
  }
}

/** The stopping rule's statement for one block (file comment): K + 2 log2(1/eps_ext) bits if it fired, else nothing. */
export function stoppingEvaluation(stats: BlockStats, eps: EpsSplit, rule: StoppingRule): BoundEvaluation {
  const plan = checkedPlan(rule.planner.current());
  const { design } = plan;
  if (!stats.counts) throw new RangeError('the stopping-rule bound needs the block counts');
  const log2T = rule.log2Product(stats.counts, stats.lostTrials ?? 0);
  const fired = rule.fired(log2T);
  const thresholdBits = rule.thresholdBits();
  const entropy = pefEntropyBits(thresholdBits, design.beta, eps.smoothing, eps.estimation);
  return {
    entropyBits: fired ? Math.min(MAX_OUTPUT_BITS_PER_TRIAL * stats.trials, entropy) : -Infinity,
    details: {
      formula: FORMULA,
      sEvaluated: null,
      pef: pefRecord(plan, log2T, thresholdBits, 1),
      stopping: {
        rule: RULE,
        targetBits: rule.targetBits,
        thresholdBits,
        firedAtTrial: stats.trials,
        segmentTrials: STOPPING_SEGMENT_TRIALS,
        maxTrials: rule.maxTrials,
      },
    },
  };
}

/** The stopping-rule Bound of one run: evaluates a block under its plan, then has the planner design the next one. */
export function pefStoppingBound(rule: StoppingRule): Bound {
  return {
    name: 'probability-estimation-stopping',
    adversary: 'classical',
    adversaryAssumption: PEF_ADVERSARY_ASSUMPTION,
    assumptions: [PEF_MODEL_ASSUMPTION, `early stopping (--target-bits ${rule.targetBits}): ${RULE}`],
    modes: ['uniform'],
    evaluate(stats: BlockStats, eps: EpsSplit): BoundEvaluation {
      const ev = stoppingEvaluation(stats, eps, rule);
      rule.observe(stats.blockIndex ?? 0, stats.trials, stats.sEstimate);
      return ev;
    },
  };
}
