/**
 * What every calibration step shares: the port, the chip-time account per
 * step, progress reporting, and the fault check after every measurement
 * (PROTOCOL 4 STATUS: a set fault bit other than 3, 4, 5 puts the chip in
 * FAULT; then nothing it measures is to be trusted).
 */
import { DeviceError } from '../errors.ts';
import { DeviceState, FATAL_FAULTS, faultNames, type CountsFrame, type StatusFrame } from '../protocol/types.ts';
import type { CalibrationPort } from './port.ts';
import type { StepName } from './plan.ts';
import { addRecord, emptyTally, type TrialTally } from './tally.ts';

/** PROTOCOL 1: the source runs at 1,000,000 trials/s by default. */
export const DEFAULT_TRIAL_RATE_PER_S = 1_000_000;

/** Names of the set bits of a STATUS faults field (PROTOCOL 4 STATUS). */
export function describeFaults(faults: number): string {
  return faultNames(faults).join(', ') || 'none';
}

/** Progress of the current step: points done of total, and the chip time it has spent so far. */
export type ProgressListener = (step: StepName, done: number, total: number, chipMs: number) => void;

export class CalibrationContext {
  step: StepName = 'before';
  /** Chip time spent per step, ms: integration times plus trial runs at the chip's rate. */
  readonly chipMs: Partial<Record<StepName, number>> = {};
  readonly wallMs: Partial<Record<StepName, number>> = {};
  /** Trials per second, learned from the first COUNTS (trials / integration). */
  trialRatePerS = DEFAULT_TRIAL_RATE_PER_S;
  private rateKnown = false;

  constructor(
    readonly port: CalibrationPort,
    private readonly onProgress: ProgressListener = () => undefined,
  ) {}

  progress(done: number, total: number): void {
    this.onProgress(this.step, done, total, this.chipMs[this.step] ?? 0);
  }

  private addChipMs(ms: number): void {
    this.chipMs[this.step] = (this.chipMs[this.step] ?? 0) + ms;
  }

  /** The chip's state; throws when it reports a fatal fault or state FAULT (PROTOCOL 4 STATUS). */
  async assertHealthy(): Promise<StatusFrame> {
    const status = await this.port.getStatus();
    if (status.state === DeviceState.FAULT || (status.faults & FATAL_FAULTS) !== 0) {
      throw new DeviceError('DEVICE_FAULT', `chip reported fault ${describeFaults(status.faults & FATAL_FAULTS)}`);
    }
    return status;
  }

  /** PROTOCOL 5 MEASURE_COUNTS at fixed analyzer angles, then a fault check. */
  async measure(angleACentideg: number, angleBCentideg: number, integrationMs: number): Promise<CountsFrame> {
    const counts = await this.port.measureCounts({ angleACentideg, angleBCentideg, integrationMs });
    this.addChipMs(counts.integration);
    if (!this.rateKnown && counts.integration > 0 && counts.trials > 0) {
      this.trialRatePerS = (counts.trials * 1000) / counts.integration;
      this.rateKnown = true;
    }
    if (counts.trials <= 0)
      throw new DeviceError('NO_TRIALS', `MEASURE_COUNTS reported 0 trials in ${counts.integration} ms`);
    await this.assertHealthy();
    return counts;
  }

  /**
   * A trial run of `limitTrials` with the chip's internal settings (PROTOCOL 5
   * START with a limit: the chip stops by itself). Trials lost inside the chip
   * (GAP) or on the link (missing indices) are counted, never invented
   * (PROTOCOL 4 TRIALS).
   */
  async runTrials(limitTrials: number, onProgress?: (trials: number) => void): Promise<TrialTally> {
    const tally = emptyTally();
    const run = await this.port.start({ source: 'internal', limitTrials });
    let next = 0;
    let reported = 0;
    for await (const events of run) {
      for (const ev of events) {
        if (ev.kind === 'trialsBatch' && ev.batch !== undefined) {
          const b = ev.batch;
          for (let i = 0; i < b.frames; i++)
            next = tallyFrame(tally, next, b.first[i]!, b.n[i]!, b.records, b.recordsAt(i));
        } else if (ev.kind === 'trials' && ev.records !== undefined && ev.first !== undefined) {
          next = tallyFrame(tally, next, ev.first, ev.n ?? ev.records.length, ev.records, 0);
        }
      }
      if (next - reported >= 50_000) {
        // Chip time as the trials arrive (performed or lost, they took the chip's time).
        this.addChipMs(((next - reported) / this.trialRatePerS) * 1000);
        reported = next;
        onProgress?.(tally.trials);
      }
    }
    if (next < limitTrials) tally.lostTrials += limitTrials - next;
    this.addChipMs(((Math.max(next, limitTrials) - reported) / this.trialRatePerS) * 1000);
    await this.assertHealthy();
    return tally;
  }
}

/**
 * Tallies one TRIALS frame's n records at records[at, at + n) (trials first..first+n-1) after trial `next`; returns
 * the next trial expected. PROTOCOL 4 TRIALS: GAP, or a missing range without it: those trials are unknown.
 */
function tallyFrame(
  tally: TrialTally,
  next: number,
  first: number,
  n: number,
  records: Uint8Array,
  at: number,
): number {
  if (first > next) tally.lostTrials += first - next;
  else if (first < next) return next; // a duplicate of trials already counted
  for (let k = 0; k < n; k++) addRecord(tally, records[at + k]!);
  return first + n;
}
