/**
 * The firmware's command side (PROTOCOL 3 and 5): host frames in, each
 * command checked against the device state and its arguments, answered by
 * an ACK, and carried out through the chip's operations (`ChipOperations`,
 * implemented in chip.ts). What a command does is the chip's; whether and how
 * it is answered is decided here.
 */
import { decodeFrame } from '../protocol/decode.ts';
import { FrameError } from '../protocol/errors.ts';
import { AckStatus, DeviceState, FrameType, MAGIC0, MAGIC1, type HostFrame } from '../protocol/types.ts';
import type { ChipSettings } from './physics.ts';
import { CHIP_INFO, type ChipStats } from './options.ts';

/** What the command dispatch may ask of the chip. */
export interface ChipOperations {
  /** PROTOCOL 4 STATUS state code. */
  state(): number;
  /** The settings source of the run (0 internal, 1 host). */
  source(): number;
  /** The settings in force (the SET_* commands change them in place). */
  settings(): ChipSettings;
  ack(seq: number, type: number, status: number, detail?: number): void;
  sendInfo(): void;
  sendStatus(): void;
  beginRun(source: number, rateHz: number, limit: number): void;
  /** PROTOCOL 5 STOP: a run sends its buffered TRIALS, a measurement is abandoned; IDLE. */
  stop(): void;
  setStatusInterval(ms: number): void;
  beginMeasurement(seq: number, id: number, angleA: number, angleB: number, integration: number): void;
  /** Appends host settings to the FIFO; false when they do not fit. */
  queueSettings(settings: ArrayLike<number>, count: number): boolean;
  /** PROTOCOL 5 RESET: stop, clear faults, reload the saved calibration. */
  reset(): void;
  /** Writes the settings in force to flash; false when the flash cannot be written. */
  saveCalibration(): boolean;
}

/** The first magic pair at or after `from` (PROTOCOL 3 re-synchronisation), keeping a trailing first magic byte. */
export function findMagic(buf: Uint8Array, from: number): number {
  for (let i = from; i < buf.length - 1; i++) if (buf[i] === MAGIC0 && buf[i + 1] === MAGIC1) return i;
  // Keep a trailing first magic byte: it may start the next frame.
  return buf.length > from && buf[buf.length - 1] === MAGIC0 ? buf.length - 1 : Math.max(from, buf.length);
}

/** Runs one 64-byte host frame. Returns false when it failed magic/CRC (dropped), true when answered or accepted. */
export function handleHostFrame(chip: ChipOperations, stats: ChipStats, bytes: Uint8Array): boolean {
  let frame: ReturnType<typeof decodeFrame>;
  try {
    frame = decodeFrame(bytes, 0);
  } catch (e) {
    if (!(e instanceof FrameError)) throw e;
    if (e.reason === 'magic' || e.reason === 'crc' || e.reason === 'length') return false;
    const seq = e.seq ?? readU32(bytes, 4);
    const type = e.type ?? bytes[2]!;
    stats.commands++;
    if (e.reason === 'direction' || !isHostType(type)) {
      chip.ack(seq, type, AckStatus.UNKNOWN_COMMAND);
      return true;
    }
    // PROTOCOL 5: a malformed command is answered BAD_ARGUMENT, detail = payload offset of the bad field
    // (0xFFFF for an undefined flag bit, which has none); state unchanged.
    chip.ack(seq, type, AckStatus.BAD_ARGUMENT, e.payloadOffset ?? 0xffff);
    return true;
  }
  stats.commands++;
  if (frame.kind === 'UNKNOWN' || !isHostType(typeOf(frame))) {
    // PROTOCOL 4 ACK: a command type this firmware does not define.
    chip.ack(frame.seq, bytes[2]!, AckStatus.UNKNOWN_COMMAND);
    return true;
  }
  execute(chip, frame as HostFrame);
  return true;
}

type Command<K extends HostFrame['kind']> = Extract<HostFrame, { kind: K }>;
type Handler<K extends HostFrame['kind']> = (chip: ChipOperations, cmd: Command<K>, type: number) => void;

function execute(chip: ChipOperations, cmd: HostFrame): void {
  const handler = HANDLERS[cmd.kind] as Handler<HostFrame['kind']>;
  handler(chip, cmd, FrameType[cmd.kind]);
}

const ok = (chip: ChipOperations, seq: number, type: number) => chip.ack(seq, type, AckStatus.OK);

/** Not allowed in this state: BAD_STATE; an IDLE-only command during a measurement: BUSY (it will be IDLE again). */
const badState = (chip: ChipOperations, seq: number, type: number) =>
  chip.ack(seq, type, chip.state() === DeviceState.MEASURING ? AckStatus.BUSY : AckStatus.BAD_STATE);

/** A command allowed only in IDLE (PROTOCOL 5), answered OK after `apply`. */
function idleOnly<K extends HostFrame['kind']>(apply: (chip: ChipOperations, cmd: Command<K>) => void): Handler<K> {
  return (chip, cmd, type) => {
    if (chip.state() !== DeviceState.IDLE) return badState(chip, cmd.seq, type);
    apply(chip, cmd);
    ok(chip, cmd.seq, type);
  };
}

const HANDLERS: { [K in HostFrame['kind']]: Handler<K> } = {
  GET_INFO: (chip, cmd, type) => {
    ok(chip, cmd.seq, type);
    chip.sendInfo();
  },
  GET_STATUS: (chip, cmd, type) => {
    ok(chip, cmd.seq, type);
    chip.sendStatus();
  },
  START: (chip, cmd, type) => {
    if (chip.state() !== DeviceState.IDLE) return badState(chip, cmd.seq, type);
    // PROTOCOL 5 START: rate 0 = default; the chip cannot exceed its max trial rate (PROTOCOL 4 INFO).
    if (cmd.rate > CHIP_INFO.maxTrialRate) return chip.ack(cmd.seq, type, AckStatus.BAD_ARGUMENT, 4);
    ok(chip, cmd.seq, type);
    chip.beginRun(cmd.source, cmd.rate === 0 ? CHIP_INFO.maxTrialRate : cmd.rate, cmd.limit);
  },
  STOP: (chip, cmd, type) => {
    chip.stop();
    ok(chip, cmd.seq, type);
  },
  SET_ANGLES: idleOnly((chip, cmd) => {
    chip.settings().anglesCentidegrees = [...cmd.angles] as ChipSettings['anglesCentidegrees'];
  }),
  SET_WINDOW: idleOnly((chip, cmd) => {
    chip.settings().windowPs = cmd.window;
  }),
  SET_BIAS: idleOnly((chip, cmd) => {
    chip.settings().biasMillivolts[cmd.detector] = cmd.bias;
  }),
  SET_PUMP: idleOnly((chip, cmd) => {
    chip.settings().pumpMicrowatts = cmd.pump;
  }),
  SET_DELAY: idleOnly((chip, cmd) => {
    chip.settings().delayPs = cmd.delay;
  }),
  SET_STATUS_INTERVAL: (chip, cmd, type) => {
    // PROTOCOL 5: 0 (off) or 100..60000 ms, any state.
    if (cmd.interval !== 0 && cmd.interval < 100) return chip.ack(cmd.seq, type, AckStatus.BAD_ARGUMENT, 0);
    chip.setStatusInterval(cmd.interval);
    ok(chip, cmd.seq, type);
  },
  MEASURE_COUNTS: (chip, cmd, type) => {
    if (chip.state() !== DeviceState.IDLE) return badState(chip, cmd.seq, type);
    ok(chip, cmd.seq, type);
    chip.beginMeasurement(cmd.seq, cmd.id, cmd.angleA, cmd.angleB, cmd.integration);
  },
  SETTINGS: (chip, cmd, type) => {
    // PROTOCOL 5: SETTINGS only RUNNING with host source; answered only when rejected.
    if (chip.state() !== DeviceState.RUNNING || chip.source() !== 1)
      return chip.ack(cmd.seq, type, AckStatus.BAD_STATE);
    if (!chip.queueSettings(cmd.settings, cmd.count)) chip.ack(cmd.seq, type, AckStatus.SETTINGS_OVERFLOW);
  },
  RESET: (chip, cmd, type) => {
    chip.reset();
    ok(chip, cmd.seq, type);
  },
  SAVE_CALIBRATION: (chip, cmd, type) => {
    if (chip.state() !== DeviceState.IDLE) return badState(chip, cmd.seq, type);
    // The flash (its file) cannot be written: the calibration is not saved.
    if (!chip.saveCalibration()) return chip.ack(cmd.seq, type, AckStatus.HARDWARE_FAULT);
    ok(chip, cmd.seq, type);
  },
};

function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function isHostType(type: number): boolean {
  return type >= FrameType.GET_INFO && type <= FrameType.SAVE_CALIBRATION;
}

function typeOf(frame: { kind: string }): number {
  return (FrameType as Record<string, number>)[frame.kind] ?? -1;
}
