/**
 * One EPQ-1 over any serialport binding (the native one for hardware and
 * PTYs, the simulator's in-process one, a mock in tests).
 *
 *   port bytes -> link scanner (protocol FrameSync) -> frames -> dispatch:
 *     ACK            -> the pending command with that seq (PROTOCOL 4 ACK)
 *     INFO/STATUS    -> the command waiting for its data answer (after its ACK)
 *     COUNTS         -> the MEASURE_COUNTS waiting for that id
 *     TRIALS/CREDIT  -> the active Run (STATUS too)
 *
 * Guarantees:
 * - commands carry a host seq (u32, wrapping) and wait for the ACK with that
 *   seq; only idempotent commands are retried after a timeout, each try with
 *   a fresh seq; a non-OK ACK is a DeviceError naming command and status;
 * - a device whose protocol major is not 1 is refused at open (PROTOCOL 4 INFO);
 * - unplug, port errors and close reject whatever waits with a DeviceError,
 *   and the run iterator throws it; nothing becomes an unhandled rejection;
 * - a STATUS with a fatal fault (any bit but 3, 4, 5: PROTOCOL 4 STATUS) is a
 *   DeviceFaultError for the run and any MEASURE_COUNTS waiting;
 * - device seq jumps (frames lost on the link, PROTOCOL 3) are counted.
 */
import { EventEmitter } from 'node:events';
import { SerialPortStream } from '@serialport/stream';
import type { BindingInterface } from '../serialport-types.ts';
import { SerialPort } from 'serialport';
import { encodeFrame } from '../protocol/encode.ts';
import {
  AckStatus,
  Capability,
  DeviceState,
  FATAL_FAULTS,
  FrameType,
  MAX_SETTINGS_PER_FRAME,
  faultNames,
  type AckFrame,
  type CountsFrame,
  type DeviceFrame,
  type HostFrame,
  type InfoFrame,
  type StatusFrame,
  type UnknownFrame,
} from '../protocol/types.ts';
import { DeviceError, InputError } from '../errors.ts';
import { FrameError } from '../protocol/errors.ts';
import { withHangupDetection } from './hangup.ts';
import { createLinkScanner, type InvalidFrameReport, type LinkScanner } from './link.ts';
import { DeviceSeqTracker, Run, RunEventAssembler, type RunOptions } from './run.ts';

export { FAULT_NAMES, faultNames } from '../protocol/types.ts';

/** A STATUS reported a fatal fault (PROTOCOL 4 STATUS: the chip is in state FAULT until RESET). */
export class DeviceFaultError extends DeviceError {
  constructor(
    readonly faults: number,
    readonly status: StatusFrame,
  ) {
    super(
      'DEVICE_FAULT',
      `device fault: ${faultNames(faults & FATAL_FAULTS).join(', ')} (faults 0x${faults.toString(16).padStart(8, '0')}); the chip stopped, send RESET`,
      {
        detail: { faults, names: faultNames(faults) },
      },
    );
  }
}

const ACK_STATUS_NAMES = Object.fromEntries(Object.entries(AckStatus).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

/** How many ACK timeouts a command may wait while the link is busy with other frames. */
const ACK_WAIT_CAP_FACTOR = 20;

/** Commands safe to send twice (PROTOCOL 5: absolute values, queries, STOP which is a no-op in IDLE). */
const IDEMPOTENT = new Set<HostFrame['kind']>([
  'GET_INFO',
  'GET_STATUS',
  'SET_ANGLES',
  'SET_WINDOW',
  'SET_BIAS',
  'SET_PUMP',
  'SET_STATUS_INTERVAL',
  'SET_DELAY',
  'STOP',
]);

export interface DeviceOpenOptions {
  /** Serial port path (/dev/ttyACM0, a PTY, or the simulator's path). */
  path: string;
  /** serialport binding; default the native one (SerialPort.binding). */
  binding?: BindingInterface;
  /** How long a command waits for its ACK (PROTOCOL 4 ACK promises 50 ms; default 500). */
  ackTimeoutMs?: number;
  /** Extra tries for idempotent commands after a timeout (default 2). */
  retries?: number;
  /** Ignored by the chip (PROTOCOL 2); 921600 by convention. */
  baudRate?: number;
  /** Back-pressure threshold for runs. */
  run?: RunOptions;
}

export interface DeviceStats {
  bytesReceived: number;
  framesReceived: number;
  /** Device frames lost on the link (seq jumps). */
  linkLostFrames: number;
  duplicateFrames: number;
  /** CRC-valid frames dropped for failing their checks. */
  invalidFrames: number;
  /** Well-formed frames of a type protocol 1.0 does not define (PROTOCOL 3: skipped and counted). */
  unknownFrames: number;
  /** TRIALS/CREDIT outside any run, ACKs for nothing pending, unrequested COUNTS. */
  strayFrames: number;
  commandRetries: number;
}

export interface StartOptions {
  /** Where x, y come from (PROTOCOL 5 START source). */
  source?: 'internal' | 'host';
  /** Trials per second; 0 or absent: the chip's default. */
  rateTrialsPerS?: number;
  /** The chip stops by itself after this many trials; 0 or absent: until STOP. */
  limitTrials?: number;
}

export interface MeasureCountsOptions {
  /** Echoed in COUNTS; default a counter. */
  id?: number;
  angleACentideg: number;
  angleBCentideg: number;
  integrationMs: number;
}

interface PendingCommand {
  kind: HostFrame['kind'];
  type: number;
  resolve: (ack: AckFrame) => void;
  reject: (e: unknown) => void;
}
interface AnswerWaiter<F> {
  resolve: (f: F) => void;
  reject: (e: unknown) => void;
}

type Distribute<T> = T extends HostFrame ? Omit<T, 'seq' | 'flags'> : never;
type HostCommand = Distribute<HostFrame>;

function portMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m
    .replace(/^Error:\s*/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

export class Device extends EventEmitter {
  /** INFO read at open. */
  info!: InfoFrame;
  /** The last STATUS received. */
  lastStatus: StatusFrame | undefined;
  /** The last fatal fault reported, until reset(). */
  fault: DeviceFaultError | undefined;
  readonly stats: DeviceStats = {
    bytesReceived: 0,
    framesReceived: 0,
    linkLostFrames: 0,
    duplicateFrames: 0,
    invalidFrames: 0,
    unknownFrames: 0,
    strayFrames: 0,
    commandRetries: 0,
  };

  private hostSeq = 0;
  private countsId = 1;
  private readonly pending = new Map<number, PendingCommand>();
  private readonly infoWaiters: AnswerWaiter<InfoFrame>[] = [];
  private readonly statusWaiters: AnswerWaiter<StatusFrame>[] = [];
  private readonly countsWaiters = new Map<number, AnswerWaiter<CountsFrame>>();
  /** Commands whose ACK brings a data answer: seq -> the answer's kind and waiter. */
  private readonly answerAfterAck = new Map<
    number,
    { kind: 'INFO' | 'STATUS'; waiter: AnswerWaiter<InfoFrame | StatusFrame> }
  >();
  private readonly seqs = new DeviceSeqTracker();
  private readonly scanner: LinkScanner;
  private run: Run | undefined;
  private closedError: DeviceError | undefined;
  private closing = false;
  private readonly ackTimeoutMs: number;
  private readonly retries: number;

  private constructor(
    private readonly port: SerialPortStream,
    readonly path: string,
    private readonly opts: DeviceOpenOptions,
  ) {
    super();
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 500;
    this.retries = opts.retries ?? 2;
    this.scanner = createLinkScanner(
      (f) => this.onFrame(f),
      (r) => this.onInvalid(r),
    );
    port.on('data', (chunk: Buffer) => this.onBytes(chunk));
    port.on('close', (err?: Error & { disconnected?: boolean }) => this.onClose(err));
    port.on('error', (err: Error) => this.onPortError(err));
  }

  /** Opens the port, reads INFO (GET_INFO) and refuses a protocol major other than 1 (PROTOCOL 4 INFO). */
  static async open(opts: DeviceOpenOptions): Promise<Device> {
    // The native binding loops for ever on a TTY that hung up (hangup.ts): wrap it so that unplug is seen.
    const binding = opts.binding ?? withHangupDetection(SerialPort.binding as unknown as BindingInterface);
    const port = new SerialPortStream({ binding, path: opts.path, baudRate: opts.baudRate ?? 921600, autoOpen: false });
    await new Promise<void>((resolve, reject) => {
      port.open((err) => {
        if (!err) return resolve();
        // bindings-cpp says "Error: No such file or directory, cannot open /dev/x": keep the cause, name the path once.
        const cause = portMessage(err).replace(/,?\s*cannot open .*$/, '') || 'failed';
        reject(new DeviceError('OPEN_FAILED', `cannot open ${opts.path}: ${cause}`, { cause: err }));
      });
    });
    const device = new Device(port, opts.path, opts);
    try {
      const info = await device.getInfo();
      // PROTOCOL 4 INFO: a host must refuse a device whose protocol major is not 1 (a higher minor is used as 1.0).
      if (info.protocol[0] !== 1) {
        throw new DeviceError(
          'PROTOCOL_VERSION',
          `device at ${opts.path} speaks protocol ${info.protocol[0]}.${info.protocol[1]}; this driver needs protocol 1.x`,
          { detail: { protocol: info.protocol } },
        );
      }
      device.info = info;
      return device;
    } catch (e) {
      await device.close().catch(() => undefined);
      if (e instanceof DeviceError && e.code === 'NO_ANSWER') {
        throw new DeviceError(
          'NO_ANSWER',
          `no answer from ${opts.path}: GET_INFO not acknowledged within ${device.ackTimeoutMs} ms (${device.retries + 1} tries); is it an EPQ-1?`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  get isOpen(): boolean {
    return !this.closedError && this.port.isOpen;
  }

  // ---- commands (PROTOCOL 5) ----

  async getInfo(): Promise<InfoFrame> {
    return (await this.command({ kind: 'GET_INFO' }, 'INFO')) as InfoFrame;
  }

  async getStatus(): Promise<StatusFrame> {
    return (await this.command({ kind: 'GET_STATUS' }, 'STATUS')) as StatusFrame;
  }

  /** A(x=0) A(x=1) B(y=0) B(y=1), centidegrees 0..17999. */
  async setAngles(anglesCentideg: [number, number, number, number]): Promise<void> {
    await this.command({ kind: 'SET_ANGLES', angles: anglesCentideg });
  }
  async setWindow(windowPs: number): Promise<void> {
    await this.command({ kind: 'SET_WINDOW', window: windowPs });
  }
  /** detector 0..3 = A0 A1 B0 B1. */
  async setBias(detector: number, biasMillivolts: number): Promise<void> {
    await this.command({ kind: 'SET_BIAS', detector, bias: biasMillivolts });
  }
  async setPump(pumpMicrowatts: number): Promise<void> {
    await this.command({ kind: 'SET_PUMP', pump: pumpMicrowatts });
  }
  async setDelay(delayPs: number): Promise<void> {
    await this.command({ kind: 'SET_DELAY', delay: delayPs });
  }
  /** 0 (off) or 100..60000 ms. */
  async setStatusInterval(intervalMs: number): Promise<void> {
    await this.command({ kind: 'SET_STATUS_INTERVAL', interval: intervalMs });
  }
  /** PROTOCOL 5 RESET: stop, clear faults, reload saved calibration. Not retried. */
  async reset(): Promise<void> {
    await this.command({ kind: 'RESET' });
    this.fault = undefined;
  }
  /** PROTOCOL 5 SAVE_CALIBRATION (IDLE only). Not retried. */
  async saveCalibration(): Promise<void> {
    await this.command({ kind: 'SAVE_CALIBRATION' });
  }

  /**
   * PROTOCOL 5 MEASURE_COUNTS: waits for the ACK, then the COUNTS with this
   * id (sent once the integration time has passed). Not retried: the chip is
   * MEASURING after the first one.
   */
  async measureCounts({
    id,
    angleACentideg,
    angleBCentideg,
    integrationMs,
  }: MeasureCountsOptions): Promise<CountsFrame> {
    const countsId = id ?? this.countsId;
    this.countsId = (Math.max(this.countsId, countsId) + 1) >>> 0;
    if (this.countsWaiters.has(countsId))
      throw new DeviceError('BUSY', `MEASURE_COUNTS id ${countsId} is already waiting`);
    const marginMs = Math.max(2000, integrationMs * 0.25) + this.ackTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const counts = new Promise<CountsFrame>((resolve, reject) => {
      this.countsWaiters.set(countsId, { resolve, reject });
    });
    counts.catch(() => undefined); // observed below; never left unhandled if the command fails first
    try {
      await this.command({
        kind: 'MEASURE_COUNTS',
        id: countsId,
        angleA: angleACentideg,
        angleB: angleBCentideg,
        integration: integrationMs,
      });
      return await Promise.race([
        counts,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new DeviceError(
                  'NO_ANSWER',
                  `no COUNTS for MEASURE_COUNTS id ${countsId} within ${integrationMs + marginMs} ms`,
                ),
              ),
            integrationMs + marginMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.countsWaiters.delete(countsId);
    }
  }

  /**
   * The chip's host-settings FIFO (PROTOCOL 4 INFO settings fifo), checked
   * usable: capability bit 0 (host settings) set and a FIFO of at least one
   * trial. INFO is the chip's word: a chip without either is refused with a
   * DeviceError before any START.
   */
  hostSettingsFifo(): number {
    const { capabilities, settingsFifo, serial } = this.info;
    // PROTOCOL 4 INFO: capabilities bit 0, host settings.
    if ((capabilities & Capability.HOST_SETTINGS) === 0) {
      throw new DeviceError(
        'UNSUPPORTED',
        `device ${serial} does not take host settings (INFO capabilities 0x${capabilities.toString(16)}, bit 0 clear); use the chip's internal settings`,
      );
    }
    if (!(settingsFifo >= 1)) {
      throw new DeviceError(
        'UNSUPPORTED',
        `device ${serial} reports a host-settings FIFO of ${settingsFifo} trials (INFO settings fifo): it cannot take host settings`,
      );
    }
    return settingsFifo;
  }

  /**
   * PROTOCOL 5 START: returns the Run once START is acknowledged. Frames from
   * the chip reach the run from the moment START is sent. Not retried.
   */
  async start({ source = 'internal', rateTrialsPerS = 0, limitTrials = 0 }: StartOptions = {}): Promise<Run> {
    if (this.run?.active) throw new DeviceError('BUSY', 'a run is already active on this device; stop it first');
    this.failIfClosed();
    if (source === 'host') this.hostSettingsFifo();
    const run = new Run(
      {
        stop: () => this.stop(),
        sendSettings: (s) => this.sendSettings(s),
        pause: () => this.port.pause(),
        resume: () => this.port.resume(),
      },
      new RunEventAssembler(),
      this.opts.run,
    );
    this.run = run;
    try {
      await this.command({
        kind: 'START',
        source: source === 'host' ? 1 : 0,
        rate: rateTrialsPerS,
        limit: limitTrials,
      });
    } catch (e) {
      if (this.run === run) this.run = undefined;
      run.fail(e);
      throw e;
    }
    run.acknowledged = true;
    return run;
  }

  /**
   * PROTOCOL 5 STOP: the chip flushes its TRIALS, then ACKs; the active run
   * ends at that ACK. In IDLE a no-op on the chip.
   */
  async stop(): Promise<void> {
    this.run?.releaseBackpressure();
    await this.command({ kind: 'STOP' });
  }

  /**
   * PROTOCOL 5 SETTINGS: per-trial settings, (x << 1) | y each, in frames of
   * at most 192. The chip answers only a rejected one (then the run fails).
   */
  async sendSettings(settings: Uint8Array): Promise<void> {
    this.failIfClosed();
    const frames: Buffer[] = [];
    for (let i = 0; i < settings.length; i += MAX_SETTINGS_PER_FRAME) {
      const part = settings.subarray(i, Math.min(settings.length, i + MAX_SETTINGS_PER_FRAME));
      frames.push(this.encode({ kind: 'SETTINGS', seq: this.nextSeq(), flags: 0, count: part.length, settings: part }));
    }
    if (frames.length) await this.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /** Closes the port (sending STOP first when a run is active). A run or command still waiting gets a DeviceError. */
  async close(): Promise<void> {
    if (this.closing || this.closedError) return;
    this.closing = true;
    const wasRunning = this.run?.active === true;
    this.failAll(new DeviceError('CLOSED', `device at ${this.path} was closed`));
    if (!this.port.isOpen) return;
    if (wasRunning) {
      // Best effort: do not leave the chip running (and flooding the link) behind us. No ACK is awaited.
      const stop = this.write(encodeFrame({ kind: 'STOP', seq: this.nextSeq(), flags: 0 })).catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stop, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.ackTimeoutMs)))]);
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.port.close(() => resolve()));
  }

  // ---- command machinery ----

  private nextSeq(): number {
    const seq = this.hostSeq;
    this.hostSeq = (this.hostSeq + 1) >>> 0; // PROTOCOL 3: host seq u32, wrapping
    return seq;
  }

  private failIfClosed(): void {
    if (this.closedError) throw this.closedError;
    if (this.closing) throw new DeviceError('CLOSED', `device at ${this.path} was closed`);
  }

  private write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.port.write(bytes, (err) =>
        err
          ? reject(new DeviceError('WRITE_FAILED', `cannot write to ${this.path}: ${portMessage(err)}`, { cause: err }))
          : resolve(),
      );
    });
  }

  /**
   * Sends a command and waits for its ACK (and its data answer, when one
   * follows). Idempotent commands are retried after a timeout with a fresh seq.
   */
  private async command(cmd: HostCommand, answer?: 'INFO' | 'STATUS'): Promise<AckFrame | InfoFrame | StatusFrame> {
    const tries = IDEMPOTENT.has(cmd.kind) ? this.retries + 1 : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < tries; attempt++) {
      this.failIfClosed();
      if (attempt > 0) this.stats.commandRetries++;
      try {
        return await this.commandOnce(cmd, answer);
      } catch (e) {
        lastError = e;
        if (!(e instanceof DeviceError && e.code === 'NO_ANSWER')) throw e;
      }
    }
    throw lastError;
  }

  private async commandOnce(cmd: HostCommand, answer?: 'INFO' | 'STATUS'): Promise<AckFrame | InfoFrame | StatusFrame> {
    const seq = this.nextSeq();
    const frame = { ...cmd, seq, flags: 0 } as HostFrame;
    const type = FrameType[cmd.kind];
    // A command sent while a run is paused for back-pressure needs the link flowing to see its ACK.
    this.run?.setLinkNeeded(true);
    let timer: NodeJS.Timeout | undefined;
    let answerWaiter: AnswerWaiter<InfoFrame | StatusFrame> | undefined;
    const acked = new Promise<AckFrame>((resolve, reject) => {
      this.pending.set(seq, { kind: cmd.kind, type, resolve, reject });
    });
    acked.catch(() => undefined);
    const answered = answer
      ? new Promise<InfoFrame | StatusFrame>((resolve, reject) => {
          answerWaiter = { resolve, reject };
          this.answerAfterAck.set(seq, { kind: answer, waiter: answerWaiter });
        })
      : undefined;
    answered?.catch(() => undefined);
    // PROTOCOL 4 ACK: within 50 ms of the chip reading the command. An ACK can queue behind data the chip
    // sends first (STOP flushes its TRIALS before its ACK), so while bytes keep arriving the wait is extended,
    // up to a hard cap; a silent link times out after ackTimeoutMs.
    // A timer that fires late means this process was stalled (a loaded machine) and has not read the
    // port since: that is not the device's silence either, so it gets another period too.
    const timeout = (what: string) =>
      new Promise<never>((_, reject) => {
        const startedMs = performance.now();
        let armedMs = startedMs;
        let seenBytes = this.stats.bytesReceived;
        const check = () => {
          const nowMs = performance.now();
          const active = this.stats.bytesReceived !== seenBytes;
          const stalled = nowMs - armedMs > this.ackTimeoutMs * 1.5;
          seenBytes = this.stats.bytesReceived;
          if ((active || stalled) && nowMs - startedMs < this.ackTimeoutMs * ACK_WAIT_CAP_FACTOR) {
            armedMs = nowMs;
            timer = setTimeout(check, this.ackTimeoutMs);
            return;
          }
          reject(new DeviceError('NO_ANSWER', `${cmd.kind} got no ${what} within ${this.ackTimeoutMs} ms`));
        };
        timer = setTimeout(check, this.ackTimeoutMs);
      });
    try {
      // The timeout covers the write too: a write stuck on a full PTY or a vanished port must not hang us,
      // and a disconnect (acked rejects) wins over a write that never completes.
      const written = this.write(this.encode(frame));
      written.catch(() => undefined);
      const [, ack] = await Promise.race([Promise.all([written, acked]), timeout('ACK')]);
      clearTimeout(timer);
      if (ack.status !== AckStatus.OK) throw this.refusal(cmd.kind, ack);
      if (!answered) return ack;
      return await Promise.race([answered, timeout(answer!)]);
    } finally {
      clearTimeout(timer);
      this.pending.delete(seq);
      this.answerAfterAck.delete(seq);
      if (answerWaiter) this.removeAnswerWaiter(answerWaiter);
      this.run?.setLinkNeeded(this.pending.size > 0);
    }
  }

  /** A value the protocol cannot carry (e.g. bias 45000 mV) is the caller's bad input, caught before the wire. */
  private encode(frame: HostFrame): Buffer {
    try {
      return encodeFrame(frame);
    } catch (e) {
      if (e instanceof FrameError) throw new InputError('BAD_ARGUMENT', `${frame.kind}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  private refusal(kind: string, ack: AckFrame): DeviceError {
    const status = ACK_STATUS_NAMES[ack.status] ?? `status ${ack.status}`;
    // PROTOCOL 4 ACK: for BAD_ARGUMENT, detail is the payload offset of the bad field.
    const where = ack.status === AckStatus.BAD_ARGUMENT ? ` (payload offset ${ack.detail})` : '';
    return new DeviceError('COMMAND_REFUSED', `${kind} refused by the device: ${status}${where}`, {
      detail: { command: kind, status, ackStatus: ack.status, ackDetail: ack.detail },
    });
  }

  private removeAnswerWaiter(w: AnswerWaiter<InfoFrame | StatusFrame>): void {
    for (const list of [this.infoWaiters, this.statusWaiters] as AnswerWaiter<InfoFrame | StatusFrame>[][]) {
      const i = list.indexOf(w);
      if (i >= 0) list.splice(i, 1);
    }
  }

  // ---- receive path ----

  private onBytes(chunk: Buffer): void {
    this.stats.bytesReceived += chunk.length;
    try {
      this.scanner.push(chunk);
    } catch (e) {
      // Only a throwing listener (e.g. a run's onCredit) gets here: the scanner never throws on input.
      // It must not become an uncaught exception in the port's 'data' event: the run reports it.
      this.run?.fail(e);
    }
    this.run?.flush();
  }

  private onInvalid(report: InvalidFrameReport): void {
    this.stats.invalidFrames++;
    const run = this.run?.active ? this.run : undefined;
    // The dropped frame still used a device seq: it was received, not lost on the link.
    if (report.seq !== undefined) {
      const lost = this.seqs.observe(report.seq);
      if (lost > 0) {
        this.stats.linkLostFrames += lost;
        run?.assembler.linkLoss(lost);
      }
    }
    run?.assembler.invalid(report);
  }

  private onFrame(frame: DeviceFrame | UnknownFrame): void {
    const lost = this.seqs.observe(frame.seq, frame);
    if (lost < 0) {
      this.stats.duplicateFrames++;
      return;
    }
    this.stats.framesReceived++;
    const run = this.run?.active ? this.run : undefined;
    if (lost > 0) {
      this.stats.linkLostFrames += lost;
      run?.assembler.linkLoss(lost);
    }
    switch (frame.kind) {
      case 'ACK':
        this.onAck(frame);
        break;
      case 'TRIALS':
        if (run) run.assembler.trials(frame);
        else this.stats.strayFrames++; // PROTOCOL 5 STOP: after STOP's ACK it belongs to no run
        break;
      case 'CREDIT':
        if (run) run.assembler.credit(frame);
        else this.stats.strayFrames++;
        break;
      case 'STATUS':
        this.onStatus(frame, run);
        break;
      case 'INFO': {
        const w = this.infoWaiters.shift();
        if (w) w.resolve(frame);
        break;
      }
      case 'COUNTS': {
        const w = this.countsWaiters.get(frame.id);
        if (w) w.resolve(frame);
        else this.stats.strayFrames++;
        break;
      }
      case 'UNKNOWN':
        // PROTOCOL 3: a well-formed frame of an undefined type is skipped and counted.
        this.stats.unknownFrames++;
        break;
      default:
        this.stats.strayFrames++;
    }
  }

  private onAck(ack: AckFrame): void {
    const p = this.pending.get(ack.ackSeq);
    if (!p) {
      // PROTOCOL 4 ACK: SETTINGS are answered only when rejected; that ends the run.
      if (ack.ackType === FrameType.SETTINGS && this.run?.active) {
        this.run.fail(this.refusal('SETTINGS', ack));
      } else {
        this.stats.strayFrames++;
      }
      return;
    }
    if (ack.ackType !== p.type) {
      p.reject(
        new DeviceError(
          'PROTOCOL_VIOLATION',
          `ACK for seq ${ack.ackSeq} names type 0x${ack.ackType.toString(16)}, not ${p.kind}`,
        ),
      );
      return;
    }
    if (ack.status === AckStatus.OK) {
      // PROTOCOL 4 ACK: data answers follow their ACK; register the waiter before the next frame is read.
      const answer = this.answerAfterAck.get(ack.ackSeq);
      if (answer?.kind === 'INFO') this.infoWaiters.push(answer.waiter as AnswerWaiter<InfoFrame>);
      if (answer?.kind === 'STATUS') this.statusWaiters.push(answer.waiter as AnswerWaiter<StatusFrame>);
      if (p.kind === 'STOP' && this.run?.active) this.run.end(); // PROTOCOL 5 STOP: the run ends at STOP's ACK
      // Set here, not when start() resumes: the limit's closing STATUS may be in this very chunk.
      if (p.kind === 'START' && this.run?.active) this.run.acknowledged = true;
    }
    p.resolve(ack);
  }

  private onStatus(status: StatusFrame, run: Run | undefined): void {
    this.lastStatus = status;
    const w = this.statusWaiters.shift();
    if (w) w.resolve(status);
    if (run) run.assembler.status(status);
    this.emit('status', status);
    // PROTOCOL 4 STATUS: any fault bit other than 3, 4, 5 puts the device in FAULT.
    if (status.faults & FATAL_FAULTS) {
      const fault = new DeviceFaultError(status.faults, status);
      if (run) run.fail(fault);
      for (const c of this.countsWaiters.values()) c.reject(fault);
      // The first fault stands until reset(); the chip repeats it in every STATUS.
      if (!this.fault) {
        this.fault = fault;
        this.emit('fault', fault);
      }
      return;
    }
    // PROTOCOL 5 START: with a limit the chip stops by itself: last TRIALS, then a STATUS in state IDLE.
    if (run?.acknowledged && status.state === DeviceState.IDLE) run.end();
  }

  // ---- link loss ----

  private onClose(err?: Error & { disconnected?: boolean }): void {
    const error =
      this.closing && !err
        ? new DeviceError('CLOSED', `device at ${this.path} was closed`)
        : new DeviceError('DISCONNECTED', `device at ${this.path} disconnected${err ? `: ${portMessage(err)}` : ''}`, {
            cause: err,
          });
    this.failAll(error);
  }

  private onPortError(err: Error): void {
    this.failAll(
      new DeviceError('PORT_ERROR', `serial port error on ${this.path}: ${portMessage(err)}`, { cause: err }),
    );
    if (this.port.isOpen) this.port.close(() => undefined);
  }

  private failAll(error: DeviceError): void {
    if (this.closedError) return;
    this.closedError = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    for (const w of this.infoWaiters.splice(0)) w.reject(error);
    for (const w of this.statusWaiters.splice(0)) w.reject(error);
    for (const w of this.countsWaiters.values()) w.reject(error);
    this.run?.fail(error);
    if (this.listenerCount('disconnect') > 0) this.emit('disconnect', error);
  }
}
