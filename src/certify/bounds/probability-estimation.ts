/**
 * Probability-estimation certification of a block against classical side
 * information (../pef/README.md: the PEF condition, the solver, the entropy
 * statement). The PEF and its power for block j are fixed before block j's
 * data: designed (../pef/design.ts) from a prior behaviour (a calibration
 * profile's counts, or the default below) for the first block, then from
 * the frequencies of block j - 1; the certificate records F, beta and that
 * origin.
 *
 * Block statement. T = prod_i F(c_i, z_i) over the block's n trials,
 * L = log2(T)/beta. The output length is chosen from a fixed grid of
 * PEF_THRESHOLD_GRID_SIZE thresholds L_j = j (2n / size): j the largest one
 * reached. For the exact event "j is the largest reached" (the argument
 * needs only T >= 2^(beta L_j) on it, ../pef/entropy.ts), with
 * kappa = eps_EA / size (union bound over the thresholds the certifier can
 * pick):
 *   H_min^{eps_s}(A^n B^n | X^n Y^n E, j) >= L_j + log2(eps_s kappa)/beta + log2(kappa),
 * unless Pr[j] < kappa: a bound for each output length on the event that
 * this length is chosen, the errors of the lengths weighted by their
 * probabilities (at most eps_EA + 2 eps_s + eps_ext in total; derived in
 * docs/bounds.md, "Thresholds and variable length", not a cited theorem).
 *
 * Lost trials: a trial without a record has no (c, z); its factor is 0
 * (F(lost) = 0 keeps the PEF condition whatever the device does with its
 * losses), so a block with a lost trial certifies nothing under this bound.
 */
export type { PefRecord } from './bound.ts';
import { epsSplit, INPUT_BITS_PER_TRIAL, type EpsSplit } from '../bounds.ts';
import { designPef, type PefDesign } from '../pef/design.ts';
import { log2Product, pefEntropyBits } from '../pef/entropy.ts';
import { type Behaviour, behaviourOfS, modelExtremePoints, UNIFORM_SETTINGS } from '../pef/model.ts';
import { pefInvalidReason } from '../pef/solver.ts';
import { VARIABLE_LENGTH_NOTE, type BlockStats, type Bound, type BoundEvaluation, type PefRecord } from './bound.ts';

/** Thresholds of the output-length grid (union bound over them: kappa = eps_EA / size). */
export const PEF_THRESHOLD_GRID_SIZE = 4096;

/** The design behaviour of a first block without a calibration profile: the symmetric one at S = 2.4. */
export const DEFAULT_PRIOR_S = 2.4;

/** What a PEF was designed from, for the certificate. */
export interface PefPlan {
  design: PefDesign;
  origin: string;
}

/** A behaviour from counts N(a,b|x,y) (index 8x+4y+2a+b), or null when a setting pair has no trial. */
export function behaviourOfCounts(counts: ArrayLike<number>): Behaviour | null {
  const q = new Float64Array(16);
  for (let z = 0; z < 4; z++) {
    let total = 0;
    for (let c = 0; c < 4; c++) total += counts[4 * z + c] ?? 0;
    if (!(total > 0)) return null;
    for (let c = 0; c < 4; c++) q[4 * z + c] = (counts[4 * z + c] ?? 0) / total;
  }
  return q;
}

/** Design grid of S: a block's PEF is designed at the symmetric behaviour of the previous block's S-hat rounded down to it. */
export const PEF_DESIGN_S_STEP = 0.005;

/**
 * The PEF plan of each block, designed from what came before it (file
 * comment): the prior for the first block, then the symmetric behaviour
 * (behaviourOfS) at the previous block's S-hat rounded down to
 * PEF_DESIGN_S_STEP. Designs are cached by that S, so a steady chip reuses
 * its PEF (a design takes about a second: ../pef/design.ts).
 */
export class PefPlanner {
  private plan: PefPlan;
  private readonly cache = new Map<number, PefDesign>();
  /**
   * designTrials: the block length each PEF is designed for; kappaDivisor: eps_EA is divided by it
   * (the threshold grid's union bound; 1 for a stopping rule's single event).
   */
  constructor(
    private readonly blockTrials: number,
    private readonly eps: number,
    prior?: { behaviour: Behaviour; origin: string },
    private readonly adapt = true,
    private readonly kappaDivisor = PEF_THRESHOLD_GRID_SIZE,
  ) {
    const p = prior ?? {
      behaviour: behaviourOfS(DEFAULT_PRIOR_S),
      origin: `default design behaviour at S = ${DEFAULT_PRIOR_S}, fixed before any data`,
    };
    this.plan = { design: this.design(p.behaviour), origin: p.origin };
  }

  private design(q: Behaviour): PefDesign {
    const split = epsSplit(this.eps);
    return designPef(q, this.blockTrials, split.smoothing, split.estimation / this.kappaDivisor);
  }

  /** The plan for the next block to be certified. */
  current(): PefPlan {
    return this.plan;
  }

  /** A block has ended (certified or not): the next block's PEF is designed from its S-hat. */
  observe(blockIndex: number, sEstimate: number, from = `block ${blockIndex}`): void {
    if (!this.adapt || !Number.isFinite(sEstimate)) return;
    const step = PEF_DESIGN_S_STEP;
    const s = Math.min(2.825, Math.max(2 + step, Math.floor(sEstimate / step) * step));
    const key = Math.round(s / step);
    let design = this.cache.get(key);
    if (!design) {
      design = this.design(behaviourOfS(key * step));
      if (this.cache.size >= 64) this.cache.clear();
      this.cache.set(key, design);
    }
    this.plan = {
      design,
      origin: `designed at the symmetric behaviour with S = ${(key * step).toFixed(3)} from ${from} (S-hat ${sEstimate.toFixed(4)})`,
    };
  }
}

/** The adversary model of probability estimation, for the certificate. */
export const PEF_ADVERSARY_ASSUMPTION =
  "the adversary's side information is classical (probability estimation); not secure against quantum side information";

/** What the PEF condition assumes of each trial (the model), for the certificate. */
export const PEF_MODEL_ASSUMPTION =
  'each trial, given the past and the side information, behaves no-signalling with S <= 2 sqrt 2 (every quantum behaviour does), with uniform settings independent of the device';

/** The plan, after its PEF passes the validity check on every extreme point (throws otherwise: never used unverified). */
export function checkedPlan(plan: PefPlan): PefPlan {
  const { design } = plan;
  const invalid = pefInvalidReason(design.factors, modelExtremePoints(design.model), design.beta, UNIFORM_SETTINGS);
  if (invalid !== null) throw new Error(`PEF for this block failed its check: ${invalid}`);
  return plan;
}

/** The certificate's record of the PEF a block was certified with. */
export function pefRecord(plan: PefPlan, log2T: number, thresholdBits: number, thresholds: number): PefRecord {
  const { design } = plan;
  return {
    model: design.model,
    factors: Array.from(design.factors),
    beta: design.beta,
    origin: plan.origin,
    log2Product: Number.isFinite(log2T) ? log2T : -1e308,
    thresholdBits,
    thresholds,
  };
}

/** The statement's formula, for the certificate's `bound`. */
const FORMULA = `probability estimation (Zhang-Knill-Bierhorst 2018, Knill et al. 2020), NS + Tsirelson model: L_j + log2(eps_s kappa)/beta + log2(kappa), L_j the largest of ${PEF_THRESHOLD_GRID_SIZE} thresholds j*2n/${PEF_THRESHOLD_GRID_SIZE} at or below log2(prod F)/beta, kappa = eps_EA / ${PEF_THRESHOLD_GRID_SIZE}; ${VARIABLE_LENGTH_NOTE}; a block with a lost trial certifies nothing`;

/** The PEF statement for one block under its plan (file comment); throws if the PEF fails its check (never used unverified). */
export function pefEvaluation(stats: BlockStats, eps: EpsSplit, plan: PefPlan): BoundEvaluation {
  const { design } = checkedPlan(plan);
  const counts = stats.counts;
  if (!counts) throw new RangeError('the PEF bound needs the block counts');
  const log2T = (stats.lostTrials ?? 0) > 0 ? -Infinity : log2Product(counts, design.factors);
  const step = (INPUT_BITS_PER_TRIAL * stats.trials) / PEF_THRESHOLD_GRID_SIZE;
  const j = Math.min(PEF_THRESHOLD_GRID_SIZE, Math.floor(log2T / design.beta / step));
  const kappa = eps.estimation / PEF_THRESHOLD_GRID_SIZE;
  const thresholdBits = j >= 1 ? j * step : 0;
  return {
    // at most 1 bit per trial: the extract stage's seed covers m <= n/2 (a lower bound is always sound)
    entropyBits:
      j >= 1 ? Math.min(stats.trials, pefEntropyBits(thresholdBits, design.beta, eps.smoothing, kappa)) : -Infinity,
    details: {
      formula: FORMULA,
      sEvaluated: null,
      pef: pefRecord(plan, log2T, thresholdBits, PEF_THRESHOLD_GRID_SIZE),
    },
  };
}

/**
 * The probability-estimation Bound of one run: each evaluation uses the
 * planner's current plan (designed before the block) and then has the
 * planner design the next block's from this block's S-hat.
 */
export function probabilityEstimationBound(planner: PefPlanner): Bound {
  return {
    name: 'probability-estimation',
    adversary: 'classical',
    adversaryAssumption: PEF_ADVERSARY_ASSUMPTION,
    assumptions: [PEF_MODEL_ASSUMPTION],
    modes: ['uniform'],
    evaluate(stats: BlockStats, eps: EpsSplit): BoundEvaluation {
      const ev = pefEvaluation(stats, eps, planner.current());
      planner.observe(stats.blockIndex ?? 0, stats.sEstimate);
      return ev;
    },
  };
}
