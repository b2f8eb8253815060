/**
 * SimulatedChip: the EPQ-1 firmware of PROTOCOL sections 3-5 driving the
 * physics of section 7 (physics.ts), deterministic for a seed.
 *
 * Bytes in, bytes out:
 *
 *   host --receive(bytes)--> [64-byte framing] -> command -> ACK / data frames
 *   host <--read(max)------- [output queue]    <- TRIALS, STATUS, COUNTS, CREDIT
 *
 *   one frame = 64 bytes: E5 51 | type | flags | seq u32 | payload 52 | crc u32
 *
 * Clocks:
 * - 'virtual' (default): chip time moves only with work. Trials are made when
 *   the host reads while RUNNING (chip time += trials / rate), so the output
 *   never overflows unless forced; MEASURE_COUNTS answers at once and moves
 *   chip time by the integration; STATUS frames fall due by chip time; an
 *   idle chip's time moves with `advance(ms)`.
 * - 'realtime': a timer makes trials in batches paced by the wall clock at
 *   the run's rate into a device buffer of `deviceBufferFrames` frames; what
 *   the host does not read in time overflows (GAP, STATUS lost, fault bit 3).
 *
 * Tests only: `chip.hidden` (the device's hidden values), `chip.stats`.
 */
import { readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { encodeFrame, encodeTrialsInto } from '../protocol/encode.ts';
import { decodeFrame } from '../protocol/decode.ts';
import { FrameError } from '../protocol/errors.ts';
import {
  AckStatus,
  DeviceState,
  Fault,
  FATAL_FAULTS,
  FRAME_SIZE,
  FrameType,
  MAGIC0,
  MAGIC1,
  MAX_TRIALS_PER_FRAME,
  TRIALS_FLAG,
  type DeviceFrame,
  type HostFrame,
} from '../protocol/types.ts';
import {
  DETECTOR_BIT,
  FACTORY_SETTINGS,
  cloneSettings,
  clickDistribution,
  darkRateHz,
  drawHiddenParams,
  idealSettings,
  outcomeA,
  outcomeB,
  settingDistributions,
  trialModel,
  type ChipSettings,
  type HiddenParams,
} from './physics.ts';
import { Rng, mixSeed } from './rng.ts';

export type ChipMode = 'honest' | 'lhv' | 'postselect' | 'tamper' | 'biased';
export type ChipClock = 'virtual' | 'realtime';

/** Fault injection (issue 2 scope 4). Rates are probabilities per byte or per frame. */
export interface ChipFaults {
  /** Device-to-host link: each byte dropped with this probability. */
  byteDropRate?: number;
  /** Device-to-host link: each byte has one random bit flipped with this probability. */
  byteFlipRate?: number;
  /** Device-to-host link: each byte sent twice with this probability. */
  byteDuplicateRate?: number;
  /** Device-to-host link: each whole frame lost (its seq used) with this probability. */
  frameLossRate?: number;
  /** Inside the device: each TRIALS frame lost to overflow (GAP on the next) with this probability. */
  overflowRate?: number;
  /** A detector (0..3 = A0 A1 B0 B1) that clicks in every gate: fault bit 2, state FAULT. */
  latchedDetector?: number;
  /** Chip temperature, centidegrees Celsius (default 2500); outside 1500..3500 sets fault bit 1. */
  temperatureCentidegrees?: number;
  /** Pump laser unlocked: fault bit 0. */
  pumpUnlocked?: boolean;
  /** Chip time (ms) at which the hardware faults above appear (default 0, at power-up). */
  atMs?: number;
}

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
  /** 'tamper': what the records echo for those trials: the settings used (default, a false echo of the host's) or the host's. */
  tamperEcho?: 'used' | 'host';
  /** USB/INFO serial number (default `EPQ1-` + 8 hex digits derived from the seed). */
  serial?: string;
  /** 'realtime': device output buffer in frames before TRIALS overflow (default 16384 = 1 MiB, about 0.4 s at 1 M trials/s). */
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

/** PROTOCOL 4 CREDIT: sent whenever this many slots were freed since the last. */
const CREDIT_STEP = 4096;
const DEFAULT_STATUS_INTERVAL_MS = 1000;
const U32 = 0x1_0000_0000;
const OUT_CHUNK_BYTES = 64 * 1024;
const DEFAULT_DEVICE_BUFFER_FRAMES = 16384;
/**
 * Realtime: the most wall-clock time one catch-up turns into trials. When the
 * simulator's own event loop stalls (2 shared cores), the chip behaves as if
 * paused rather than dumping a burst that would overflow a host that reads
 * in time; trial indices stay contiguous either way.
 */
const MAX_CATCH_UP_MS = 250;
/**
 * Realtime, host settings: the most trials one catch-up performs, as a share
 * of the settings FIFO. A real chip uses settings at a steady rate and its
 * host refills the FIFO as CREDIT comes; a simulator whose own event loop
 * stalled would otherwise use the whole FIFO in one burst and starve
 * (SETTINGS_STARVED) for a reason of its own, not the host's. A longer stall
 * is a pause, as above.
 */
const HOST_MAX_CATCH_UP_FIFO_SHARE = 1 / 8;

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

interface FlashContents {
  version: 1;
  calibration: ChipSettings | null;
}

type Quad = [number, number, number, number];

/**
 * A 16-entry alias table (Walker 1977). One u32 draws one pattern: its top 4
 * bits pick the column, its low 28 bits are compared with the column's
 * threshold, whose integer part decides at once; only on a tie with the
 * integer part (probability 2^-28) does a second u32 resolve the fraction,
 * so the sampled distribution equals the computed one to about 2^-60.
 */
interface AliasTable {
  /** floor(threshold * 2^28) per column. */
  thresholdInt: Int32Array;
  /** fractional part of threshold * 2^28, scaled to 2^32. */
  thresholdFrac: Float64Array;
  alias: Uint8Array;
}

function buildAlias(p: ArrayLike<number>): AliasTable {
  const n = 16;
  const scaled = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i]!;
  for (let i = 0; i < n; i++) scaled[i] = (p[i]! / sum) * n;
  const thresholdInt = new Int32Array(n);
  const thresholdFrac = new Float64Array(n);
  const alias = new Uint8Array(n);
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < n; i++) (scaled[i]! < 1 ? small : large).push(i);
  while (small.length && large.length) {
    const s = small.pop()!;
    const l = large.pop()!;
    const t = scaled[s]! * 0x10000000;
    thresholdInt[s] = Math.floor(t);
    thresholdFrac[s] = (t - Math.floor(t)) * 0x100000000;
    alias[s] = l;
    scaled[l] = scaled[l]! + scaled[s]! - 1;
    (scaled[l] < 1 ? small : large).push(l);
  }
  for (const i of [...small, ...large]) {
    thresholdInt[i] = 0x10000000; // always the column itself
    alias[i] = i;
  }
  return { thresholdInt, thresholdFrac, alias };
}

export class SimulatedChip {
  /** The device's hidden values (tests only: a host learns them only by measuring). */
  readonly hidden: HiddenParams;
  readonly serial: string;
  readonly mode: ChipMode;
  readonly clock: ChipClock;
  readonly stats: ChipStats = {
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
  /** Called whenever new output bytes are queued (transports wait on it). */
  onOutput: (() => void) | undefined;

  private readonly opts: ChipOptions;
  private readonly faults: ChipFaults;
  private readonly trialRng: Rng;
  private readonly settingRng: Rng;
  private readonly countsRng: Rng;
  private readonly linkRng: Rng;
  private readonly linkFaulty: boolean;

  // firmware state
  private state: number = DeviceState.IDLE;
  /** The settings in force (tests read them; a host learns them from STATUS). */
  settings: ChipSettings;
  private flash: ChipSettings | null;
  private statusIntervalMs = DEFAULT_STATUS_INTERVAL_MS;
  private nextStatusMs = DEFAULT_STATUS_INTERVAL_MS;
  private txSeq = 0;
  /** Fault bits latched until the next STATUS (3 OVERFLOW, 4 SETTINGS_STARVED). */
  private latchedFaults = 0;
  /** Transient hardware faults (cleared by RESET). */
  private transientFaults = 0;
  private hardwareFaultsActive = false;

  // run state
  private source = 0;
  private rateHz: number = CHIP_INFO.maxTrialRate;
  private limit = 0;
  private trialIndex = 0;
  private lostSinceStart = 0;
  private tables: AliasTable[] = [];
  /** The four tables side by side, slot = (xy << 4) | column, for the hot loop. */
  private readonly aliasInt = new Int32Array(64);
  private readonly aliasFrac = new Float64Array(64);
  private readonly aliasIdx = new Uint8Array(64);
  private pendingFlags = 0;
  private starved = false;
  private fifo = new Uint8Array(CHIP_INFO.settingsFifo);
  private fifoHead = 0;
  private fifoCount = 0;
  private consumed = 0;
  private freedSinceCredit = 0;
  private budget = 0;

  // partially filled TRIALS frame
  private readonly records = new Uint8Array(MAX_TRIALS_PER_FRAME);
  private recordCount = 0;
  private recordFirst = 0;

  // measurement in progress
  private measurement:
    | { seq: number; id: number; angleA: number; angleB: number; integration: number; endMs: number }
    | undefined;

  // clocks
  private virtualMs = 0;
  private readonly wallStart = performance.now();
  private lastTickMs = 0;
  private timer: NodeJS.Timeout | undefined;

  // I/O
  private inBuf: Uint8Array = new Uint8Array(0);
  /** Output queue: chunks read from `start`, written up to `end`; the last one is filled in place. */
  private outChunks: Array<{ buf: Buffer; start: number; end: number }> = [];
  private outBytes = 0;
  private closed = false;

  constructor(opts: ChipOptions) {
    if (!Number.isSafeInteger(opts.seed) || opts.seed < 0)
      throw new RangeError(`seed must be a non-negative integer, got ${opts.seed}`);
    this.opts = opts;
    this.mode = opts.mode ?? 'honest';
    this.clock = opts.clock ?? 'virtual';
    this.faults = normalizeFaults(opts.faults ?? {});
    this.hidden = drawHiddenParams(opts.seed, opts.hidden);
    this.serial = opts.serial ?? `EPQ1-${mixSeed(opts.seed, 0x5e71a1).toString(16).toUpperCase().padStart(8, '0')}`;
    // PROTOCOL 2: `EPQ1-` followed by 8 hex digits (16 bytes of INFO serial at most).
    if (!/^EPQ1-[0-9A-F]{8}$/.test(this.serial))
      throw new RangeError(`serial must be EPQ1- and 8 hex digits, got ${this.serial}`);
    this.trialRng = new Rng(opts.seed, 1);
    this.settingRng = new Rng(opts.seed, 2);
    this.countsRng = new Rng(opts.seed, 3);
    this.linkRng = new Rng(opts.seed, 4);
    const f = this.faults;
    this.linkFaulty = !!(f.byteDropRate || f.byteFlipRate || f.byteDuplicateRate || f.frameLossRate);

    this.flash = null;
    if (opts.flashFile && existsSync(opts.flashFile)) {
      this.flash = readFlash(opts.flashFile);
    } else if (opts.calibrated) {
      this.flash = idealSettings(this.hidden);
      if (opts.flashFile) this.writeFlash(this.flash);
    }
    // PROTOCOL 7: power up loads the saved calibration, else the factory values.
    this.settings = cloneSettings(this.flash ?? FACTORY_SETTINGS);
    this.checkHardwareFaults();
    if (this.clock === 'realtime') {
      this.lastTickMs = 0;
      this.timer = setInterval(() => this.tick(), opts.batchMs ?? 4);
      this.timer.unref();
    }
  }

  // ---------------------------------------------------------------------------
  // Public I/O

  /** Chip time in ms since power-up (virtual or wall clock). */
  get clockMs(): number {
    return this.clock === 'virtual' ? this.virtualMs : performance.now() - this.wallStart;
  }

  /** PROTOCOL 4 STATUS state code. */
  get stateCode(): number {
    return this.state;
  }

  /** Bytes queued for the host. */
  get pendingBytes(): number {
    return this.outBytes;
  }

  /** Host bytes in. Complete frames are executed at once. */
  receive(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.clock === 'realtime') this.catchUp();
    const buf = new Uint8Array(this.inBuf.length + bytes.length);
    buf.set(this.inBuf, 0);
    buf.set(bytes, this.inBuf.length);
    let pos = 0;
    while (buf.length - pos >= FRAME_SIZE) {
      if (buf[pos] !== MAGIC0 || buf[pos + 1] !== MAGIC1) {
        // PROTOCOL 3: wrong magic: dropped silently; re-synchronise on the next magic.
        const next = this.findMagic(buf, pos + 1);
        this.stats.hostBytesSkipped += next - pos;
        pos = next;
        continue;
      }
      const frameBytes = buf.subarray(pos, pos + FRAME_SIZE);
      const handled = this.handleFrame(frameBytes);
      if (!handled) {
        // PROTOCOL 3: wrong CRC: dropped silently (the host sees a timeout, never a wrong ACK).
        this.stats.hostFramesDropped++;
        const next = this.findMagic(buf, pos + 1);
        this.stats.hostBytesSkipped += next - pos;
        pos = next;
        continue;
      }
      pos += FRAME_SIZE;
    }
    this.inBuf = buf.slice(pos);
    this.notify();
  }

  /**
   * Device bytes out: up to `max` bytes. In virtual time, a RUNNING chip
   * performs the next trials when nothing else is queued.
   */
  read(max = 65536): Uint8Array {
    if (this.clock === 'virtual' && this.outBytes === 0 && this.state === DeviceState.RUNNING) {
      this.runVirtual(Math.max(1, Math.floor(max / FRAME_SIZE)) * MAX_TRIALS_PER_FRAME);
    } else if (this.clock === 'realtime') {
      this.catchUp();
    }
    return this.take(max);
  }

  /** Virtual clock: let `ms` of chip time pass (STATUS frames fall due; a run performs its trials). */
  advance(ms: number): void {
    if (this.clock !== 'virtual') throw new Error('advance() is for the virtual clock');
    const end = this.virtualMs + ms;
    if (this.state === DeviceState.RUNNING) this.runVirtual(Math.floor((ms * this.rateHz) / 1000));
    this.advanceTimeTo(Math.max(end, this.virtualMs));
    this.notify();
  }

  /** Drop every queued output byte (what a port flush discards). */
  discardOutput(): number {
    const n = this.outBytes;
    this.outChunks = [];
    this.outBytes = 0;
    return n;
  }

  /** Put a hardware fault in now (transient: RESET clears it). */
  injectFault(mask: number): void {
    this.transientFaults |= mask & FATAL_FAULTS;
    this.enterFaultIfNeeded();
    this.notify();
  }

  /** Stop timers; the chip answers nothing more. */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  // ---------------------------------------------------------------------------
  // Output queue and link

  /** Wake a waiting transport: bytes are queued, or a virtual-time run can make some on the next read. */
  private notify(): void {
    if (this.outBytes > 0 || (this.clock === 'virtual' && this.state === DeviceState.RUNNING && !this.starvedEmpty()))
      this.onOutput?.();
  }

  private starvedEmpty(): boolean {
    return this.source === 1 && this.fifoCount === 0;
  }

  private take(max: number): Uint8Array {
    if (this.outBytes === 0) return new Uint8Array(0);
    const n = Math.min(max, this.outBytes);
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.outChunks[0]!;
      const k = Math.min(c.end - c.start, n - filled);
      out.set(c.buf.subarray(c.start, c.start + k), filled);
      filled += k;
      c.start += k;
      if (c.start === c.end) {
        if (this.outChunks.length > 1) this.outChunks.shift();
        else c.start = c.end = 0; // reuse the tail chunk
      }
    }
    this.outBytes -= n;
    return out;
  }

  /** Room for one 64-byte frame at the queue's tail (bypassed when link faults apply). */
  private frameSlot(): { buf: Buffer; off: number } {
    let c = this.outChunks[this.outChunks.length - 1];
    if (!c || c.end + FRAME_SIZE > c.buf.length) {
      c = { buf: Buffer.allocUnsafe(OUT_CHUNK_BYTES), start: 0, end: 0 };
      this.outChunks.push(c);
    }
    const off = c.end;
    c.end += FRAME_SIZE;
    this.outBytes += FRAME_SIZE;
    return { buf: c.buf, off };
  }

  /** Queue one encoded device frame, through the (possibly faulty) link. */
  private emitFrame(write: (buf: Buffer, off: number) => void): void {
    this.stats.framesSent++;
    this.stats.bytesSent += FRAME_SIZE;
    if (this.closed) return;
    if (!this.linkFaulty) {
      const { buf, off } = this.frameSlot();
      write(buf, off);
      return;
    }
    const tmp = Buffer.alloc(FRAME_SIZE);
    write(tmp, 0);
    const bytes = this.corrupt(tmp);
    if (bytes.length === 0) return;
    const c = { buf: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), start: 0, end: bytes.length };
    this.outChunks.push(c);
    this.outBytes += bytes.length;
  }

  /** Link faults: whole frames lost, then bytes dropped, flipped, duplicated. */
  private corrupt(bytes: Uint8Array): Uint8Array {
    const f = this.faults;
    const rng = this.linkRng;
    const out: number[] = [];
    for (let i = 0; i < bytes.length; i += FRAME_SIZE) {
      if (f.frameLossRate && rng.float() < f.frameLossRate) {
        this.stats.linkFramesLost++;
        continue;
      }
      const end = Math.min(bytes.length, i + FRAME_SIZE);
      for (let j = i; j < end; j++) {
        let b = bytes[j]!;
        if (f.byteDropRate && rng.float() < f.byteDropRate) {
          this.stats.linkBytesDropped++;
          continue;
        }
        if (f.byteFlipRate && rng.float() < f.byteFlipRate) {
          b ^= 1 << rng.below(8);
          this.stats.linkBytesFlipped++;
        }
        out.push(b);
        if (f.byteDuplicateRate && rng.float() < f.byteDuplicateRate) {
          out.push(b);
          this.stats.linkBytesDuplicated++;
        }
      }
    }
    return Uint8Array.from(out);
  }

  private nextSeq(): number {
    const s = this.txSeq;
    this.txSeq = (this.txSeq + 1) % U32; // PROTOCOL 3: +1 per frame sent, wrapping after 0xFFFFFFFF
    return s;
  }

  private send(frame: DeviceFrame): void {
    const seq = this.nextSeq();
    this.emitFrame((buf, off) => encodeFrame({ ...frame, seq } as DeviceFrame, buf, off));
  }

  private ack(seq: number, type: number, status: number, detail = 0): void {
    this.send({ kind: 'ACK', flags: 0, seq: 0, ackSeq: seq, ackType: type, status, detail });
  }

  // ---------------------------------------------------------------------------
  // Host frames

  private findMagic(buf: Uint8Array, from: number): number {
    for (let i = from; i < buf.length - 1; i++) if (buf[i] === MAGIC0 && buf[i + 1] === MAGIC1) return i;
    // Keep a trailing first magic byte: it may start the next frame.
    return buf.length > from && buf[buf.length - 1] === MAGIC0 ? buf.length - 1 : Math.max(from, buf.length);
  }

  /** Returns false when the frame failed magic/CRC (dropped), true when it was answered or accepted. */
  private handleFrame(bytes: Uint8Array): boolean {
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(bytes, 0);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      if (e.reason === 'magic' || e.reason === 'crc' || e.reason === 'length') return false;
      const seq = e.seq ?? readU32(bytes, 4);
      const type = e.type ?? bytes[2]!;
      this.stats.commands++;
      if (e.reason === 'direction' || !isHostType(type)) {
        this.ack(seq, type, AckStatus.UNKNOWN_COMMAND);
        return true;
      }
      // PROTOCOL 5: a malformed command is answered BAD_ARGUMENT, detail = payload offset of the bad field; state unchanged.
      this.ack(seq, type, AckStatus.BAD_ARGUMENT, e.payloadOffset ?? badFlagsDetail(e));
      return true;
    }
    this.stats.commands++;
    if (frame.kind === 'UNKNOWN' || !isHostType(typeOf(frame))) {
      // PROTOCOL 4 ACK: a command type this firmware does not define.
      this.ack(frame.seq, bytes[2]!, AckStatus.UNKNOWN_COMMAND);
      return true;
    }
    this.execute(frame as HostFrame);
    return true;
  }

  private execute(cmd: HostFrame): void {
    const type = FrameType[cmd.kind];
    const idle = this.state === DeviceState.IDLE;
    // Not allowed in this state: BAD_STATE; an IDLE-only command during a measurement: BUSY (it will be IDLE again).
    const badState = () =>
      this.ack(cmd.seq, type, this.state === DeviceState.MEASURING ? AckStatus.BUSY : AckStatus.BAD_STATE);
    const ok = () => this.ack(cmd.seq, type, AckStatus.OK);
    switch (cmd.kind) {
      case 'GET_INFO':
        ok();
        this.send({
          kind: 'INFO',
          flags: 0,
          seq: 0,
          ...CHIP_INFO,
          protocol: [...CHIP_INFO.protocol],
          firmware: [...CHIP_INFO.firmware],
          serial: this.serial,
        });
        return;
      case 'GET_STATUS':
        ok();
        this.sendStatus(false);
        return;
      case 'START': {
        if (!idle) return badState();
        // PROTOCOL 5 START: rate 0 = default; the chip cannot exceed its max trial rate (PROTOCOL 4 INFO).
        if (cmd.rate > CHIP_INFO.maxTrialRate) return this.ack(cmd.seq, type, AckStatus.BAD_ARGUMENT, 4);
        ok();
        this.beginRun(cmd.source, cmd.rate === 0 ? CHIP_INFO.maxTrialRate : cmd.rate, cmd.limit);
        return;
      }
      case 'STOP':
        if (this.state === DeviceState.RUNNING) {
          // PROTOCOL 5 STOP: send every TRIALS frame still buffered, then the ACK.
          this.flushRecords();
          this.state = DeviceState.IDLE;
        } else if (this.state === DeviceState.MEASURING) {
          this.measurement = undefined;
          this.state = DeviceState.IDLE;
        }
        ok();
        return;
      case 'SET_ANGLES':
        if (!idle) return badState();
        this.settings.anglesCentidegrees = [...cmd.angles] as Quad;
        return ok();
      case 'SET_WINDOW':
        if (!idle) return badState();
        this.settings.windowPs = cmd.window;
        return ok();
      case 'SET_BIAS':
        if (!idle) return badState();
        this.settings.biasMillivolts[cmd.detector] = cmd.bias;
        return ok();
      case 'SET_PUMP':
        if (!idle) return badState();
        this.settings.pumpMicrowatts = cmd.pump;
        return ok();
      case 'SET_DELAY':
        if (!idle) return badState();
        this.settings.delayPs = cmd.delay;
        return ok();
      case 'SET_STATUS_INTERVAL':
        // PROTOCOL 5: 0 (off) or 100..60000 ms, any state.
        if (cmd.interval !== 0 && cmd.interval < 100) return this.ack(cmd.seq, type, AckStatus.BAD_ARGUMENT, 0);
        this.statusIntervalMs = cmd.interval;
        this.nextStatusMs = this.clockMs + cmd.interval;
        return ok();
      case 'MEASURE_COUNTS':
        if (!idle) return badState();
        ok();
        this.beginMeasurement(cmd.seq, cmd.id, cmd.angleA, cmd.angleB, cmd.integration);
        return;
      case 'SETTINGS':
        // PROTOCOL 5: SETTINGS only RUNNING with host source; answered only when rejected.
        if (this.state !== DeviceState.RUNNING || this.source !== 1)
          return this.ack(cmd.seq, type, AckStatus.BAD_STATE);
        if (cmd.count > this.fifo.length - this.fifoCount) return this.ack(cmd.seq, type, AckStatus.SETTINGS_OVERFLOW);
        for (let k = 0; k < cmd.count; k++) {
          this.fifo[(this.fifoHead + this.fifoCount) % this.fifo.length] = cmd.settings[k]!;
          this.fifoCount++;
        }
        return;
      case 'RESET':
        // PROTOCOL 5 RESET: stop, clear faults, reload saved calibration.
        if (this.state === DeviceState.RUNNING) this.flushRecords();
        this.measurement = undefined;
        this.transientFaults = 0;
        this.latchedFaults = 0;
        this.fifoCount = 0;
        this.settings = cloneSettings(this.flash ?? FACTORY_SETTINGS);
        this.state = DeviceState.IDLE;
        this.checkHardwareFaults();
        ok();
        return;
      case 'SAVE_CALIBRATION':
        if (!idle) return badState();
        try {
          this.writeFlash(cloneSettings(this.settings));
        } catch {
          // The flash (its file) cannot be written: the calibration is not saved.
          return this.ack(cmd.seq, type, AckStatus.HARDWARE_FAULT);
        }
        this.flash = cloneSettings(this.settings);
        return ok();
    }
  }

  private writeFlash(calibration: ChipSettings | null): void {
    if (!this.opts.flashFile) return;
    const data: FlashContents = { version: 1, calibration };
    const tmp = `${this.opts.flashFile}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
    renameSync(tmp, this.opts.flashFile);
  }

  // ---------------------------------------------------------------------------
  // Faults and STATUS

  private hardwareFaultBits(): number {
    const f = this.faults;
    if (!this.hardwareFaultsActive) return 0;
    let bits = 0;
    if (f.pumpUnlocked) bits |= Fault.PUMP_UNLOCKED;
    if (f.latchedDetector !== undefined) bits |= Fault.DETECTOR_LATCHED;
    const t = this.temperatureCentidegrees();
    if (t < 1500 || t > 3500) bits |= Fault.TEMPERATURE; // PROTOCOL 4 STATUS: TEMPERATURE outside 15..35 C
    return bits;
  }

  private temperatureCentidegrees(): number {
    return this.hardwareFaultsActive && this.faults.temperatureCentidegrees !== undefined
      ? this.faults.temperatureCentidegrees
      : 2500;
  }

  private checkHardwareFaults(): void {
    if (!this.hardwareFaultsActive && this.clockMs >= (this.faults.atMs ?? 0)) this.hardwareFaultsActive = true;
    this.enterFaultIfNeeded();
  }

  private faultBits(): number {
    let bits = this.hardwareFaultBits() | this.transientFaults | this.latchedFaults;
    if (this.starved) bits |= Fault.SETTINGS_STARVED;
    if (this.flash === null) bits |= Fault.UNCALIBRATED; // PROTOCOL 4 STATUS bit 5: no calibration saved
    return bits;
  }

  /** PROTOCOL 4 STATUS: a fault bit other than 3, 4, 5 puts the device in FAULT (trials stop). */
  private enterFaultIfNeeded(): void {
    if ((this.faultBits() & FATAL_FAULTS) === 0 || this.state === DeviceState.FAULT) return;
    if (this.state === DeviceState.RUNNING) this.flushRecords();
    this.measurement = undefined;
    this.state = DeviceState.FAULT;
    this.sendStatus(false);
  }

  private sendStatus(periodic: boolean): void {
    const s = this.settings;
    const latched = this.hardwareFaultsActive ? this.faults.latchedDetector : undefined;
    const dark = [0, 1, 2, 3].map((d) =>
      d === latched ? 65535 : Math.min(65535, Math.round(darkRateHz(this.hidden, d, s.biasMillivolts[d]!))),
    ) as Quad;
    this.send({
      kind: 'STATUS',
      flags: 0,
      seq: 0,
      trials: this.trialIndex,
      temperature: this.temperatureCentidegrees(),
      pump: s.pumpMicrowatts,
      bias: [...s.biasMillivolts] as Quad,
      dark,
      window: s.windowPs,
      angles: [...s.anglesCentidegrees] as Quad,
      faults: this.faultBits(),
      state: this.state,
      source: this.source,
      lost: Math.min(this.lostSinceStart, 0xffffffff),
      delay: s.delayPs,
    });
    // PROTOCOL 4 STATUS: OVERFLOW is "since the last STATUS".
    this.latchedFaults = 0;
    if (periodic) this.nextStatusMs += this.statusIntervalMs;
  }

  /** Move the clock to t, sending each STATUS that falls due and finishing a measurement. */
  private advanceTimeTo(t: number): void {
    for (;;) {
      const statusDue = this.statusIntervalMs > 0 ? this.nextStatusMs : Infinity;
      const measureDue = this.measurement ? this.measurement.endMs : Infinity;
      const hwDue = this.hardwareFaultsActive ? Infinity : (this.faults.atMs ?? 0);
      const next = Math.min(statusDue, measureDue, hwDue);
      if (next > t) break;
      if (this.clock === 'virtual') this.virtualMs = Math.max(this.virtualMs, next);
      if (next === hwDue) this.checkHardwareFaults();
      else if (next === measureDue) this.finishMeasurement();
      else {
        this.sendStatus(true);
        if (this.nextStatusMs <= t - 10 * this.statusIntervalMs) this.nextStatusMs = t; // realtime catch-up after a stall
      }
    }
    if (this.clock === 'virtual') this.virtualMs = Math.max(this.virtualMs, t);
  }

  // ---------------------------------------------------------------------------
  // MEASURE_COUNTS

  private beginMeasurement(seq: number, id: number, angleA: number, angleB: number, integration: number): void {
    this.state = DeviceState.MEASURING;
    this.measurement = { seq, id, angleA, angleB, integration, endMs: this.clockMs + integration };
    // Virtual clock: answered at once, chip time moves by the integration.
    if (this.clock === 'virtual') this.advanceTimeTo(this.measurement.endMs);
  }

  /** PROTOCOL 7: counts from the same per-trial model at the command's angles, over rate * integration trials. */
  private finishMeasurement(): void {
    const m = this.measurement!;
    this.measurement = undefined;
    const trials = Math.round((CHIP_INFO.maxTrialRate * m.integration) / 1000);
    const model = trialModel(this.hidden, this.settings, this.latchedMask());
    const dist = clickDistribution(model, m.angleA / 100, m.angleB / 100);
    const counts = this.countsRng.multinomial(trials, dist);
    const singles: Quad = [0, 0, 0, 0];
    const coincidences: Quad = [0, 0, 0, 0];
    for (let pat = 0; pat < 16; pat++) {
      const c = counts[pat]!;
      if (c === 0) continue;
      for (let d = 0; d < 4; d++) if (pat & DETECTOR_BIT[d]!) singles[d]! += c;
      for (let a = 0; a < 2; a++) {
        for (let b = 0; b < 2; b++) {
          if (pat & DETECTOR_BIT[a]! && pat & DETECTOR_BIT[2 + b]!) coincidences[a * 2 + b]! += c; // A0B0, A0B1, A1B0, A1B1
        }
      }
    }
    this.state = DeviceState.IDLE;
    this.send({
      kind: 'COUNTS',
      flags: 0,
      seq: 0,
      id: m.id,
      angleA: m.angleA,
      angleB: m.angleB,
      integration: m.integration,
      singles,
      coincidences,
      trials,
      window: this.settings.windowPs,
      delay: this.settings.delayPs,
    });
  }

  private latchedMask(): number {
    const d = this.hardwareFaultsActive ? this.faults.latchedDetector : undefined;
    return d === undefined ? 0 : DETECTOR_BIT[d]!;
  }

  // ---------------------------------------------------------------------------
  // Runs

  private beginRun(source: number, rateHz: number, limit: number): void {
    this.state = DeviceState.RUNNING;
    this.source = source;
    this.rateHz = rateHz;
    this.limit = limit;
    this.trialIndex = 0; // PROTOCOL 5: START resets the trial index to 0
    this.lostSinceStart = 0;
    this.recordCount = 0;
    this.pendingFlags = 0;
    this.starved = false;
    this.fifoHead = 0;
    this.fifoCount = 0;
    this.consumed = 0;
    this.freedSinceCredit = 0;
    this.lastTickMs = this.clockMs;
    this.budget = 0;
    const model = trialModel(this.hidden, this.settings, this.latchedMask());
    this.tables = settingDistributions(model, this.settings.anglesCentidegrees).map(buildAlias);
    for (let xy = 0; xy < 4; xy++) {
      this.aliasInt.set(this.tables[xy]!.thresholdInt, xy * 16);
      this.aliasFrac.set(this.tables[xy]!.thresholdFrac, xy * 16);
      this.aliasIdx.set(this.tables[xy]!.alias, xy * 16);
    }
    if (source === 1) {
      // PROTOCOL 4 CREDIT: right after START's ACK in host-settings mode.
      this.send({ kind: 'CREDIT', flags: 0, seq: 0, free: this.fifo.length, consumed: 0 });
    }
  }

  private endRunAtLimit(): void {
    // PROTOCOL 5 START: at the limit, the last TRIALS frame, then a STATUS in state IDLE.
    this.flushRecords();
    this.state = DeviceState.IDLE;
    this.sendStatus(false);
  }

  /** Virtual clock: perform up to `trials` trials, sending STATUS frames as chip time passes. */
  private runVirtual(trials: number): void {
    let want = trials;
    while (want > 0 && this.state === DeviceState.RUNNING) {
      // Stop at the next STATUS so that it goes out between the right frames.
      let chunk = want;
      if (this.statusIntervalMs > 0) {
        const untilStatus = Math.ceil(((this.nextStatusMs - this.virtualMs) * this.rateHz) / 1000);
        chunk = Math.max(1, Math.min(chunk, untilStatus));
      }
      const done = this.performTrials(chunk);
      this.advanceTimeTo(this.virtualMs); // sends STATUS when due
      if (done === 0) break; // starved: wait for SETTINGS
      want -= done;
    }
  }

  /** Realtime clock (timer): catch up with the wall clock, then wake the transport. */
  private tick(): void {
    this.catchUp();
    this.notify();
  }

  /** Realtime clock: perform the trials the wall clock asks for, and what falls due. */
  private catchUp(): void {
    if (this.closed) return;
    const now = this.clockMs;
    const dt = Math.max(0, now - this.lastTickMs);
    this.lastTickMs = now;
    if (this.state === DeviceState.RUNNING) {
      const cap =
        this.source === 1 ? this.fifo.length * HOST_MAX_CATCH_UP_FIFO_SHARE : (MAX_CATCH_UP_MS * this.rateHz) / 1000;
      this.budget = Math.min(this.budget + (dt * this.rateHz) / 1000, cap);
      const n = Math.floor(this.budget);
      this.performTrials(n);
      // Pump pulses without settings are trials not performed (PROTOCOL 5 host mode): not carried over.
      this.budget -= n;
    }
    this.advanceTimeTo(now);
  }

  /**
   * Perform up to n trials (fewer when the limit is reached or host settings
   * run out). Returns the number performed (lost ones included).
   */
  private performTrials(n: number): number {
    if (this.state !== DeviceState.RUNNING || n <= 0) return 0;
    if (this.limit > 0) n = Math.min(n, this.limit - this.trialIndex);
    if (this.mode === 'honest' && this.source === 0) {
      this.performHonestInternal(n);
      return this.afterTrials(n);
    }
    const host = this.source === 1;
    const mode = this.mode;
    const rng = this.trialRng;
    const srng = this.settingRng;
    const tables = this.tables;
    const lhvQ = mode === 'lhv' ? 1 - Math.min(2, this.opts.lhvTargetS ?? 2) / 2 : 0;
    const biasP = this.opts.biasedProbability ?? 0.6;
    const tamperRate = this.opts.tamperRate ?? 0.01;
    const tamperEchoHost = this.opts.tamperEcho === 'host';
    let settingBits = 0;
    let settingLeft = 0;
    let done = 0;
    for (; done < n; done++) {
      let xy: number;
      if (host) {
        if (this.fifoCount === 0) {
          // PROTOCOL 5: no trial while the FIFO is empty; fault bit 4, then RESUMED on the next TRIALS frame.
          this.starved = true;
          this.latchedFaults |= Fault.SETTINGS_STARVED;
          this.flushRecords();
          break;
        }
        xy = this.fifo[this.fifoHead]!;
        this.fifoHead = (this.fifoHead + 1) % this.fifo.length;
        this.fifoCount--;
        this.consumed++;
        this.freedSinceCredit++;
        if (this.starved) {
          this.starved = false;
          this.pendingFlags |= TRIALS_FLAG.RESUMED;
        }
      } else if (mode === 'biased') {
        xy = ((srng.float() < biasP ? 1 : 0) << 1) | (srng.u32() >>> 31);
      } else {
        if (settingLeft === 0) {
          settingBits = srng.u32();
          settingLeft = 16;
        }
        xy = settingBits & 3;
        settingBits >>>= 2;
        settingLeft--;
      }
      let echo = xy;
      let used = xy;
      if (mode === 'tamper' && host && rng.float() < tamperRate) {
        used = xy ^ 2; // measure at the other A setting than the host asked for
        echo = tamperEchoHost ? xy : used;
        this.stats.tamperedTrials++;
      }
      let pattern: number;
      if (mode === 'lhv') {
        pattern = this.lhvPattern(used, lhvQ);
      } else {
        const u = rng.u32();
        const col = u >>> 28;
        const t = tables[used]!;
        const low = u & 0x0fffffff;
        const ti = t.thresholdInt[col]!;
        pattern = low < ti || (low === ti && rng.u32() < t.thresholdFrac[col]!) ? col : t.alias[col]!;
      }
      const index = this.trialIndex++;
      this.stats.trialsPerformed++;
      if (mode === 'postselect') {
        // Adversary: drop the trials that lose the CHSH game (a xor b != x and y), flagged GAP.
        const x = used >> 1;
        const y = used & 1;
        if ((outcomeA(pattern) ^ outcomeB(pattern)) !== (x & y)) {
          this.loseTrials(1);
          continue;
        }
      }
      if (this.recordCount === 0) this.recordFirst = index;
      this.records[this.recordCount++] = (echo << 4) | pattern; // PROTOCOL 4 TRIALS: x bit 5, y bit 4, clicks bits 3..0
      if (this.recordCount === MAX_TRIALS_PER_FRAME) this.flushRecords();
    }
    if (host && this.freedSinceCredit >= CREDIT_STEP) this.sendCredit();
    return this.afterTrials(done);
  }

  private afterTrials(done: number): number {
    if (this.clock === 'virtual') this.virtualMs += (done * 1000) / this.rateHz;
    if (this.limit > 0 && this.trialIndex >= this.limit) this.endRunAtLimit();
    return done;
  }

  /**
   * The hot loop of an honest chip with internal settings: the same draws as
   * the general loop (2 setting bits from the setting stream, one alias draw
   * per trial), with xoshiro128** inlined on local state.
   */
  private performHonestInternal(n: number): void {
    const rng = this.trialRng;
    const srng = this.settingRng;
    const tInt = this.aliasInt;
    const tFrac = this.aliasFrac;
    const tAlias = this.aliasIdx;
    const records = this.records;
    let s0 = rng.s0;
    let s1 = rng.s1;
    let s2 = rng.s2;
    let s3 = rng.s3;
    let rc = this.recordCount;
    let index = this.trialIndex;
    let bits = 0;
    let left = 0;
    for (let done = 0; done < n; done++) {
      if (left === 0) {
        bits = srng.u32();
        left = 16;
      }
      const xy = bits & 3;
      bits >>>= 2;
      left--;
      // xoshiro128** step (see rng.ts)
      const m = Math.imul(s1, 5);
      const u = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      const slot = (xy << 4) | (u >>> 28);
      const low = u & 0x0fffffff;
      const ti = tInt[slot]!;
      let pattern: number;
      if (low < ti) pattern = slot & 15;
      else if (low > ti) pattern = tAlias[slot]!;
      else {
        // tie on the integer threshold (p = 2^-28): resolve the fraction with the next word
        rng.s0 = s0;
        rng.s1 = s1;
        rng.s2 = s2;
        rng.s3 = s3;
        pattern = rng.u32() < tFrac[slot]! ? slot & 15 : tAlias[slot]!;
        s0 = rng.s0;
        s1 = rng.s1;
        s2 = rng.s2;
        s3 = rng.s3;
      }
      if (rc === 0) this.recordFirst = index;
      records[rc++] = (xy << 4) | pattern; // PROTOCOL 4 TRIALS: x bit 5, y bit 4, clicks bits 3..0
      index++;
      if (rc === MAX_TRIALS_PER_FRAME) {
        this.recordCount = rc;
        this.trialIndex = index;
        this.flushRecords();
        rc = 0;
      }
    }
    rng.s0 = s0;
    rng.s1 = s1;
    rng.s2 = s2;
    rng.s3 = s3;
    this.recordCount = rc;
    this.trialIndex = index;
    this.stats.trialsPerformed += n;
  }

  /**
   * 'lhv' adversary: a deterministic local strategy per trial chosen by
   * shared randomness, a(x) = c xor (s & x), b(y) = c xor (t & y) with
   * (s, t) != (1, 1), each winning the CHSH game in exactly 3 of 4 setting
   * pairs, so S = 2 exactly in expectation; c uniform makes the outcomes
   * uniform. With probability q the outcomes are random instead (S = 2(1 - q)).
   */
  private lhvPattern(xy: number, q: number): number {
    const rng = this.trialRng;
    const x = xy >> 1;
    const y = xy & 1;
    const r = rng.u32();
    let a: number;
    let b: number;
    if (q > 0 && rng.float() < q) {
      a = r & 1;
      b = (r >>> 1) & 1;
    } else {
      const c = r & 1;
      const st = (r >>> 1) % 3; // (0,0), (1,0), (0,1)
      const s = st === 1 ? 1 : 0;
      const t = st === 2 ? 1 : 0;
      a = c ^ (s & x);
      b = c ^ (t & y);
    }
    // Outcome 1 is a lone click in detector 1, outcome 0 a lone click in detector 0.
    return (a ? 0x08 : 0x04) | (b ? 0x02 : 0x01);
  }

  private loseTrials(n: number): void {
    this.flushRecords();
    this.lostSinceStart += n;
    this.stats.trialsLost += n;
    this.pendingFlags |= TRIALS_FLAG.GAP; // PROTOCOL 4 TRIALS: GAP on the frame after lost trials
    this.latchedFaults |= Fault.OVERFLOW;
  }

  private sendCredit(): void {
    this.freedSinceCredit = 0;
    this.send({ kind: 'CREDIT', flags: 0, seq: 0, free: this.fifo.length - this.fifoCount, consumed: this.consumed });
  }

  /** Emit the partial TRIALS frame, or lose it to overflow (device buffer full, or forced). */
  private flushRecords(): void {
    const n = this.recordCount;
    if (n === 0) return;
    this.recordCount = 0;
    const capacity = (this.opts.deviceBufferFrames ?? DEFAULT_DEVICE_BUFFER_FRAMES) * FRAME_SIZE;
    const overflow =
      (this.clock === 'realtime' && this.outBytes >= capacity) ||
      (this.faults.overflowRate !== undefined &&
        this.faults.overflowRate > 0 &&
        this.linkRng.float() < this.faults.overflowRate);
    if (overflow) {
      // PROTOCOL 4 TRIALS: trials lost inside the device; the next frame carries GAP.
      this.lostSinceStart += n;
      this.stats.trialsLost += n;
      this.pendingFlags |= TRIALS_FLAG.GAP;
      this.latchedFaults |= Fault.OVERFLOW;
      return;
    }
    let flags = this.pendingFlags;
    if (this.source === 1) flags |= TRIALS_FLAG.HOST_SETTINGS;
    this.pendingFlags = 0;
    const seq = this.nextSeq();
    const first = this.recordFirst;
    this.emitFrame((buf, off) => encodeTrialsInto(buf, off, seq, flags, first, this.records, 0, n));
    // PROTOCOL 4 CREDIT: whenever 4096 or more slots were freed since the last CREDIT.
    if (this.source === 1 && this.freedSinceCredit >= CREDIT_STEP) this.sendCredit();
  }
}

/** Reads a flash file written by writeFlash; throws one clear line when it is not one. */
function readFlash(path: string): ChipSettings | null {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`simulator flash file ${path} is not JSON: ${(e as Error).message}`);
  }
  const d = data as Partial<FlashContents> | null;
  if (d?.version !== 1 || !('calibration' in d))
    throw new Error(`simulator flash file ${path} is not a version 1 flash ({"version": 1, "calibration": ...})`);
  if (d.calibration === null) return null;
  const c = d.calibration as Partial<ChipSettings>;
  const int = (v: unknown, lo: number, hi: number) =>
    typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  const quad = (v: unknown, lo: number, hi: number) =>
    Array.isArray(v) && v.length === 4 && v.every((x) => int(x, lo, hi));
  // PROTOCOL 5 ranges of the stored values.
  const bad = !quad(c.anglesCentidegrees, 0, 17999)
    ? 'anglesCentidegrees'
    : !int(c.windowPs, 100, 20000)
      ? 'windowPs'
      : !int(c.delayPs, -10000, 10000)
        ? 'delayPs'
        : !int(c.pumpMicrowatts, 0, 1000)
          ? 'pumpMicrowatts'
          : !quad(c.biasMillivolts, 20000, 40000)
            ? 'biasMillivolts'
            : undefined;
  if (bad) throw new Error(`simulator flash file ${path}: calibration.${bad} is missing or out of range`);
  return cloneSettings(c as ChipSettings);
}

const RATE_KEYS = ['byteDropRate', 'byteFlipRate', 'byteDuplicateRate', 'frameLossRate', 'overflowRate'] as const;
const FAULT_KEYS = [...RATE_KEYS, 'latchedDetector', 'temperatureCentidegrees', 'pumpUnlocked', 'atMs'] as const;

/** Checks a fault set (numbers, or strings from a command line) and returns it typed; throws RangeError naming the key. */
export function normalizeFaults(raw: ChipFaults | Record<string, string | number | boolean>): ChipFaults {
  const out: Record<string, number | boolean> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (!(FAULT_KEYS as readonly string[]).includes(key))
      throw new RangeError(`unknown simulator fault "${key}" (allowed: ${FAULT_KEYS.join(', ')})`);
    if (key === 'pumpUnlocked') {
      if (value === true || value === 'true' || value === '1') out[key] = true;
      else if (value === false || value === 'false' || value === '0') out[key] = false;
      else throw new RangeError(`simulator fault pumpUnlocked must be true or false, got ${String(value)}`);
      continue;
    }
    const v = typeof value === 'number' ? value : Number(value);
    if (typeof value === 'boolean' || !Number.isFinite(v))
      throw new RangeError(`simulator fault ${key} must be a number, got ${String(value)}`);
    if ((RATE_KEYS as readonly string[]).includes(key) && !(v >= 0 && v <= 1))
      throw new RangeError(`simulator fault ${key} must be a probability in 0..1, got ${v}`);
    if (key === 'latchedDetector' && !(Number.isInteger(v) && v >= 0 && v <= 3))
      throw new RangeError(`simulator fault latchedDetector must be 0..3 (A0 A1 B0 B1), got ${v}`);
    if (key === 'temperatureCentidegrees' && !(Number.isInteger(v) && v >= -32768 && v <= 32767))
      throw new RangeError(`simulator fault temperatureCentidegrees must be an i16, got ${v}`);
    if (key === 'atMs' && !(v >= 0)) throw new RangeError(`simulator fault atMs must be >= 0, got ${v}`);
    out[key] = v;
  }
  return out as ChipFaults;
}

function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function isHostType(type: number): boolean {
  return type >= FrameType.GET_INFO && type <= FrameType.SAVE_CALIBRATION;
}

function typeOf(frame: { kind: string }): number {
  return (FrameType as Record<string, number>)[frame.kind] ?? -1;
}

/** An undefined flag bit on a command has no payload offset: report 0xFFFF. */
function badFlagsDetail(_e: FrameError): number {
  return 0xffff;
}
