/**
 * Typed EPQ-1 frames (PROTOCOL sections 3-5). The layouts themselves live in firmware-protocol/frames.json; these
 * types name the decoded values. More in README.md (types.ts).
 */

export const FRAME_SIZE = 64;
export const PAYLOAD_OFFSET = 8;
export const PAYLOAD_SIZE = 52;
export const CRC_OFFSET = 60;
export const MAGIC0 = 0xe5;
export const MAGIC1 = 0x51;
export const MAX_TRIALS_PER_FRAME = 40;
export const MAX_SETTINGS_PER_FRAME = 192;

/** PROTOCOL 4 TRIALS: record byte bits. */
export const RECORD_BIT = { B0: 0x01, B1: 0x02, A0: 0x04, A1: 0x08, Y: 0x10, X: 0x20, RESERVED: 0xc0 } as const;

/** PROTOCOL 4 TRIALS: flag bits. */
export const TRIALS_FLAG = { GAP: 0x01, HOST_SETTINGS: 0x02, RESUMED: 0x04 } as const;

export const FrameType = {
  TRIALS: 0x01,
  COUNTS: 0x02,
  STATUS: 0x03,
  INFO: 0x04,
  ACK: 0x05,
  CREDIT: 0x06,
  GET_INFO: 0x81,
  GET_STATUS: 0x82,
  START: 0x83,
  STOP: 0x84,
  SET_ANGLES: 0x85,
  SET_WINDOW: 0x86,
  SET_BIAS: 0x87,
  MEASURE_COUNTS: 0x88,
  SETTINGS: 0x89,
  SET_PUMP: 0x8a,
  SET_STATUS_INTERVAL: 0x8b,
  SET_DELAY: 0x8c,
  RESET: 0x8d,
  SAVE_CALIBRATION: 0x8e,
} as const;
export type FrameKind = keyof typeof FrameType;

/** PROTOCOL 4 ACK: status codes. */
export const AckStatus = {
  OK: 0,
  UNKNOWN_COMMAND: 1,
  BAD_ARGUMENT: 2,
  BAD_STATE: 3,
  BUSY: 4,
  HARDWARE_FAULT: 5,
  SETTINGS_OVERFLOW: 6,
} as const;
export type AckStatusName = keyof typeof AckStatus;

/** PROTOCOL 4 STATUS: device state. */
export const DeviceState = { IDLE: 0, RUNNING: 1, MEASURING: 2, FAULT: 3 } as const;

/** PROTOCOL 4 STATUS: fault bits (as masks). */
export const Fault = {
  PUMP_UNLOCKED: 1 << 0,
  TEMPERATURE: 1 << 1,
  DETECTOR_LATCHED: 1 << 2,
  OVERFLOW: 1 << 3,
  SETTINGS_STARVED: 1 << 4,
  UNCALIBRATED: 1 << 5,
  SELF_TEST: 1 << 6,
} as const;
/** PROTOCOL 4 STATUS: fault bit names, by bit number. */
export const FAULT_NAMES: readonly string[] = Object.entries(Fault).reduce<string[]>((names, [name, mask]) => {
  names[Math.log2(mask)] = name;
  return names;
}, []);

/** The names of the set bits of a STATUS faults field (`bitN` for a bit PROTOCOL 4 does not name). */
export function faultNames(faults: number): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if (faults & (1 << bit)) names.push(FAULT_NAMES[bit] ?? `bit${bit}`);
  }
  return names;
}
/** PROTOCOL 4 STATUS: any fault other than bits 3, 4, 5 puts the device in FAULT. */
export const FATAL_FAULTS = Fault.PUMP_UNLOCKED | Fault.TEMPERATURE | Fault.DETECTOR_LATCHED | Fault.SELF_TEST;

/** PROTOCOL 4 INFO: capability bits (as masks). */
export const Capability = { HOST_SETTINGS: 1, COUNTS_MODE: 2, BIAS_CONTROL: 4, DELAY_CONTROL: 8 } as const;

interface Header {
  flags: number;
  seq: number;
}

// ---- device to host (PROTOCOL 4) ----
export interface TrialsFrame extends Header {
  kind: 'TRIALS';
  first: number;
  n: number;
  /** n raw record bytes (bits per RECORD_BIT). */
  records: Uint8Array;
}
export interface CountsFrame extends Header {
  kind: 'COUNTS';
  id: number;
  angleA: number;
  angleB: number;
  integration: number;
  singles: [number, number, number, number];
  coincidences: [number, number, number, number];
  trials: number;
  window: number;
  delay: number;
}
export interface StatusFrame extends Header {
  kind: 'STATUS';
  trials: number;
  temperature: number;
  pump: number;
  bias: [number, number, number, number];
  dark: [number, number, number, number];
  window: number;
  angles: [number, number, number, number];
  faults: number;
  state: number;
  source: number;
  lost: number;
  delay: number;
}
export interface InfoFrame extends Header {
  kind: 'INFO';
  protocol: [number, number];
  firmware: [number, number, number];
  serial: string;
  model: string;
  maxTrialRate: number;
  capabilities: number;
  settingsFifo: number;
}
export interface AckFrame extends Header {
  kind: 'ACK';
  ackSeq: number;
  ackType: number;
  status: number;
  detail: number;
}
export interface CreditFrame extends Header {
  kind: 'CREDIT';
  free: number;
  consumed: number;
}

// ---- host to device (PROTOCOL 5) ----
export interface GetInfoFrame extends Header {
  kind: 'GET_INFO';
}
export interface GetStatusFrame extends Header {
  kind: 'GET_STATUS';
}
export interface StartFrame extends Header {
  kind: 'START';
  source: number;
  rate: number;
  limit: number;
}
export interface StopFrame extends Header {
  kind: 'STOP';
}
export interface SetAnglesFrame extends Header {
  kind: 'SET_ANGLES';
  angles: [number, number, number, number];
}
export interface SetWindowFrame extends Header {
  kind: 'SET_WINDOW';
  window: number;
}
export interface SetBiasFrame extends Header {
  kind: 'SET_BIAS';
  detector: number;
  bias: number;
}
export interface MeasureCountsFrame extends Header {
  kind: 'MEASURE_COUNTS';
  id: number;
  angleA: number;
  angleB: number;
  integration: number;
}
export interface SettingsFrame extends Header {
  kind: 'SETTINGS';
  count: number;
  /** count entries, each (x << 1) | y, trial k of the frame at index k. */
  settings: Uint8Array;
}
export interface SetPumpFrame extends Header {
  kind: 'SET_PUMP';
  pump: number;
}
export interface SetStatusIntervalFrame extends Header {
  kind: 'SET_STATUS_INTERVAL';
  interval: number;
}
export interface SetDelayFrame extends Header {
  kind: 'SET_DELAY';
  delay: number;
}
export interface ResetFrame extends Header {
  kind: 'RESET';
}
export interface SaveCalibrationFrame extends Header {
  kind: 'SAVE_CALIBRATION';
}

export type DeviceFrame = TrialsFrame | CountsFrame | StatusFrame | InfoFrame | AckFrame | CreditFrame;
export type HostFrame =
  | GetInfoFrame
  | GetStatusFrame
  | StartFrame
  | StopFrame
  | SetAnglesFrame
  | SetWindowFrame
  | SetBiasFrame
  | MeasureCountsFrame
  | SettingsFrame
  | SetPumpFrame
  | SetStatusIntervalFrame
  | SetDelayFrame
  | ResetFrame
  | SaveCalibrationFrame;
export type Frame = DeviceFrame | HostFrame;

/** A well-formed frame of a type protocol 1.0 does not define (PROTOCOL 3: skipped and counted). */
export interface UnknownFrame extends Header {
  kind: 'UNKNOWN';
  type: number;
  payload: Uint8Array;
}
