/**
 * A serialport binding that plays a recording as the chip.
 *
 * The recording is a sequence of D (device -> host) and H (host -> device)
 * records. The replayed port delivers the D bytes in order, up to the next H
 * record; there it waits for the host to write, compares what it writes with
 * the recorded H bytes, and on a match goes on with the D bytes that
 * followed. So the host code that made the recording (Device, calibrate,
 * stream) runs against it unchanged, as fast as it can read.
 *
 * A divergent write (the host sends something the recording did not) fails
 * with a DeviceError naming both sides, decoded, e.g.
 *   replay diverged at record 12: expected SET_DELAY seq 7 (delay 1830), got SET_DELAY seq 7 (delay 1800)
 * and every later read and write fails with the same error, so the host
 * stops; `divergence` keeps it for the caller.
 *
 * The file is streamed (openRecording): at most `readAheadBytes` of D bytes
 * wait in memory for the host, or `hostSkipBytes` when the host writes
 * earlier than it did live (the write then waits for the host to read the
 * device bytes the recording has before it).
 * After the last record the port is silent, like a chip with nothing to say.
 * flush() discards nothing: the recording holds only bytes the host read.
 * Each read returns bytes of one recorded read at most, so the host sees
 * the chunk boundaries the live host saw (a large recorded chunk may take
 * several smaller reads).
 */
import type * as sp from '../serialport-types.ts';
import { DeviceError, InputError } from '../errors.ts';
import { openRecording, type Recording, type RecordEntry } from './reader.ts';
import { Direction, type EndRecord } from './format.ts';
import { describeHostMismatch } from './describe.ts';
import { decodeFrame } from '../protocol/decode.ts';
import { FRAME_SIZE } from '../protocol/types.ts';
import { epq1PortInfo, withOpenDefaults } from '../protocol/transport.ts';
import { RunSegments, type ReconnectEvent } from './run-events.ts';
import { RecordCopies } from './replay-copies.ts';

export interface ReplayBindingOptions {
  /** Called with the one-line warning when the recording was cut. */
  onWarning?: (message: string) => void;
  /** D bytes queued ahead of the host's reads. */
  readAheadBytes?: number;
  /** D bytes held in memory while a host write waits for its place in the recording (default 16 MiB). */
  hostSkipBytes?: number;
  /** Read size from the file. */
  chunkBytes?: number;
  /** See ReplayPort.onHostTurn. */
  onHostTurn?: (kind: string, recordIndex: number) => void;
  /**
   * What a read finds after the last record: 'silent' (default) waits like
   * a chip with nothing to say; 'disconnect' fails the read as an unplugged
   * port would (error code REPLAY_END), so a host that would wait for more
   * (a stream cut by a crash) ends instead.
   */
  atEnd?: 'silent' | 'disconnect';
  /**
   * Longest the port waits for a host write it has announced (onHostTurn)
   * before it fails with REPLAY_STALLED: the live host wrote there for a
   * reason the replay does not reproduce, and a replay must end, not wait
   * forever. Default: no bound (a calibration replayed step by step).
   */
  hostTurnTimeoutMs?: number;
  /**
   * 'one' (default): every open() plays the recording from its start, up
   * to its first run event. 'many': a session of several runs
   * (run-events.ts): the first open() plays the first run, each later one
   * the run after the `reconnect` that nextRun() read.
   */
  runs?: 'one' | 'many';
}

/** The read error of a port played to its end with atEnd 'disconnect'. */
export class EndOfRecordingError extends Error {
  readonly code = 'REPLAY_END';
  constructor() {
    super('end of the recording');
    this.name = 'EndOfRecordingError';
  }
}

export interface ReplaySession {
  binding: sp.BindingInterface<ReplayPort>;
  /** The path to open (any string works; this one names the recording). */
  path: string;
  /** The open port, once the host opened it. */
  readonly port: ReplayPort | null;
  /** The divergence error, if the host strayed from the recording. */
  readonly divergence: DeviceError | null;
  /** Runs 'many': after a run played to its disconnect, the reconnect before the next run (null: none). */
  nextRun(): Promise<ReconnectEvent | null>;
  /** Closes the recording (runs 'many'; with 'one', each port closes its own). */
  close(): Promise<void>;
}

class CanceledError extends Error {
  readonly canceled = true;
  constructor(message: string) {
    super(message);
  }
}

interface PendingRead {
  buffer: Buffer;
  offset: number;
  length: number;
  resolve: (r: { buffer: Buffer; bytesRead: number }) => void;
  reject: (e: unknown) => void;
}

export class ReplayPort implements sp.BindingPortInterface {
  readonly openOptions: Required<sp.OpenOptions>;
  isOpen = true;
  /** The first divergence (or null). */
  divergence: DeviceError | null = null;
  /** Progress, for tests and for the caller's end-of-recording checks. */
  readonly progress = { deviceBytesDelivered: 0, hostBytesMatched: 0, recordsConsumed: 0 };

  private readonly batches: AsyncGenerator<RecordEntry[], void, void>;
  private batch: RecordEntry[] = [];
  private bi = 0;
  /** Copies of the D records queued for the host's reads (replay-copies.ts); the head one read up to outAt. */
  private readonly out: Buffer[] = [];
  private outHead = 0;
  private outAt = 0;
  private outBytes = 0;
  private readonly copies: RecordCopies;
  /** The H record the host must write next, and how much of it it has written. */
  private expect: { entry: RecordEntry; matched: number } | null = null;
  private ended = false;
  private pendingRead: PendingRead | null = null;
  private chain: Promise<void> = Promise.resolve();
  private readonly readAheadBytes: number;
  private endWaiters: Array<() => void> = [];
  private drainWaiters: Array<() => void> = [];
  private readonly hostSkipBytes: number;

  constructor(
    private readonly recording: Recording,
    openOptions: sp.OpenOptions,
    readAheadBytes: number,
    hostSkipBytes = 16 << 20,
  ) {
    this.openOptions = withOpenDefaults(openOptions);
    this.batches = recording.batches();
    this.readAheadBytes = readAheadBytes;
    this.hostSkipBytes = Math.max(hostSkipBytes, readAheadBytes);
    this.copies = new RecordCopies(2 * readAheadBytes);
  }

  /** Device bytes queued for the host's reads (memory held). */
  get queuedBytes(): number {
    return this.outBytes;
  }

  /** The recording's end record, once the port has read that far (null before, or when it has none). */
  get end(): EndRecord | null {
    return this.recording.end;
  }

  /** True once the file has been read to its end (every record queued or expected). */
  get fileEnded(): boolean {
    return this.ended;
  }

  /** True once every record was consumed (delivered or matched). */
  get atEnd(): boolean {
    return this.ended && this.expect === null && this.outBytes === 0;
  }

  /** Resolves when the recording has been played to its end (all D bytes read, all H bytes matched). */
  whenPlayed(): Promise<void> {
    if (this.atEnd) return Promise.resolve();
    return new Promise((resolve) => this.endWaiters.push(resolve));
  }

  /**
   * Called when the port has delivered every device byte recorded before
   * the next host write and waits for it: with the kind of the frame the
   * recording expects (e.g. 'STOP'), so a replaying host whose live run
   * stopped on a clock can stop at the same byte.
   */
  onHostTurn: ((kind: string, recordIndex: number) => void) | undefined;
  private announced = -1;
  /** Fail reads after the last record (see ReplayBindingOptions.atEnd). */
  disconnectAtEnd = false;
  /** See ReplayBindingOptions.hostTurnTimeoutMs. */
  hostTurnTimeoutMs: number | undefined;
  private hostTurnTimer: NodeJS.Timeout | undefined;

  /** Bounds the wait for the announced host write (the timer keeps the process alive until it settles). */
  private armHostTurnTimer(kind: string, recordIndex: number): void {
    if (this.hostTurnTimeoutMs === undefined) return;
    clearTimeout(this.hostTurnTimer);
    const ms = this.hostTurnTimeoutMs;
    this.hostTurnTimer = setTimeout(() => {
      if (!this.isOpen || this.expect?.entry.index !== recordIndex || this.expect.matched > 0) return;
      this.failWith(
        new DeviceError(
          'REPLAY_STALLED',
          `replay stalled at record ${recordIndex}: the recording has the host send ${kind} next, and the replayed host sent nothing for ${ms} ms`,
        ),
      );
    }, ms);
  }

  private checkEnd(): void {
    const expect = this.expect;
    if (expect && this.outBytes === 0 && this.announced !== expect.entry.index && this.onHostTurn) {
      this.announced = expect.entry.index;
      const kind = expectedKind(expect);
      this.onHostTurn(kind, expect.entry.index);
      this.armHostTurnTimer(kind, expect.entry.index);
    }
    if (this.atEnd && this.disconnectAtEnd && this.pendingRead) {
      const r = this.pendingRead;
      this.pendingRead = null;
      r.reject(new EndOfRecordingError());
    }
    if (this.atEnd && this.endWaiters.length > 0) {
      const w = this.endWaiters;
      this.endWaiters = [];
      for (const f of w) f();
    }
  }

  /**
   * The kind of frame the recording has the host write next (e.g. 'START'),
   * once the port has read that far; null when no host write is left.
   */
  async nextHostWrite(): Promise<string | null> {
    while (this.expect === null && !this.ended && this.isOpen && !this.divergence) {
      await this.pump(true);
      if (this.expect === null && !this.ended) await this.drained();
    }
    return this.expect ? expectedKind(this.expect) : null;
  }

  /** The next record, or null at the end of the recording. */
  private async nextRecord(): Promise<RecordEntry | null> {
    while (this.bi >= this.batch.length) {
      if (this.ended) return null;
      const r = await this.batches.next();
      if (r.done) {
        this.ended = true;
        return null;
      }
      this.batch = r.value;
      this.bi = 0;
    }
    this.progress.recordsConsumed++;
    return this.batch[this.bi++]!;
  }

  /**
   * Moves D records to the output queue until the next H record (which
   * becomes `expect`), the end, or (when `untilHost` is false) the read-ahead
   * limit. Pumps run one after another, never interleaved.
   */
  private pump(untilHost: boolean): Promise<void> {
    const next = this.chain.then(() => this.pumpOnce(untilHost)).catch((e: unknown) => this.failWith(e));
    this.chain = next;
    return next;
  }

  private async pumpOnce(untilHost: boolean): Promise<void> {
    while (this.isOpen && !this.divergence && this.expect === null && !this.ended) {
      if (this.outBytes >= (untilHost ? this.hostSkipBytes : this.readAheadBytes)) break;
      const rec = await this.nextRecord();
      if (rec === null) break;
      // Copies: the file's read buffer is reused once this batch of records is through.
      if (rec.direction === Direction.HOST_TO_DEVICE) {
        this.expect = { entry: { ...rec, bytes: Buffer.from(rec.bytes) }, matched: 0 };
        break;
      }
      this.out.push(this.copies.copy(rec.bytes));
      this.outBytes += rec.bytes.length;
      this.serveRead();
    }
    this.checkEnd();
  }

  private failWith(e: unknown): void {
    // A read of the file cut short by close() is no divergence: nobody is listening any more.
    if (!this.isOpen && !(e instanceof DeviceError)) return;
    const err =
      e instanceof DeviceError
        ? e
        : new DeviceError(
            'REPLAY_READ',
            `replay: cannot read the recording: ${e instanceof Error ? e.message : String(e)}`,
            { cause: e },
          );
    if (!this.divergence) this.divergence = err;
    if (this.pendingRead) {
      const r = this.pendingRead;
      this.pendingRead = null;
      r.reject(err);
    }
  }

  /** Fills the pending read from the output queue, if both exist. */
  private serveRead(): void {
    const r = this.pendingRead;
    if (!r || this.outBytes === 0) return;
    this.pendingRead = null;
    r.resolve({ buffer: r.buffer, bytesRead: this.take(r.buffer, r.offset, r.length) });
    this.checkEnd();
  }

  /** Resolves when the host has read the output queue down to half of hostSkipBytes (or the port closed). */
  private drained(): Promise<void> {
    if (this.outBytes < this.hostSkipBytes / 2 || !this.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private releaseDrainWaiters(): void {
    if (this.drainWaiters.length === 0 || (this.outBytes >= this.hostSkipBytes / 2 && this.isOpen)) return;
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }

  private take(buffer: Buffer, offset: number, length: number): number {
    // One recorded read per read at most: the host sees the chunks the live host saw.
    let n = 0;
    if (this.outHead < this.out.length) {
      const head = this.out[this.outHead]!;
      n = Math.min(head.length - this.outAt, length);
      head.copy(buffer, offset, this.outAt, this.outAt + n);
      this.outAt += n;
      if (this.outAt === head.length) {
        this.out[this.outHead++] = undefined as unknown as Buffer;
        this.outAt = 0;
        this.copies.release(head);
      }
    }
    if (this.outHead > 256 && this.outHead * 2 > this.out.length) {
      this.out.splice(0, this.outHead);
      this.outHead = 0;
    }
    this.outBytes -= n;
    this.progress.deviceBytesDelivered += n;
    this.releaseDrainWaiters();
    return n;
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (!this.isOpen) return Promise.reject(new CanceledError('port is closed'));
    if (this.divergence) return Promise.reject(this.divergence);
    if (this.pendingRead) return Promise.reject(new Error('a read is already pending'));
    if (length <= 0) return Promise.resolve({ buffer, bytesRead: 0 });
    if (this.outBytes > 0) {
      const n = this.take(buffer, offset, length);
      if (this.outBytes < this.readAheadBytes / 2) void this.pump(false);
      this.checkEnd();
      return Promise.resolve({ buffer, bytesRead: n });
    }
    if (this.atEnd && this.disconnectAtEnd) return Promise.reject(new EndOfRecordingError());
    return new Promise((resolve, reject) => {
      this.pendingRead = { buffer, offset, length, resolve, reject };
      void this.pump(false);
    });
  }

  async write(buffer: Buffer): Promise<void> {
    clearTimeout(this.hostTurnTimer);
    if (!this.isOpen) throw new CanceledError('port is closed');
    if (this.divergence) throw this.divergence;
    let at = 0;
    while (at < buffer.length) {
      while (this.expect === null) {
        await this.pump(true);
        if (this.divergence) throw this.divergence;
        if (this.expect !== null || this.ended || !this.isOpen) break;
        // The host writes before reading everything the recording has ahead of this write (e.g. STOP
        // earlier than live): hold at most hostSkipBytes of it in memory, the rest after the host read it.
        await this.drained();
      }
      if (!this.isOpen) throw new CanceledError('port is closed');
      const expect = this.expect as { entry: RecordEntry; matched: number } | null;
      if (expect === null) {
        this.diverge(null, 0, buffer, at);
        throw this.divergence;
      }
      const want = expect.entry.bytes;
      const k = Math.min(want.length - expect.matched, buffer.length - at);
      for (let i = 0; i < k; i++) {
        if (want[expect.matched + i] !== buffer[at + i]) {
          this.diverge(expect.entry, expect.matched + i, buffer, at + i);
          throw this.divergence;
        }
      }
      expect.matched += k;
      at += k;
      this.progress.hostBytesMatched += k;
      if (expect.matched === want.length) this.expect = null;
    }
    // What the chip said after this command is now due.
    void this.pump(false);
  }

  private diverge(entry: RecordEntry | null, expectedAt: number, written: Buffer, writtenAt: number): void {
    const detail = describeHostMismatch(entry?.bytes ?? null, expectedAt, written, writtenAt);
    const where = entry
      ? `record ${entry.index}`
      : `the end of the recording (after ${this.recording.records} records)`;
    const err = new DeviceError(
      'REPLAY_DIVERGED',
      `replay diverged at ${where}: expected ${detail.expected}, got ${detail.got}`,
      {
        detail: { record: entry?.index ?? null, expected: detail.expected, got: detail.got },
      },
    );
    this.failWith(err);
  }

  async close(): Promise<void> {
    clearTimeout(this.hostTurnTimer);
    if (!this.isOpen) return;
    this.isOpen = false;
    this.releaseDrainWaiters();
    if (this.pendingRead) {
      const r = this.pendingRead;
      this.pendingRead = null;
      r.reject(new CanceledError('port is closed'));
    }
    try {
      await this.batches.return();
    } catch {
      // Closing the file: nothing left to report to.
    }
    await this.recording.close();
  }

  async update(_options: sp.UpdateOptions): Promise<void> {}
  async set(_options: sp.SetOptions): Promise<void> {}
  async get(): Promise<sp.PortStatus> {
    return { cts: true, dsr: true, dcd: true };
  }
  async getBaudRate(): Promise<{ baudRate: number }> {
    return { baudRate: this.openOptions.baudRate };
  }
  async flush(): Promise<void> {}
  async drain(): Promise<void> {}
}

/** The kind of the frame at the unmatched part of an expected host write ('bytes' when less than a frame). */
function expectedKind(expect: { entry: RecordEntry; matched: number }): string {
  const at = expect.matched - (expect.matched % FRAME_SIZE);
  if (at + FRAME_SIZE > expect.entry.bytes.length) return 'bytes';
  try {
    return decodeFrame(expect.entry.bytes.subarray(at, at + FRAME_SIZE)).kind;
  } catch {
    return 'invalid';
  }
}

/** The next run's records as a Recording (run-events.ts): the whole file's first run, or the next of `shared`. */
async function runToPlay(
  recordingPath: string,
  o: { onWarning?: ((m: string) => void) | undefined; chunkBytes: number },
  shared: { segments: RunSegments | null } | null,
): Promise<Recording> {
  if (shared?.segments) return shared.segments.run();
  // One run: every record of a batch is through (copied, replay-copies.ts) before the next read, so the file's read
  // buffer is reused. Several runs carry records across a reconnect: a buffer per read.
  const recording = await openRecording(recordingPath, { ...o, reuseChunks: shared === null });
  if (recording.kind === 'raw') {
    await recording.close();
    throw new InputError(
      'REPLAY_RAW',
      `${recordingPath} is a raw capture (no host side): it can be certified with epqrng replay, not played as a device`,
    );
  }
  const segments = new RunSegments(recording);
  if (shared) shared.segments = segments;
  return segments.run(shared === null);
}

/**
 * A binding that plays `recordingPath` as the chip: each open() from its
 * start (runs 'one'), or run after run (runs 'many'). Raw captures have no
 * host side and cannot be played as a device.
 */
export function createReplayBinding(
  recordingPath: string,
  {
    onWarning,
    readAheadBytes = 1 << 20,
    chunkBytes = 1 << 18,
    onHostTurn,
    atEnd = 'silent',
    hostSkipBytes,
    hostTurnTimeoutMs,
    runs = 'one',
  }: ReplayBindingOptions = {},
): ReplaySession {
  let port: ReplayPort | null = null;
  const shared = runs === 'many' ? { segments: null as RunSegments | null } : null;
  const binding: sp.BindingInterface<ReplayPort> = {
    async list(): Promise<sp.PortInfo[]> {
      return [epq1PortInfo(recordingPath, undefined)];
    },
    async open(options: sp.OpenOptions): Promise<ReplayPort> {
      const recording = await runToPlay(recordingPath, { onWarning, chunkBytes }, shared);
      port = new ReplayPort(recording, options, readAheadBytes, hostSkipBytes);
      port.onHostTurn = onHostTurn;
      port.disconnectAtEnd = atEnd === 'disconnect';
      port.hostTurnTimeoutMs = hostTurnTimeoutMs;
      return port;
    },
  };
  return {
    binding,
    path: recordingPath,
    get port() {
      return port;
    },
    get divergence() {
      return port?.divergence ?? null;
    },
    nextRun: async () => (shared?.segments ? shared.segments.nextRun() : null),
    close: async () => shared?.segments?.close(),
  };
}
