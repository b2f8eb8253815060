/**
 * The checks a finished block must pass before it is certified, each a small
 * function of the block's facts returning the one-line reason it fails, or
 * null. The certifier runs them in BLOCK_CHECKS order (the first failure
 * names the refusal), then the entropy check if every other one passed.
 */
import type { BlockTally } from './accounting.ts';
import type { BlockBound } from './bounds/registry.ts';
import type { ChshEstimate } from './estimate.ts';
import type { OutcomeHealthTests } from './health.ts';

export type BlockTest = 'lost' | 'status' | 'bell' | 'rct' | 'apt' | 'settings' | 'entropy' | 'incomplete';

export interface BlockFacts {
  tally: BlockTally;
  /** The run's block size N. */
  blockTrials: number;
  /** The run ended inside the block. */
  incomplete: boolean;
  /** Lost trials (device + link). */
  lost: number;
  maxLostShare: number;
  /** Names of the STATUS faults (not ignored) that may cover the block. */
  faults: string[];
  est: ChshEstimate;
  bound: BlockBound;
  health: OutcomeHealthTests;
  /** Health-test failures during the block, outcome a then b. */
  rct: [number, number];
  apt: [number, number];
  /** Internal settings: the estimator assumes q(x,y) = 1/4, so their uniformity is tested. */
  testSettings: boolean;
}

type BlockCheck = (f: BlockFacts) => string | null;

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

const incomplete: BlockCheck = ({ incomplete, tally, blockTrials }) =>
  incomplete ? `run ended after ${tally.trials} of the block's ${blockTrials} trials` : null;

/** PROTOCOL 6: lost trials count at worst case; too many and the block is refused. */
const lost: BlockCheck = ({ lost, tally: t, maxLostShare }) =>
  lost > maxLostShare * t.trials
    ? `lost trials ${lost} of ${t.trials} (${pct(lost / t.trials)}; device ${t.lostDevice}, link ${t.lostLink}) > ${pct(maxLostShare)}`
    : null;

/** PROTOCOL 4 STATUS: faults during the block. */
const status: BlockCheck = ({ faults }) =>
  faults.length > 0 ? `device fault during the block: ${faults.join(', ')}` : null;

/** Bell test: the lower confidence bound on S must exceed the local bound 2. */
const bell: BlockCheck = ({ bound, est, tally }) => {
  if (bound.sLowerBound > 2) return null;
  return est.sEstimate <= 2
    ? `S = ${est.sEstimate.toFixed(3)} <= 2 (lower bound ${bound.sLowerBound.toFixed(3)} over ${tally.trials} trials): no Bell violation; is the chip calibrated? run epqrng calibrate`
    : `S lower bound ${bound.sLowerBound.toFixed(3)} <= 2 (S = ${est.sEstimate.toFixed(4)} over ${tally.trials} trials, eps_est ${bound.eps.estimation.toExponential(2)}): violation not significant`;
};

/** NIST SP 800-90B 4.4.1 repetition count test over the block's outcome bits. */
const rct: BlockCheck = ({ rct: [a, b], health: hc }) =>
  a + b > 0
    ? `repetition count test failed on outcome ${a > 0 ? 'a' : 'b'}: a run of ${hc.rctCutoff} equal bits (C = 1 + ceil(-log2(alpha)/H), alpha = 2^${Math.log2(hc.alpha).toFixed(0)}, H = ${hc.entropyPerBit} bit; SP 800-90B 4.4.1)`
    : null;

/** NIST SP 800-90B 4.4.2 adaptive proportion test. */
const apt: BlockCheck = ({ apt: [a, b], health: hc }) =>
  a + b > 0
    ? `adaptive proportion test failed on outcome ${a > 0 ? 'a' : 'b'}: ${hc.aptCutoff} or more equal bits in a window of 1024 (alpha = 2^${Math.log2(hc.alpha).toFixed(0)}, H = ${hc.entropyPerBit} bit; SP 800-90B 4.4.2)`
    : null;

/** Settings uniformity (internal settings; host settings are the host's own draws, echo-checked: PROTOCOL 6). */
const settings: BlockCheck = ({ est, health: hc, testSettings }) => {
  if (!(testSettings && est.recordedTrials > 0)) return null;
  const u = hc.settingsUniform(est.settingCounts);
  return u.ok
    ? null
    : `settings not uniform: chi-square ${u.chiSquare.toFixed(1)} > ${hc.settingsCritical.toFixed(1)} (3 dof, false alarm 2^${Math.log2(hc.settingsAlpha).toFixed(0)}), trials per x,y 00/01/10/11 = ${est.settingCounts.join('/')}`;
};

/** The certified entropy must leave at least one output byte (leftover hash lemma). */
const entropy: BlockCheck = ({ bound, est, tally }) =>
  bound.outputBits < 8
    ? `certified entropy ${bound.entropyBits.toFixed(1)} bits at S = ${est.sEstimate.toFixed(4)} over ${tally.trials} trials leaves no output byte after 2 log2(1/eps_ext) = ${(2 * Math.log2(1 / bound.eps.extraction)).toFixed(1)} bits (${bound.adversary} bound): use larger blocks`
    : null;

/** The checks in the order they are reported. */
export const BLOCK_CHECKS: ReadonlyArray<readonly [BlockTest, BlockCheck]> = [
  ['incomplete', incomplete],
  ['lost', lost],
  ['status', status],
  ['bell', bell],
  ['rct', rct],
  ['apt', apt],
  ['settings', settings],
];

/** Every failed check with its reason, in order; the entropy check only when all others passed. */
export function failedChecks(facts: BlockFacts): Array<[BlockTest, string]> {
  const failed: Array<[BlockTest, string]> = [];
  for (const [test, check] of BLOCK_CHECKS) {
    const reason = check(facts);
    if (reason !== null) failed.push([test, reason]);
  }
  if (failed.length === 0) {
    const reason = entropy(facts);
    if (reason !== null) failed.push(['entropy', reason]);
  }
  return failed;
}
