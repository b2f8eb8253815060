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
 * Guarantees (commands, seqs and retries: commands.ts):
 * - a device whose protocol major is not 1 is refused at open (PROTOCOL 4 INFO);
 * - unplug, port errors and close reject whatever waits with a DeviceError,
 *   and the run iterator throws it; nothing becomes an unhandled rejection;
 * - a fatal fault STATUS (PROTOCOL 4) fails the run and MEASURE_COUNTS;
 * - device seq jumps (PROTOCOL 3) are counted;
 * - a disconnect (hang-up, EIO/ENXIO/EBADF, the port closing, the device
 *   node vanishing) ends whatever waits at once with a DeviceError naming
 *   the port; a running chip that goes silent is caught by the watchdog;
 * - a chip that may be running (START sent, its run not ended by STOP's ACK
 *   or an IDLE STATUS) gets STOP before the port closes, and a chip found
 *   running at open (an earlier host's run) is stopped, with one notice.
 */
import { EventEmitter } from 'node:events';
import { SerialPortStream } from '@serialport/stream';
import type { BindingInterface } from '../serialport-types.ts';
import { SerialPort } from 'serialport';
import { encodeFrame } from '../protocol/encode.ts';
import {
  DeviceState,
  FATAL_FAULTS,
  FrameType,
  type AckFrame,
  type CountsFrame,
  type DeviceFrame,
  type InfoFrame,
  type StatusFrame,
  type UnknownFrame,
} from '../protocol/types.ts';
import { DeviceError } from '../errors.ts';
import { deadline } from './ack-wait.ts';
import { hostSettingsFifo } from './capabilities.ts';
import { CommandChannel, refusal } from './commands.ts';
import { DeviceFaultError } from './faults.ts';
import { onHangup, withHangupDetection } from './hangup.ts';
import { createLinkScanner, type InvalidFrameReport, type LinkScanner } from './link.ts';
import { openFailureMessage, portMessage } from './port-errors.ts';
import { watchPresence } from './presence.ts';
import type { DeviceOpenOptions, DeviceStats, MeasureCountsOptions, StartOptions } from './device-types.ts';
import { DeviceSeqTracker, Run, RunEventAssembler } from './run.ts';
import { DEFAULT_STATUS_INTERVAL_MS, RunWatchdog, watchdogIntervalMs } from './watchdog.ts';

export { DeviceFaultError, FAULT_NAMES, faultNames } from './faults.ts';
export type { DeviceOpenOptions, DeviceStats, MeasureCountsOptions, StartOptions } from './device-types.ts';

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

  private countsId = 1;
  private readonly countsWaiters = new Map<
    number,
    { resolve: (f: CountsFrame) => void; reject: (e: unknown) => void }
  >();
  private readonly channel: CommandChannel;
  private readonly seqs = new DeviceSeqTracker();
  private readonly scanner: LinkScanner;
  private run: Run | undefined;
  private closedError: DeviceError | undefined;
  private closing = false;
  private readonly ackTimeoutMs: number;
  /** START was sent and its run not ended by STOP's ACK or an IDLE STATUS: the chip may be running. */
  private chipMayRun = false;
  /** TRIALS or a RUNNING STATUS came with no run of ours: an earlier host left the chip running. */
  private sawForeignRun = false;
  /** The last command got no answer and no frame came since: do not wait for STOP's ACK at close. */
  private linkSilent = false;
  private statusIntervalMs = DEFAULT_STATUS_INTERVAL_MS;
  private watchdog: RunWatchdog | undefined;
  private readonly stopPresence: () => void;

  private constructor(
    private readonly port: SerialPortStream,
    readonly path: string,
    private readonly opts: DeviceOpenOptions,
  ) {
    super();
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 500;
    this.channel = new CommandChannel(
      {
        write: (bytes) => this.write(bytes),
        failIfClosed: () => this.failIfClosed(),
        linkFrames: () => this.stats.framesReceived + this.stats.duplicateFrames + this.stats.invalidFrames,
        setLinkNeeded: (needed) => this.run?.setLinkNeeded(needed),
        onNoAnswer: () => (this.linkSilent = true),
        onRetry: () => this.stats.commandRetries++,
      },
      this.ackTimeoutMs,
      opts.retries ?? 2,
    );
    this.scanner = createLinkScanner(
      (f) => this.onFrame(f),
      (r) => this.onInvalid(r),
      (source, at, n, flags, seq, first) => this.onTrials(source, at, n, flags, seq, first),
    );
    port.on('data', (chunk: Buffer) => this.onBytes(chunk));
    port.on('close', (err?: Error & { disconnected?: boolean }) => this.onClose(err));
    port.on('error', (err: Error) => this.onPortError(err));
    // A binding whose read returns 0 bytes ends the stream ('end'): the other end hung up.
    port.on('end', () => this.onGone('end of file (the other end hung up)'));
    this.stopPresence =
      opts.presenceCheckMs === 0
        ? () => undefined
        : watchPresence(path, () => this.onGone('the device node vanished'), {
            ...(opts.presenceCheckMs !== undefined ? { intervalMs: opts.presenceCheckMs } : {}),
          });
    // A hang-up seen by the port's poller, also while back-pressure pauses the reads (hangup.ts).
    onHangup(port.port, (why) => this.onGone(why));
  }

  /** Opens the port, reads INFO (GET_INFO) and refuses a protocol major other than 1 (PROTOCOL 4 INFO). */
  static async open(opts: DeviceOpenOptions): Promise<Device> {
    // The native binding loops for ever on a TTY that hung up (hangup.ts): wrap it so that unplug is seen,
    // whoever passes it (the CLI passes SerialPort.binding itself). Other bindings pass through untouched.
    const binding = withHangupDetection(opts.binding ?? (SerialPort.binding as unknown as BindingInterface));
    const port = new SerialPortStream({ binding, path: opts.path, baudRate: opts.baudRate ?? 921600, autoOpen: false });
    await new Promise<void>((resolve, reject) => {
      port.open((err) =>
        err ? reject(new DeviceError('OPEN_FAILED', openFailureMessage(opts.path, err), { cause: err })) : resolve(),
      );
    });
    const device = new Device(port, opts.path, opts);
    const startedMs = performance.now();
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
      // An earlier host's run still going (a lost START ACK, a killed host): stop it rather than fail on BAD_STATE.
      if (device.sawForeignRun) await device.recoverRunningChip('was running when opened');
      return device;
    } catch (e) {
      await device.close().catch(() => undefined);
      if (e instanceof DeviceError && e.code === 'NO_ANSWER') {
        const waitedMs = Math.round(performance.now() - startedMs);
        throw new DeviceError(
          'NO_ANSWER',
          `no answer from ${opts.path}: GET_INFO not acknowledged (${device.channel.retries + 1} tries over ${waitedMs} ms); is it an EPQ-1?`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  /**
   * PROTOCOL 5: START is allowed in IDLE only, so a chip an earlier host left RUNNING refuses every START with
   * BAD_STATE. STOP it (a no-op in IDLE), say so in one line, and go on.
   */
  private async recoverRunningChip(why: string): Promise<void> {
    this.chipMayRun = true;
    await this.channel.command({ kind: 'STOP' });
    this.chipMayRun = false;
    this.sawForeignRun = false;
    this.opts.onNotice?.(
      `EPQ-1 ${this.info.serial} at ${this.path} ${why} (a run an earlier host left going); sent STOP`,
    );
  }

  get isOpen(): boolean {
    return !this.closedError && this.port.isOpen;
  }

  // ---- commands (PROTOCOL 5) ----

  async getInfo(): Promise<InfoFrame> {
    return (await this.channel.command({ kind: 'GET_INFO' }, 'INFO')) as InfoFrame;
  }

  async getStatus(): Promise<StatusFrame> {
    return (await this.channel.command({ kind: 'GET_STATUS' }, 'STATUS')) as StatusFrame;
  }

  /** A(x=0) A(x=1) B(y=0) B(y=1), centidegrees 0..17999. */
  async setAngles(anglesCentideg: [number, number, number, number]): Promise<void> {
    await this.channel.command({ kind: 'SET_ANGLES', angles: anglesCentideg });
  }
  async setWindow(windowPs: number): Promise<void> {
    await this.channel.command({ kind: 'SET_WINDOW', window: windowPs });
  }
  /** detector 0..3 = A0 A1 B0 B1. */
  async setBias(detector: number, biasMillivolts: number): Promise<void> {
    await this.channel.command({ kind: 'SET_BIAS', detector, bias: biasMillivolts });
  }
  async setPump(pumpMicrowatts: number): Promise<void> {
    await this.channel.command({ kind: 'SET_PUMP', pump: pumpMicrowatts });
  }
  async setDelay(delayPs: number): Promise<void> {
    await this.channel.command({ kind: 'SET_DELAY', delay: delayPs });
  }
  /** 0 (off) or 100..60000 ms. */
  async setStatusInterval(intervalMs: number): Promise<void> {
    await this.channel.command({ kind: 'SET_STATUS_INTERVAL', interval: intervalMs });
    this.statusIntervalMs = intervalMs;
  }
  /** PROTOCOL 5 RESET: stop, clear faults, reload saved calibration. Not retried. */
  async reset(): Promise<void> {
    await this.channel.command({ kind: 'RESET' });
    this.fault = undefined;
    this.chipMayRun = false;
  }
  /** PROTOCOL 5 SAVE_CALIBRATION (IDLE only). Not retried. */
  async saveCalibration(): Promise<void> {
    await this.channel.command({ kind: 'SAVE_CALIBRATION' });
  }

  /**
   * PROTOCOL 5 MEASURE_COUNTS: waits for the ACK, then the COUNTS with this
   * id (sent once the integration time has passed). Not retried: the chip is
   * MEASURING after the first one.
   */
  async measureCounts(opts: MeasureCountsOptions): Promise<CountsFrame> {
    const { id, integrationMs } = opts;
    const countsId = id ?? this.countsId;
    this.countsId = (Math.max(this.countsId, countsId) + 1) >>> 0;
    if (this.countsWaiters.has(countsId))
      throw new DeviceError('BUSY', `MEASURE_COUNTS id ${countsId} is already waiting`);
    const waitMs = integrationMs + Math.max(2000, integrationMs * 0.25) + this.ackTimeoutMs;
    const counts = new Promise<CountsFrame>((resolve, reject) => {
      this.countsWaiters.set(countsId, { resolve, reject });
    });
    counts.catch(() => undefined); // observed below; never left unhandled if the command fails first
    const limit = deadline(
      waitMs,
      () => new DeviceError('NO_ANSWER', `no COUNTS for MEASURE_COUNTS id ${countsId} within ${waitMs} ms`),
    );
    try {
      const { id: _, angleACentideg: angleA, angleBCentideg: angleB, integrationMs: integration } = opts;
      await this.channel.command({ kind: 'MEASURE_COUNTS', id: countsId, angleA, angleB, integration });
      return await Promise.race([counts, limit.expired]);
    } finally {
      limit.cancel();
      this.countsWaiters.delete(countsId);
    }
  }

  /** The chip's host-settings FIFO, checked usable (capabilities.ts: a DeviceError before any START otherwise). */
  hostSettingsFifo(): number {
    return hostSettingsFifo(this.info);
  }

  /**
   * PROTOCOL 5 START: returns the Run once START is acknowledged. Frames from
   * the chip reach the run from the moment START is sent. Not retried.
   */
  async start(opts: StartOptions = {}): Promise<Run> {
    try {
      return await this.startOnce(opts);
    } catch (e) {
      // PROTOCOL 5: START is allowed in IDLE only; BAD_STATE from a chip still RUNNING an earlier host's run.
      if (!(e instanceof DeviceError && e.code === 'COMMAND_REFUSED' && e.detail?.status === 'BAD_STATE')) throw e;
      if ((await this.getStatus()).state !== DeviceState.RUNNING) throw e;
      await this.recoverRunningChip('refused START: it was running');
      return this.startOnce(opts);
    }
  }

  private async startOnce({ source = 'internal', rateTrialsPerS = 0, limitTrials = 0 }: StartOptions): Promise<Run> {
    if (this.run?.active) throw new DeviceError('BUSY', 'a run is already active on this device; stop it first');
    this.failIfClosed();
    if (source === 'host') this.hostSettingsFifo();
    const run = new Run(
      {
        stop: () => this.stop(),
        sendSettings: (s) => this.sendSettings(s),
        pause: () => {
          this.port.pause();
          this.watchdog?.suspend(true);
        },
        resume: () => {
          this.port.resume();
          this.watchdog?.suspend(false);
        },
      },
      new RunEventAssembler(),
      this.opts.run,
    );
    this.run = run;
    this.watchRun(run);
    this.chipMayRun = true;
    try {
      await this.channel.command({
        kind: 'START',
        source: source === 'host' ? 1 : 0,
        rate: rateTrialsPerS,
        limit: limitTrials,
      });
    } catch (e) {
      if (this.run === run) this.run = undefined;
      run.fail(e);
      const refused = e instanceof DeviceError && e.code === 'COMMAND_REFUSED';
      // A START that got no ACK may well have started the chip: STOP it (PROTOCOL 5: a no-op in IDLE).
      if (!refused) await this.stopQuietly();
      else if (e.detail?.status !== 'BAD_STATE') this.chipMayRun = false;
      throw e;
    }
    run.acknowledged = true;
    return run;
  }

  /** Starts the watchdog of a run (watchdog.ts); a chip that misses it fails the run and gets STOP. */
  private watchRun(run: Run): void {
    const intervalMs = this.opts.watchdogMs ?? watchdogIntervalMs(this.statusIntervalMs);
    this.watchdog?.stop();
    this.watchdog = undefined;
    if (!(intervalMs > 0)) return;
    const dog = new RunWatchdog({
      intervalMs,
      where: `EPQ-1 ${this.info?.serial ?? ''} at ${this.path}`.replace('  ', ' '),
      ...(this.opts.watchdogClock ? { clock: this.opts.watchdogClock } : {}),
      onExpire: (error) => {
        run.fail(error);
        void this.stopQuietly();
      },
    });
    this.watchdog = dog;
    run.onFinish = () => {
      dog.stop();
      if (this.watchdog === dog) this.watchdog = undefined;
    };
  }

  /**
   * PROTOCOL 5 STOP: the chip flushes its TRIALS, then ACKs; the active run
   * ends at that ACK. In IDLE a no-op on the chip. Retried once at most: a
   * chip that is gone must not hold a Ctrl-C for long.
   */
  async stop(): Promise<void> {
    this.run?.releaseBackpressure();
    await this.channel.command({ kind: 'STOP' }, undefined, Math.min(this.channel.retries, 1) + 1);
  }

  /** STOP, any failure ignored (the chip may be gone). */
  private async stopQuietly(): Promise<void> {
    if (this.closing || this.closedError) return;
    await this.stop().catch(() => undefined);
  }

  /**
   * PROTOCOL 5 SETTINGS: per-trial settings, (x << 1) | y each, in frames of
   * at most 192. The chip answers only a rejected one (then the run fails).
   */
  async sendSettings(settings: Uint8Array): Promise<void> {
    this.failIfClosed();
    if (settings.length > 0) await this.write(this.channel.encodeSettings(settings));
  }

  /** Closes the port (sending STOP first when a run is active). A run or command still waiting gets a DeviceError. */
  async close(): Promise<void> {
    if (this.closing || this.closedError) return;
    this.closing = true;
    const stopFirst = this.chipMayRun || this.run?.active === true;
    this.failAll(new DeviceError('CLOSED', `device at ${this.path} was closed`));
    if (!this.port.isOpen) return;
    if (stopFirst) await this.stopBeforeClose();
    await new Promise<void>((resolve) => this.port.close(() => resolve()));
  }

  /**
   * Do not leave the chip running (and flooding the link) behind us: STOP, its ACK awaited for one ACK
   * timeout at most (not at all when the link has gone silent: then only the write).
   */
  private async stopBeforeClose(): Promise<void> {
    const seq = this.channel.nextSeq();
    let timer: NodeJS.Timeout | undefined;
    const acked = this.channel.expectAck(seq, 'STOP').catch(() => undefined);
    const written = this.write(encodeFrame({ kind: 'STOP', seq, flags: 0 })).catch(() => undefined);
    const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.ackTimeoutMs)));
    await Promise.race([this.linkSilent ? written : Promise.all([written, acked]), limit]);
    clearTimeout(timer);
    this.channel.forget(seq);
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

  // ---- receive path ----

  private onBytes(chunk: Buffer): void {
    this.stats.bytesReceived += chunk.length;
    const framesBefore = this.stats.framesReceived;
    const dog = this.watchdog;
    dog?.beginChunk();
    this.run?.assembler.expectBytes(chunk.length);
    try {
      this.scanner.push(chunk);
      if (this.stats.framesReceived === framesBefore) this.watchdog?.garbage(chunk.length);
    } catch (e) {
      // Only a throwing listener (e.g. a run's onCredit) gets here: the scanner never throws on input.
      // It must not become an uncaught exception in the port's 'data' event: the run reports it.
      this.run?.fail(e);
    } finally {
      dog?.endChunk();
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

  /**
   * A frame past the seq check (`lost` from DeviceSeqTracker): null for a duplicate (dropped), else the active run
   * or undefined. Counts it, feeds the watchdog, reports frames lost on the link before it.
   */
  private accepted(lost: number, kind: 'TRIALS' | 'STATUS' | 'OTHER'): Run | undefined | null {
    if (lost < 0) {
      this.stats.duplicateFrames++;
      return null;
    }
    this.stats.framesReceived++;
    this.linkSilent = false;
    const run = this.run?.active ? this.run : undefined;
    if (run && kind !== 'STATUS') this.watchdog?.frame(kind);
    // TRIALS with no run of ours: an earlier host's run still going (PROTOCOL 5 STOP: nothing follows STOP's ACK).
    if (!run && kind === 'TRIALS') this.sawForeignRun = true;
    if (lost > 0) {
      this.stats.linkLostFrames += lost;
      run?.assembler.linkLoss(lost);
    }
    return run;
  }

  /** A valid TRIALS frame, read in place by the scanner (no decoded object): to the active run. */
  private onTrials(source: Uint8Array, at: number, n: number, flags: number, seq: number, first: number): void {
    const run = this.accepted(this.seqs.observeTrials(seq, source, at, n, flags, first), 'TRIALS');
    if (run) this.seqs.keptIn(run.assembler.trialsIn(source, at, n, flags, seq, first));
    if (run !== undefined) return; // taken by the run, or a duplicate
    this.stats.strayFrames++; // PROTOCOL 5 STOP: after STOP's ACK it belongs to no run
    this.seqs.keepCopy();
  }

  private onFrame(frame: DeviceFrame | UnknownFrame): void {
    if (frame.kind === 'TRIALS') {
      this.onTrials(frame.records, 0, frame.n, frame.flags, frame.seq, frame.first);
      return;
    }
    const run = this.accepted(this.seqs.observe(frame.seq, frame), frame.kind === 'STATUS' ? 'STATUS' : 'OTHER');
    if (run === null) return;
    switch (frame.kind) {
      case 'ACK':
        this.onAck(frame);
        break;
      case 'CREDIT':
        if (run) run.assembler.credit(frame);
        else this.stats.strayFrames++;
        break;
      case 'STATUS':
        this.onStatus(frame, run);
        break;
      case 'INFO':
        this.channel.info(frame);
        break;
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
    const outcome = this.channel.ack(ack);
    if (!outcome.matched) {
      // PROTOCOL 4 ACK: SETTINGS are answered only when rejected; that ends the run.
      if (ack.ackType === FrameType.SETTINGS && this.run?.active) this.run.fail(refusal('SETTINGS', ack));
      else this.stats.strayFrames++;
      return;
    }
    if (!outcome.ok) return;
    if (outcome.kind === 'STOP') {
      this.chipMayRun = false;
      if (this.run?.active) this.run.end(); // PROTOCOL 5 STOP: the run ends at STOP's ACK
    }
    // Set here, not when start() resumes: the limit's closing STATUS may be in this very chunk.
    if (outcome.kind === 'START' && this.run?.active) this.run.acknowledged = true;
  }

  private onStatus(status: StatusFrame, run: Run | undefined): void {
    this.lastStatus = status;
    if (run) this.watchdog?.frame('STATUS', status.trials);
    if (!run && status.state === DeviceState.RUNNING) this.sawForeignRun = true;
    // Any other state: not running (a STATUS of the run's own START, before its ACK, is no proof of that).
    if (status.state !== DeviceState.RUNNING && (!run || run.acknowledged)) this.chipMayRun = false;
    this.channel.status(status);
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

  /** The device is gone though no read failed: end of file, or its node vanished (presence.ts). */
  private onGone(why: string): void {
    this.failAll(new DeviceError('DISCONNECTED', `device at ${this.path} disconnected: ${why}`));
    if (this.port.isOpen) this.port.close(() => undefined);
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
    this.stopPresence();
    this.watchdog?.stop();
    this.channel.failAll(error);
    for (const w of this.countsWaiters.values()) w.reject(error);
    this.run?.fail(error);
    if (this.listenerCount('disconnect') > 0) this.emit('disconnect', error);
  }
}
