/**
 * What the calibration needs of a chip: the PROTOCOL 5 commands as the
 * Device of src/device offers them (a Device satisfies this interface as it
 * is; tests may wrap one to inject faults). Nothing here reaches past the
 * protocol: the calibration learns the chip only by measuring it.
 */
import type { CountsFrame, InfoFrame, StatusFrame } from '../protocol/types.ts';
import type { TrialsBatch } from '../device/trials-batch.ts';

/** The trial events of a run the calibration reads (src/device/run.ts RunEvent; other kinds are ignored). */
export interface TrialsEventLike {
  kind: string;
  first?: number;
  n?: number;
  records?: Uint8Array;
  flags?: number;
  /** kind 'trialsBatch': the packed TRIALS frames of one chunk read. */
  batch?: TrialsBatch;
}

export interface CalibrationPort {
  getInfo(): Promise<InfoFrame>;
  getStatus(): Promise<StatusFrame>;
  /** A(x=0) A(x=1) B(y=0) B(y=1), centidegrees 0..17999. */
  setAngles(anglesCentideg: [number, number, number, number]): Promise<unknown>;
  setWindow(windowPs: number): Promise<unknown>;
  /** detector 0..3 = A0 A1 B0 B1. */
  setBias(detector: number, biasMillivolts: number): Promise<unknown>;
  setPump(pumpMicrowatts: number): Promise<unknown>;
  setDelay(delayPs: number): Promise<unknown>;
  reset(): Promise<unknown>;
  saveCalibration(): Promise<unknown>;
  measureCounts(opts: { angleACentideg: number; angleBCentideg: number; integrationMs: number }): Promise<CountsFrame>;
  start(opts: { source: 'internal'; limitTrials: number }): Promise<AsyncIterable<TrialsEventLike[]>>;
  stop(): Promise<unknown>;
}
