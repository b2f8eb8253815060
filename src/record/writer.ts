/**
 * Appends a recording (format.ts) to a file as the session streams.
 *
 * Records are copied into a write buffer at once (the caller may reuse its
 * buffer) and reach the file at once (default), or whenever the buffer fills,
 * every `flushIntervalMs`, and on close. Only whole records are ever written,
 * so a crash leaves at worst one torn record at the tail, which the reader
 * detects by its CRC or length and reports as the cut.
 *
 * The header can wait: records that arrive before `begin(header)` (the INFO
 * exchange of Device.open, say) are held in memory and written right after
 * the header, so the header can carry the device's INFO.
 */
import { openSync, writeSync, closeSync, fsyncSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { InputError } from '../errors.ts';
import {
  Direction,
  type DirectionCode,
  type RecordingHeader,
  type EndRecord,
  type SessionEnd,
  type RunEvent,
  RunEventSchema,
  RECORD_OVERHEAD,
  RECORD_MAX_BYTES,
  encodeFilePreamble,
  writeRecordInto,
} from './format.ts';

export interface RecordingWriterOptions {
  /** The header now; or later with begin(). */
  header?: RecordingHeader;
  /** Microseconds since the start for each record; default host monotonic time. Must match header.clock. */
  clockUs?: () => number;
  /**
   * Longest a record waits in memory before it reaches the file; 0 (the
   * default): every record is written as it is appended. Immediate writes
   * cost one write per chunk read from the port (a few hundred a second at
   * most) and make the file crash-consistent with what the host did: a
   * certificate released after its trials were read is never ahead of the
   * recording.
   */
  flushIntervalMs?: number;
  /** Write buffer size. */
  bufferBytes?: number;
  /** fsync on close (default true) so a closed recording survives power loss. */
  fsyncOnClose?: boolean;
}

export interface RecordingWriterStats {
  records: number;
  deviceBytes: number;
  hostBytes: number;
  fileBytes: number;
}

export class RecordingWriter {
  readonly path: string;
  private fd: number | null;
  private readonly clockUs: () => number;
  private buffer: Buffer;
  private used = 0;
  private begun = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly immediate: boolean;
  private readonly fsyncOnClose: boolean;
  private readonly counts: RecordingWriterStats = { records: 0, deviceBytes: 0, hostBytes: 0, fileBytes: 0 };

  constructor(
    path: string,
    { header, clockUs, flushIntervalMs = 0, bufferBytes = 1 << 18, fsyncOnClose = true }: RecordingWriterOptions = {},
  ) {
    this.path = path;
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      // The path is the user's (--record, record --out): a bad one is bad input, named, not an internal error.
      throw new InputError(
        'RECORDING_UNWRITABLE',
        `cannot write recording ${path}: ${(e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e))}`,
        { cause: e },
      );
    }
    const t0 = performance.now();
    this.clockUs = clockUs ?? (() => Math.round((performance.now() - t0) * 1000));
    this.buffer = Buffer.allocUnsafe(bufferBytes);
    this.fsyncOnClose = fsyncOnClose;
    this.immediate = flushIntervalMs <= 0;
    this.timer = this.immediate ? undefined : setInterval(() => this.flushQuietly(), flushIntervalMs);
    this.timer?.unref();
    if (header) this.begin(header);
  }

  get stats(): Readonly<RecordingWriterStats> {
    return this.counts;
  }

  get isOpen(): boolean {
    return this.fd !== null;
  }

  get hasHeader(): boolean {
    return this.begun;
  }

  /** Writes the header, then every record held so far. */
  begin(header: RecordingHeader): void {
    if (this.begun) throw new Error('recording header already written');
    this.requireOpen();
    const preamble = encodeFilePreamble(header);
    this.begun = true;
    this.writeOut(preamble);
    this.flush();
  }

  /** The recording's clock now (microseconds since the start), for records written later. */
  get timeUs(): number {
    return this.clockUs();
  }

  /** A run event (format.ts RunEvent): a session of several runs on ports opened one after another. */
  runEvent(event: RunEvent, timeUs?: number): void {
    this.append(Direction.RUN_EVENT, Buffer.from(JSON.stringify(RunEventSchema.parse(event)), 'utf8'), timeUs);
  }

  deviceToHost(bytes: Uint8Array, timeUs?: number): void {
    this.append(Direction.DEVICE_TO_HOST, bytes, timeUs);
  }

  hostToDevice(bytes: Uint8Array, timeUs?: number): void {
    this.append(Direction.HOST_TO_DEVICE, bytes, timeUs);
  }

  /** Adds one record (empty chunks are skipped; chunks above RECORD_MAX_BYTES are split). */
  append(direction: DirectionCode, bytes: Uint8Array, timeUs: number = this.clockUs()): void {
    this.requireOpen();
    for (let start = 0; start < bytes.length; start += RECORD_MAX_BYTES) {
      const part = bytes.subarray(start, Math.min(bytes.length, start + RECORD_MAX_BYTES));
      this.appendOne(direction, part, timeUs);
    }
    if (direction === Direction.DEVICE_TO_HOST) this.counts.deviceBytes += bytes.length;
    else if (direction === Direction.HOST_TO_DEVICE) this.counts.hostBytes += bytes.length;
    if (this.immediate) this.flush();
  }

  private appendOne(direction: DirectionCode, data: Uint8Array, timeUs: number): void {
    const need = RECORD_OVERHEAD + data.length;
    if (this.used + need > this.buffer.length) {
      if (this.begun) this.flush();
      if (need > this.buffer.length) {
        // Before the header (flush impossible) or a huge record: grow the buffer.
        const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + need));
        this.buffer.copy(grown, 0, 0, this.used);
        this.buffer = grown;
      } else if (this.used + need > this.buffer.length) {
        const grown = Buffer.allocUnsafe(this.buffer.length * 2);
        this.buffer.copy(grown, 0, 0, this.used);
        this.buffer = grown;
      }
    }
    this.used = writeRecordInto(this.buffer, this.used, direction, timeUs, data);
    this.counts.records++;
  }

  /** Writes the buffered records to the file (no-op before the header). */
  flush(): void {
    if (!this.begun || this.fd === null || this.used === 0) return;
    this.writeOut(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  private flushQuietly(): void {
    try {
      this.flush();
    } catch {
      // A failing disk surfaces at the next append/flush/close, on the caller's stack.
    }
  }

  private writeOut(bytes: Buffer): void {
    let done = 0;
    while (done < bytes.length) {
      done += writeSync(this.fd as number, bytes, done, bytes.length - done);
    }
    this.counts.fileBytes += bytes.length;
  }

  /**
   * Ends the recording: the header (with `fallbackHeader` if begin() never
   * ran), the buffered records, the end record (with `session`, how the
   * session ended, when given), fsync, close. Idempotent.
   */
  close(fallbackHeader?: RecordingHeader, session?: SessionEnd): void {
    if (this.fd === null) return;
    clearInterval(this.timer);
    try {
      if (!this.begun) {
        if (!fallbackHeader) throw new Error('recording closed before its header was written');
        this.begin(fallbackHeader);
      }
      const end: EndRecord = {
        records: this.counts.records,
        deviceBytes: this.counts.deviceBytes,
        hostBytes: this.counts.hostBytes,
        ...(session ? { session } : {}),
      };
      this.appendOne(Direction.END, Buffer.from(JSON.stringify(end), 'utf8'), this.clockUs());
      this.flush();
      if (this.fsyncOnClose) fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  /** Closes the file as it stands, without an end record (what a crash leaves; for tests and aborts). */
  abandon(): void {
    if (this.fd === null) return;
    clearInterval(this.timer);
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  private requireOpen(): void {
    if (this.fd === null) throw new Error(`recording ${this.path} is closed`);
  }
}
