/**
 * SimulatedChip: the EPQ-1 firmware of PROTOCOL sections 3-5 driving the
 * physics of section 7 (physics.ts), deterministic for a seed. Host bytes in
 * (`receive`), device bytes out (`read`); the device state and what each
 * command does live here, the rest in the files the folder README lists
 * (dispatch, trials, adversaries, faults, link, clock, FIFO, flash).
 */
import { existsSync } from 'node:fs';
import { encodeTrialsInto } from '../protocol/encode.ts';
import {
  DeviceState,
  Fault,
  FATAL_FAULTS,
  FRAME_SIZE,
  MAGIC0,
  MAGIC1,
  MAX_TRIALS_PER_FRAME,
  TRIALS_FLAG,
  type DeviceFrame,
} from '../protocol/types.ts';
import {
  FACTORY_SETTINGS,
  cloneSettings,
  clickDistribution,
  darkRateHz,
  drawHiddenParams,
  idealSettings,
  settingDistributions,
  trialModel,
  type ChipSettings,
  type HiddenParams,
} from './physics.ts';
import { Rng, mixSeed } from './rng.ts';
import { biasedSetting, losesChsh, lhvPattern, lhvRandomShare, tamperedSetting } from './adversary.ts';
import { ChipTime } from './clock.ts';
import { HardwareFaults, normalizeFaults, type ChipFaults } from './faults.ts';
import { findMagic, handleHostFrame, type ChipOperations } from './firmware.ts';
import { readFlash, writeFlash } from './flash.ts';
import { DeviceLink } from './link.ts';
import {
  CHIP_INFO,
  infoFrame,
  zeroStats,
  type ChipClock,
  type ChipMode,
  type ChipOptions,
  type ChipStats,
} from './options.ts';
import { SettingsFifo } from './settings-fifo.ts';
import {
  AliasTables,
  SettingBits,
  TrialFrames,
  countsFrame,
  honestInternalTrials,
  type CountsRequest,
} from './trials.ts';

export { CHIP_INFO, type ChipClock, type ChipMode, type ChipOptions, type ChipStats } from './options.ts';
export { normalizeFaults, type ChipFaults } from './faults.ts';

/** PROTOCOL 4 CREDIT: sent whenever this many slots were freed since the last. */
const CREDIT_STEP = 4096;
const DEFAULT_STATUS_INTERVAL_MS = 1000;
const DEFAULT_DEVICE_BUFFER_FRAMES = 16384;

type Quad = [number, number, number, number];

interface Measurement extends CountsRequest {
  seq: number;
  endMs: number;
}

export class SimulatedChip {
  /** The device's hidden values (tests only: a host learns them only by measuring). */
  readonly hidden: HiddenParams;
  readonly serial: string;
  readonly mode: ChipMode;
  readonly clock: ChipClock;
  readonly stats: ChipStats = zeroStats();
  /** Called whenever new output bytes are queued (transports wait on it). */
  onOutput: (() => void) | undefined;
  /** The settings in force (tests read them; a host learns them from STATUS). */
  settings: ChipSettings;

  private readonly opts: ChipOptions;
  private readonly faults: ChipFaults;
  private readonly hardware: HardwareFaults;
  private readonly trialRng: Rng;
  private readonly settingRng: Rng;
  private readonly countsRng: Rng;
  private readonly linkRng: Rng;
  private readonly link: DeviceLink;
  private readonly time: ChipTime;
  private readonly ops: ChipOperations;

  // firmware state
  private state: number = DeviceState.IDLE;
  private flash: ChipSettings | null;
  private statusIntervalMs = DEFAULT_STATUS_INTERVAL_MS;
  private nextStatusMs = DEFAULT_STATUS_INTERVAL_MS;
  /** Fault bits latched until the next STATUS (3 OVERFLOW, 4 SETTINGS_STARVED). */
  private latchedFaults = 0;
  /** Transient hardware faults (cleared by RESET). */
  private transientFaults = 0;
  private measurement: Measurement | undefined;

  // run state
  private source = 0;
  private rateHz: number = CHIP_INFO.maxTrialRate;
  private limit = 0;
  private lostSinceStart = 0;
  private pendingFlags = 0;
  private starved = false;
  private readonly tables = new AliasTables();
  private readonly frames = new TrialFrames();
  private readonly fifo = new SettingsFifo(CHIP_INFO.settingsFifo);

  // host input
  private inBuf: Uint8Array = new Uint8Array(0);
  private closed = false;

  constructor(opts: ChipOptions) {
    if (!Number.isSafeInteger(opts.seed) || opts.seed < 0)
      throw new RangeError(`seed must be a non-negative integer, got ${opts.seed}`);
    this.opts = opts;
    this.mode = opts.mode ?? 'honest';
    this.clock = opts.clock ?? 'virtual';
    this.faults = normalizeFaults(opts.faults ?? {});
    this.hardware = new HardwareFaults(this.faults);
    this.hidden = drawHiddenParams(opts.seed, opts.hidden);
    this.serial = opts.serial ?? `EPQ1-${mixSeed(opts.seed, 0x5e71a1).toString(16).toUpperCase().padStart(8, '0')}`;
    // PROTOCOL 2: `EPQ1-` followed by 8 hex digits (16 bytes of INFO serial at most).
    if (!/^EPQ1-[0-9A-F]{8}$/.test(this.serial))
      throw new RangeError(`serial must be EPQ1- and 8 hex digits, got ${this.serial}`);
    this.trialRng = new Rng(opts.seed, 1);
    this.settingRng = new Rng(opts.seed, 2);
    this.countsRng = new Rng(opts.seed, 3);
    this.linkRng = new Rng(opts.seed, 4);
    this.link = new DeviceLink(this.faults, this.linkRng, this.stats);
    this.time = new ChipTime(this.clock);
    this.ops = this.operations();

    this.flash = null;
    if (opts.flashFile && existsSync(opts.flashFile)) {
      this.flash = readFlash(opts.flashFile);
    } else if (opts.calibrated) {
      this.flash = idealSettings(this.hidden);
      this.saveFlash(this.flash);
    }
    // PROTOCOL 7: power up loads the saved calibration, else the factory values.
    this.settings = cloneSettings(this.flash ?? FACTORY_SETTINGS);
    this.checkHardwareFaults();
    if (this.clock === 'realtime') this.time.startTimer(() => this.tick(), opts.batchMs ?? 4);
  }

  // ---------------------------------------------------------------------------
  // Public I/O

  /** Chip time in ms since power-up (virtual or wall clock). */
  get clockMs(): number {
    return this.time.nowMs;
  }

  /** PROTOCOL 4 STATUS state code. */
  get stateCode(): number {
    return this.state;
  }

  /** Bytes queued for the host. */
  get pendingBytes(): number {
    return this.link.queuedBytes;
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
      // PROTOCOL 3: a wrong magic or CRC drops the frame silently (the host sees a timeout, never a wrong
      // ACK); re-synchronise on the next magic.
      const magicOk = buf[pos] === MAGIC0 && buf[pos + 1] === MAGIC1;
      if (magicOk && handleHostFrame(this.ops, this.stats, buf.subarray(pos, pos + FRAME_SIZE))) {
        pos += FRAME_SIZE;
        continue;
      }
      if (magicOk) this.stats.hostFramesDropped++;
      const next = findMagic(buf, pos + 1);
      this.stats.hostBytesSkipped += next - pos;
      pos = next;
    }
    this.inBuf = buf.slice(pos);
    this.notify();
  }

  /**
   * Device bytes out: up to `max` bytes. In virtual time, a RUNNING chip
   * performs the next trials when nothing else is queued.
   */
  read(max = 65536): Uint8Array {
    if (this.clock === 'virtual' && this.link.queuedBytes === 0 && this.state === DeviceState.RUNNING) {
      this.runVirtual(Math.max(1, Math.floor(max / FRAME_SIZE)) * MAX_TRIALS_PER_FRAME);
    } else if (this.clock === 'realtime') {
      this.catchUp();
    }
    return this.link.take(max);
  }

  /** Virtual clock: let `ms` of chip time pass (STATUS frames fall due; a run performs its trials). */
  advance(ms: number): void {
    if (this.clock !== 'virtual') throw new Error('advance() is for the virtual clock');
    const end = this.time.virtualMs + ms;
    if (this.state === DeviceState.RUNNING) this.runVirtual(Math.floor((ms * this.rateHz) / 1000));
    this.advanceTimeTo(Math.max(end, this.time.virtualMs));
    this.notify();
  }

  /** Drop every queued output byte (what a port flush discards). */
  discardOutput(): number {
    return this.link.discard();
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
    this.link.closed = true;
    this.time.stopTimer();
  }

  /** Wake a waiting transport: bytes are queued, or a virtual-time run can make some on the next read. */
  private notify(): void {
    const canRun = this.clock === 'virtual' && this.state === DeviceState.RUNNING && !this.starvedEmpty();
    if (this.link.queuedBytes > 0 || canRun) this.onOutput?.();
  }

  private starvedEmpty(): boolean {
    return this.source === 1 && this.fifo.count === 0;
  }

  private send(frame: DeviceFrame): void {
    this.link.send(frame);
  }

  // ---------------------------------------------------------------------------
  // What each command does (firmware.ts decides when it applies and answers it)

  private operations(): ChipOperations {
    return {
      state: () => this.state,
      source: () => this.source,
      settings: () => this.settings,
      ack: (seq, type, status, detail = 0) =>
        this.send({ kind: 'ACK', flags: 0, seq: 0, ackSeq: seq, ackType: type, status, detail }),
      sendInfo: () => this.send(infoFrame(this.serial)),
      sendStatus: () => this.sendStatus(false),
      beginRun: (source, rateHz, limit) => this.beginRun(source, rateHz, limit),
      stop: () => this.stop(),
      setStatusInterval: (ms) => {
        this.statusIntervalMs = ms;
        this.nextStatusMs = this.clockMs + ms;
      },
      beginMeasurement: (seq, id, angleA, angleB, integration) =>
        this.beginMeasurement({ seq, id, angleA, angleB, integration, endMs: this.clockMs + integration }),
      queueSettings: (settings, count) => this.fifo.push(settings, count),
      reset: () => this.reset(),
      saveCalibration: () => this.saveCalibration(),
    };
  }

  /** PROTOCOL 5 STOP: send every TRIALS frame still buffered (a run), or abandon a measurement; IDLE. */
  private stop(): void {
    if (this.state === DeviceState.RUNNING) {
      this.flushRecords();
      this.state = DeviceState.IDLE;
    } else if (this.state === DeviceState.MEASURING) {
      this.measurement = undefined;
      this.state = DeviceState.IDLE;
    }
  }

  /** PROTOCOL 5 RESET: stop, clear faults, reload saved calibration. */
  private reset(): void {
    if (this.state === DeviceState.RUNNING) this.flushRecords();
    this.measurement = undefined;
    this.transientFaults = 0;
    this.latchedFaults = 0;
    this.fifo.count = 0;
    this.settings = cloneSettings(this.flash ?? FACTORY_SETTINGS);
    this.state = DeviceState.IDLE;
    this.checkHardwareFaults();
  }

  private saveCalibration(): boolean {
    try {
      this.saveFlash(cloneSettings(this.settings));
    } catch {
      return false;
    }
    this.flash = cloneSettings(this.settings);
    return true;
  }

  private saveFlash(calibration: ChipSettings | null): void {
    if (this.opts.flashFile) writeFlash(this.opts.flashFile, calibration);
  }

  // ---------------------------------------------------------------------------
  // Faults and STATUS

  private checkHardwareFaults(): void {
    this.hardware.activateIfDue(this.clockMs);
    this.enterFaultIfNeeded();
  }

  private faultBits(): number {
    let bits = this.hardware.bits() | this.transientFaults | this.latchedFaults;
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
    const latched = this.hardware.latchedDetector();
    const dark = [0, 1, 2, 3].map((d) =>
      d === latched ? 65535 : Math.min(65535, Math.round(darkRateHz(this.hidden, d, s.biasMillivolts[d]!))),
    ) as Quad;
    this.send({
      kind: 'STATUS',
      flags: 0,
      seq: 0,
      trials: this.frames.index,
      temperature: this.hardware.temperatureCentidegrees(),
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
    const virtual = this.clock === 'virtual';
    for (;;) {
      const statusDue = this.statusIntervalMs > 0 ? this.nextStatusMs : Infinity;
      const measureDue = this.measurement ? this.measurement.endMs : Infinity;
      const hwDue = this.hardware.dueMs;
      const next = Math.min(statusDue, measureDue, hwDue);
      if (next > t) break;
      if (virtual) this.time.virtualMs = Math.max(this.time.virtualMs, next);
      if (next === hwDue) this.checkHardwareFaults();
      else if (next === measureDue) this.finishMeasurement();
      else {
        this.sendStatus(true);
        // realtime catch-up after a stall
        if (this.nextStatusMs <= t - 10 * this.statusIntervalMs) this.nextStatusMs = t;
      }
    }
    if (virtual) this.time.virtualMs = Math.max(this.time.virtualMs, t);
  }

  // ---------------------------------------------------------------------------
  // MEASURE_COUNTS

  private beginMeasurement(m: Measurement): void {
    this.state = DeviceState.MEASURING;
    this.measurement = m;
    // Virtual clock: answered at once, chip time moves by the integration.
    if (this.clock === 'virtual') this.advanceTimeTo(m.endMs);
  }

  /** PROTOCOL 7: counts from the same per-trial model at the command's angles, over rate * integration trials. */
  private finishMeasurement(): void {
    const m = this.measurement!;
    this.measurement = undefined;
    const trials = Math.round((CHIP_INFO.maxTrialRate * m.integration) / 1000);
    const model = trialModel(this.hidden, this.settings, this.hardware.latchedMask());
    const dist = clickDistribution(model, m.angleA / 100, m.angleB / 100);
    const counts = this.countsRng.multinomial(trials, dist);
    this.state = DeviceState.IDLE;
    this.send(countsFrame(m, trials, counts, this.settings));
  }

  // ---------------------------------------------------------------------------
  // Runs

  private beginRun(source: number, rateHz: number, limit: number): void {
    this.state = DeviceState.RUNNING;
    this.source = source;
    this.rateHz = rateHz;
    this.limit = limit;
    this.frames.index = 0; // PROTOCOL 5: START resets the trial index to 0
    this.frames.count = 0;
    this.lostSinceStart = 0;
    this.pendingFlags = 0;
    this.starved = false;
    this.fifo.reset();
    this.time.startRun();
    const model = trialModel(this.hidden, this.settings, this.hardware.latchedMask());
    this.tables.load(settingDistributions(model, this.settings.anglesCentidegrees));
    if (source === 1) {
      // PROTOCOL 4 CREDIT: right after START's ACK in host-settings mode.
      this.send({ kind: 'CREDIT', flags: 0, seq: 0, free: this.fifo.size, consumed: 0 });
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
        const untilStatus = Math.ceil(((this.nextStatusMs - this.time.virtualMs) * this.rateHz) / 1000);
        chunk = Math.max(1, Math.min(chunk, untilStatus));
      }
      const done = this.performTrials(chunk);
      this.advanceTimeTo(this.time.virtualMs); // sends STATUS when due
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
    const dt = this.time.sinceLastTick(now);
    if (this.state === DeviceState.RUNNING)
      this.performTrials(this.time.trialsOwed(dt, this.rateHz, this.source === 1, this.fifo.size));
    this.advanceTimeTo(now);
  }

  /**
   * Perform up to n trials (fewer when the limit is reached or host settings
   * run out). Returns the number performed (lost ones included).
   */
  private performTrials(n: number): number {
    if (this.state !== DeviceState.RUNNING || n <= 0) return 0;
    if (this.limit > 0) n = Math.min(n, this.limit - this.frames.index);
    if (this.mode === 'honest' && this.source === 0) {
      honestInternalTrials(this.frames, this.tables, this.trialRng, this.settingRng, n, () => this.flushRecords());
      this.stats.trialsPerformed += n;
      return this.afterTrials(n);
    }
    const done = this.performGeneralTrials(n);
    if (this.source === 1 && this.fifo.freedSinceCredit >= CREDIT_STEP) this.sendCredit();
    return this.afterTrials(done);
  }

  /** Every mode and settings source: one setting, one pattern, one record per trial. */
  private performGeneralTrials(n: number): number {
    const host = this.source === 1;
    const mode = this.mode;
    const rng = this.trialRng;
    const lhvQ = mode === 'lhv' ? lhvRandomShare(this.opts.lhvTargetS ?? 2) : 0;
    const biasP = this.opts.biasedProbability ?? 0.6;
    const tamperRate = this.opts.tamperRate ?? 0.01;
    const tamperEchoHost = this.opts.tamperEcho === 'host';
    const internal = new SettingBits(this.settingRng);
    let done = 0;
    for (; done < n; done++) {
      let xy: number;
      if (host) xy = this.nextHostSetting();
      else xy = mode === 'biased' ? biasedSetting(this.settingRng, biasP) : internal.next();
      if (xy < 0) break;
      let echo = xy;
      let used = xy;
      if (mode === 'tamper' && host && rng.float() < tamperRate) {
        used = tamperedSetting(xy);
        echo = tamperEchoHost ? xy : used;
        this.stats.tamperedTrials++;
      }
      const pattern = mode === 'lhv' ? lhvPattern(rng, used, lhvQ) : this.tables.draw(rng, used);
      const index = this.frames.index++;
      this.stats.trialsPerformed++;
      if (mode === 'postselect' && losesChsh(used, pattern)) {
        this.loseTrials(1); // flagged GAP, as a device overflow would be
        continue;
      }
      // PROTOCOL 4 TRIALS: x bit 5, y bit 4, clicks bits 3..0
      if (this.frames.push(index, (echo << 4) | pattern)) this.flushRecords();
    }
    return done;
  }

  /** The next host setting from the FIFO, or -1 when it is empty (the chip starves). */
  private nextHostSetting(): number {
    if (this.fifo.count === 0) {
      // PROTOCOL 5: no trial while the FIFO is empty; fault bit 4, then RESUMED on the next TRIALS frame.
      this.starved = true;
      this.latchedFaults |= Fault.SETTINGS_STARVED;
      this.flushRecords();
      return -1;
    }
    const xy = this.fifo.shift();
    if (this.starved) {
      this.starved = false;
      this.pendingFlags |= TRIALS_FLAG.RESUMED;
    }
    return xy;
  }

  private afterTrials(done: number): number {
    if (this.clock === 'virtual') this.time.virtualMs += (done * 1000) / this.rateHz;
    if (this.limit > 0 && this.frames.index >= this.limit) this.endRunAtLimit();
    return done;
  }

  private loseTrials(n: number): void {
    this.flushRecords();
    this.countLost(n);
  }

  /** PROTOCOL 4 TRIALS: trials lost inside the device; the next frame carries GAP. */
  private countLost(n: number): void {
    this.lostSinceStart += n;
    this.stats.trialsLost += n;
    this.pendingFlags |= TRIALS_FLAG.GAP;
    this.latchedFaults |= Fault.OVERFLOW;
  }

  private sendCredit(): void {
    this.fifo.freedSinceCredit = 0;
    this.send({ kind: 'CREDIT', flags: 0, seq: 0, free: this.fifo.free, consumed: this.fifo.consumed });
  }

  /** Emit the partial TRIALS frame, or lose it to overflow (device buffer full, or forced). */
  private flushRecords(): void {
    const frames = this.frames;
    const n = frames.count;
    if (n === 0) return;
    frames.count = 0;
    const capacity = (this.opts.deviceBufferFrames ?? DEFAULT_DEVICE_BUFFER_FRAMES) * FRAME_SIZE;
    const rate = this.faults.overflowRate;
    const overflow =
      (this.clock === 'realtime' && this.link.queuedBytes >= capacity) ||
      (rate !== undefined && rate > 0 && this.linkRng.float() < rate);
    if (overflow) {
      this.countLost(n);
      return;
    }
    let flags = this.pendingFlags;
    if (this.source === 1) flags |= TRIALS_FLAG.HOST_SETTINGS;
    this.pendingFlags = 0;
    const seq = this.link.nextSeq();
    const first = frames.first;
    this.link.emitFrame((buf, off) => encodeTrialsInto(buf, off, seq, flags, first, frames.records, 0, n));
    // PROTOCOL 4 CREDIT: whenever 4096 or more slots were freed since the last CREDIT.
    if (this.source === 1 && this.fifo.freedSinceCredit >= CREDIT_STEP) this.sendCredit();
  }
}
