/**
 * What a SimulatedChip is built from (its options) and what it reports
 * (INFO values, counters for tests). Fault injection is in faults.ts.
 */
import type { InfoFrame } from '../protocol/types.ts';
import type { HiddenParams } from './physics.ts';
import type { ChipFaults } from './faults.ts';

export type ChipMode = 'honest' | 'lhv' | 'postselect' | 'tamper' | 'biased';
export type ChipClock = 'virtual' | 'realtime';

export interface ChipOptions {
  /** Seeds the hidden values, the serial number and every random draw. */
  seed: number;
  /** Adversarial firmware (default 'honest'). */
  mode?: ChipMode;
  /** Flash preloaded with idealSettings(hidden): as if `epqrng calibrate --save` had been run. */
  calibrated?: boolean;
  /** Flash persisted to this JSON file (read at power-up when it exists, written on SAVE_CALIBRATION). */
  flashFile?: string;
  /** Replace some of the drawn hidden values. */
  hidden?: Partial<HiddenParams>;
  /** Fault injection; string values (from a command line: `byteDropRate=1e-4`) are parsed and checked. */
  faults?: ChipFaults | Record<string, string>;
  clock?: ChipClock;
  /** 'lhv': the CHSH value the local model aims at, <= 2 (default 2). */
  lhvTargetS?: number;
  /** 'biased': P(x = 1) of the internal settings (default 0.6). */
  biasedProbability?: number;
  /** 'tamper': share of host-mode trials measured at other settings than the host sent (default 0.01). */
  tamperRate?: number;
  /**
   * 'tamper': what the records echo for those trials: the settings used (default, a false echo of the
   * host's) or the host's.
   */
  tamperEcho?: 'used' | 'host';
  /** USB/INFO serial number (default `EPQ1-` + 8 hex digits derived from the seed). */
  serial?: string;
  /**
   * 'realtime': device output buffer in frames before TRIALS overflow (default 16384 = 1 MiB, about 0.4 s
   * at 1 M trials/s).
   */
  deviceBufferFrames?: number;
  /** 'realtime': batch period of the trial generator (default 4 ms). */
  batchMs?: number;
}

/** PROTOCOL 4 INFO values of this firmware. */
export const CHIP_INFO = {
  protocol: [1, 0] as [number, number],
  firmware: [1, 0, 3] as [number, number, number],
  model: 'EPQ-1',
  maxTrialRate: 1_000_000,
  capabilities: 15,
  settingsFifo: 65536,
} as const;

/** PROTOCOL 4 INFO frame of this firmware (its seq filled in when sent). */
export function infoFrame(serial: string): InfoFrame {
  return {
    kind: 'INFO',
    flags: 0,
    seq: 0,
    ...CHIP_INFO,
    protocol: [...CHIP_INFO.protocol],
    firmware: [...CHIP_INFO.firmware],
    serial,
  };
}

export interface ChipStats {
  /** Host frames dropped for a wrong magic or CRC (bytes skipped while re-synchronising counted separately). */
  hostFramesDropped: number;
  hostBytesSkipped: number;
  commands: number;
  framesSent: number;
  bytesSent: number;
  trialsPerformed: number;
  trialsLost: number;
  linkFramesLost: number;
  linkBytesDropped: number;
  linkBytesFlipped: number;
  linkBytesDuplicated: number;
  tamperedTrials: number;
}

/** Every counter at zero. */
export function zeroStats(): ChipStats {
  return {
    hostFramesDropped: 0,
    hostBytesSkipped: 0,
    commands: 0,
    framesSent: 0,
    bytesSent: 0,
    trialsPerformed: 0,
    trialsLost: 0,
    linkFramesLost: 0,
    linkBytesDropped: 0,
    linkBytesFlipped: 0,
    linkBytesDuplicated: 0,
    tamperedTrials: 0,
  };
}
