/**
 * Steps "before" and "after": a trial run of at least 10^6 trials (the calibration requirement)
 * with the chip's internal settings, scored as the certified stream scores
 * it: S over all trials (no post-selection; a = 1 iff A1 clicked and A0 did
 * not) and the certified bits per trial of the Pironio et al. (2010) bound
 * at that S.
 */
import type { CalibrationContext } from '../context.ts';
import { chshFromTally, type ChshEstimate, type TrialTally } from '../tally.ts';

export const MIN_VERIFY_TRIALS = 1_000_000;

export interface VerifyResult extends ChshEstimate {
  trials: number;
  lostTrials: number;
  tally: TrialTally;
  /** The settings in force during the run (STATUS read before START). */
  settings: {
    anglesCentideg: [number, number, number, number];
    windowPs: number;
    delayPs: number;
    pumpMicrowatts: number;
    biasMv: [number, number, number, number];
    uncalibrated: boolean;
  };
}

export async function verifyRun(ctx: CalibrationContext, trials: number): Promise<VerifyResult> {
  if (trials < MIN_VERIFY_TRIALS)
    throw new RangeError(`a verification run needs at least ${MIN_VERIFY_TRIALS} trials (got ${trials})`);
  const status = await ctx.assertHealthy();
  const tally = await ctx.runTrials(trials, (n) => ctx.progress(n, trials));
  ctx.progress(trials, trials);
  return {
    ...chshFromTally(tally),
    trials: tally.trials,
    lostTrials: tally.lostTrials,
    tally,
    settings: {
      anglesCentideg: [...status.angles] as [number, number, number, number],
      windowPs: status.window,
      delayPs: status.delay,
      pumpMicrowatts: status.pump,
      biasMv: [...status.bias] as [number, number, number, number],
      uncalibrated: (status.faults & (1 << 5)) !== 0, // PROTOCOL 4 STATUS: fault bit 5 UNCALIBRATED
    },
  };
}
