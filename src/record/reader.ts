/**
 * Reads recordings (format.ts) and raw captures, streaming: the file goes
 * through in chunks, never whole, so a recording of any length replays in
 * bounded memory.
 *
 * `RecordingParser` is the pure part (bytes in, records out, a state machine
 * magic -> header -> records -> done); `openRecording` drives it from a file,
 * through a streaming gunzip when the file is gzip-compressed (RFC 1952
 * magic 1f 8b 08: how fixtures stay small; a raw capture can be gzipped too).
 *
 * Damage rules:
 * - bad magic, a header that is cut, too long, fails its CRC, is not JSON or
 *   fails the schema: InputError naming the field (nothing can be trusted);
 * - a record that is cut or fails its checks (direction, reserved bytes,
 *   length, CRC), or a missing end record: the cut. Every complete record
 *   before it is delivered and one warning names the byte offset and the
 *   record index of the cut.
 */
import { open } from 'node:fs/promises';
import { crc32, createGunzip } from 'node:zlib';
import { Readable, pipeline } from 'node:stream';
import { InputError } from '../errors.ts';
import {
  MAGIC,
  MAGIC_PREFIX_BYTES,
  HEADER_MAX_BYTES,
  RECORD_HEADER_BYTES,
  RECORD_CRC_BYTES,
  RECORD_MAX_BYTES,
  Direction,
  type DirectionCode,
  type RecordingHeader,
  EndRecordSchema,
  type EndRecord,
  parseHeaderJson,
} from './format.ts';

const RECORD_DIRECTIONS: ReadonlySet<number> = new Set(Object.values(Direction));

export interface RecordEntry {
  /** 0-based index among the records (D, H and R) of the file. */
  index: number;
  /** File offset of the record's first byte. */
  offset: number;
  direction: typeof Direction.DEVICE_TO_HOST | typeof Direction.HOST_TO_DEVICE | typeof Direction.RUN_EVENT;
  timeUs: number;
  /** The bytes as they crossed the link (a view; do not write to it). */
  bytes: Buffer;
}

/** Where and why a recording stopped short. */
export interface RecordingCut {
  /** File offset of the first byte that could not be used. */
  offset: number;
  /** Index the next record would have had (= complete data records before the cut). */
  recordIndex: number;
  reason: string;
}

export type RecordingKind = 'recording' | 'raw';

export function describeCut(cut: RecordingCut): string {
  return `recording cut at byte ${cut.offset} (record ${cut.recordIndex}: ${cut.reason}): replaying the ${cut.recordIndex} complete records before it`;
}

type Phase = 'magic' | 'header' | 'records' | 'raw' | 'done';

export class RecordingParser {
  private phase: Phase = 'magic';
  private pending: Buffer = Buffer.alloc(0);
  /** Holds `pending` after a keep (reused: push copies pending out before it is written again). */
  private tail: Buffer = Buffer.alloc(0);
  /** File offset of pending[0]. */
  private pendingOffset = 0;
  private nextIndex = 0;
  private headerValue: RecordingHeader | null = null;
  private endValue: EndRecord | null = null;
  private cutValue: RecordingCut | null = null;
  private trailingBytes = 0;

  get kind(): RecordingKind | null {
    if (this.phase === 'magic') return null;
    return this.phase === 'raw' ? 'raw' : 'recording';
  }

  /** The header, once parsed (null for raw captures and before it is complete). */
  get header(): RecordingHeader | null {
    return this.headerValue;
  }

  /** True once the magic and header are through (or the file is a raw capture). */
  get ready(): boolean {
    return this.phase === 'records' || this.phase === 'raw' || this.phase === 'done';
  }

  get end(): EndRecord | null {
    return this.endValue;
  }

  get cut(): RecordingCut | null {
    return this.cutValue;
  }

  /** Bytes after the end record (ignored). */
  get trailing(): number {
    return this.trailingBytes;
  }

  get recordsSeen(): number {
    return this.nextIndex;
  }

  /** The bytes of a torn record (or header) held back for the next push. */
  get held(): Buffer {
    return this.pending;
  }

  /**
   * Feeds the next bytes of the file; returns the records they complete.
   * `startsWithHeld`: the chunk begins with the `held` bytes (the reader
   * read the file in behind them), so they are not copied in front again.
   */
  push(chunk: Buffer, startsWithHeld = false): RecordEntry[] {
    const out: RecordEntry[] = [];
    if (this.phase === 'done') {
      this.trailingBytes += chunk.length;
      return out;
    }
    if (this.phase === 'raw') {
      if (chunk.length > 0) out.push(this.rawEntry(chunk));
      return out;
    }
    const buf = this.pending.length === 0 || startsWithHeld ? chunk : Buffer.concat([this.pending, chunk]);
    let pos = 0;
    if (this.phase === 'magic') {
      const at = this.pushMagic(buf, out);
      if (at === null) return out;
      pos = at;
    }
    if (this.phase === 'header') {
      const at = this.pushHeader(buf, pos);
      if (at === null) return out;
      pos = at;
    }
    this.pushRecords(buf, pos, out);
    return out;
  }

  /** The magic: the offset after it, or null (raw capture found, or more bytes needed). */
  private pushMagic(buf: Buffer, out: RecordEntry[]): number | null {
    const have = Math.min(buf.length, MAGIC.length);
    const prefixLen = Math.min(have, MAGIC_PREFIX_BYTES);
    if (!buf.subarray(0, prefixLen).equals(MAGIC.subarray(0, prefixLen))) {
      // No recording magic: a raw capture of device-to-host bytes.
      this.phase = 'raw';
      this.pending = Buffer.alloc(0);
      if (buf.length > 0) out.push(this.rawEntry(buf));
      return null;
    }
    if (have < MAGIC.length) {
      this.pending = Buffer.from(buf);
      return null;
    }
    if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new InputError(
        'RECORDING_MAGIC',
        `recording: bad magic (expected ${hex(MAGIC)}, got ${hex(buf.subarray(0, MAGIC.length))})`,
      );
    }
    this.phase = 'header';
    return MAGIC.length;
  }

  /** The header at `pos`: the offset after it, or null when more bytes are needed. */
  private pushHeader(buf: Buffer, pos: number): number | null {
    if (buf.length - pos < 4) {
      this.keep(buf, pos);
      return null;
    }
    const headerLength = buf.readUInt32LE(pos);
    if (headerLength < 2 || headerLength > HEADER_MAX_BYTES) {
      throw new InputError(
        'RECORDING_HEADER',
        `recording header: field headerLength: ${headerLength} outside 2..${HEADER_MAX_BYTES}`,
      );
    }
    if (buf.length - pos < 4 + headerLength + 4) {
      this.keep(buf, pos);
      return null;
    }
    const stored = buf.readUInt32LE(pos + 4 + headerLength);
    const computed = crc32(buf.subarray(pos, pos + 4 + headerLength));
    if (stored !== computed) {
      throw new InputError(
        'RECORDING_HEADER',
        `recording header: CRC mismatch (stored ${stored.toString(16).padStart(8, '0')}, computed ${computed.toString(16).padStart(8, '0')})`,
      );
    }
    this.headerValue = parseHeaderJson(buf.subarray(pos + 4, pos + 4 + headerLength));
    this.phase = 'records';
    return pos + 4 + headerLength + 4;
  }

  /** What is wrong with the record header at `pos`, or null. */
  private static recordProblem(buf: Buffer, pos: number): string | null {
    const direction = buf[pos]!;
    const length = buf.readUInt32LE(pos + 4);
    if (!RECORD_DIRECTIONS.has(direction)) return `unknown direction 0x${direction.toString(16).padStart(2, '0')}`;
    if (buf[pos + 1] !== 0 || buf[pos + 2] !== 0 || buf[pos + 3] !== 0) return 'reserved bytes not zero';
    if (length < 1 || length > RECORD_MAX_BYTES) return `length ${length} outside 1..${RECORD_MAX_BYTES}`;
    return null;
  }

  /** The records from `pos` on, into `out`; a torn tail is kept for the next push. */
  private pushRecords(buf: Buffer, from: number, out: RecordEntry[]): void {
    const base = this.pendingOffset;
    let pos = from;
    while (buf.length - pos >= RECORD_HEADER_BYTES) {
      const problem = RecordingParser.recordProblem(buf, pos);
      if (problem) {
        this.stopAt(base + pos, problem);
        return;
      }
      const length = buf.readUInt32LE(pos + 4);
      const total = RECORD_HEADER_BYTES + length + RECORD_CRC_BYTES;
      if (buf.length - pos < total) break;
      const dataEnd = pos + RECORD_HEADER_BYTES + length;
      if (buf.readUInt32LE(dataEnd) !== crc32(buf.subarray(pos, dataEnd))) {
        this.stopAt(base + pos, 'CRC mismatch');
        return;
      }
      const timeUs = buf.readUInt32LE(pos + 8) + buf.readUInt32LE(pos + 12) * 0x1_0000_0000;
      const bytes = buf.subarray(pos + RECORD_HEADER_BYTES, dataEnd);
      if (buf[pos] === Direction.END) {
        this.acceptEnd(bytes, base + pos);
        this.trailingBytes += buf.length - (pos + total);
        this.pending = Buffer.alloc(0);
        return;
      }
      const direction = buf[pos] as RecordEntry['direction'];
      out.push({ index: this.nextIndex++, offset: base + pos, direction, timeUs, bytes });
      pos += total;
    }
    this.keep(buf, pos);
  }

  /**
   * The file has ended. Returns the cut, if any: a torn record, or a
   * recording without its end record. Throws if the header never completed.
   */
  finish(): RecordingCut | null {
    if (this.phase === 'magic') {
      if (this.pending.length === 0) {
        this.phase = 'raw';
        return null;
      }
      throw new InputError(
        'RECORDING_MAGIC',
        `recording: bad magic (file is ${this.pending.length} bytes, shorter than the ${MAGIC.length}-byte magic)`,
      );
    }
    if (this.phase === 'header') {
      throw new InputError(
        'RECORDING_HEADER',
        `recording header: truncated (file ends at byte ${this.pendingOffset + this.pending.length})`,
      );
    }
    if (this.phase === 'records') {
      const at = this.pendingOffset;
      this.stopAt(
        at,
        this.pending.length > 0 ? `torn record, ${this.pending.length} bytes` : 'end of file without the end record',
      );
    }
    return this.cutValue;
  }

  private acceptEnd(json: Buffer, offset: number): void {
    let parsed: EndRecord | null = null;
    try {
      const r = EndRecordSchema.safeParse(JSON.parse(json.toString('utf8')));
      if (r.success) parsed = r.data;
    } catch {
      parsed = null;
    }
    if (!parsed) {
      this.stopAt(offset, 'unreadable end record');
      return;
    }
    this.endValue = parsed;
    this.phase = 'done';
    if (parsed.records !== this.nextIndex) {
      this.cutValue = {
        offset,
        recordIndex: this.nextIndex,
        reason: `end record counts ${parsed.records} records, file holds ${this.nextIndex}`,
      };
    }
  }

  private stopAt(offset: number, reason: string): void {
    this.cutValue = { offset, recordIndex: this.nextIndex, reason };
    this.phase = 'done';
    this.pending = Buffer.alloc(0);
  }

  private keep(buf: Buffer, from: number): void {
    this.pendingOffset += from;
    // Copy the tail (into a buffer kept for it) so the big chunk it came from can be collected or reused.
    const length = buf.length - from;
    if (this.tail.length < length) this.tail = Buffer.allocUnsafeSlow(Math.max(length, 2 * this.tail.length));
    buf.copy(this.tail, 0, from);
    this.pending = this.tail.subarray(0, length);
  }

  private rawEntry(bytes: Buffer): RecordEntry {
    const entry: RecordEntry = {
      index: this.nextIndex++,
      offset: this.pendingOffset,
      direction: Direction.DEVICE_TO_HOST,
      timeUs: 0,
      bytes,
    };
    this.pendingOffset += bytes.length;
    return entry;
  }
}

/** RFC 1952: ID1 ID2 CM(deflate). */
const GZIP_MAGIC = [0x1f, 0x8b, 0x08] as const;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

export interface OpenRecordingOptions {
  /** Read size; memory use is about twice this. */
  chunkBytes?: number;
  /**
   * The consumer is done with a batch's bytes (every view of them) when it
   * asks for the next batch: a plain file is then read into one buffer,
   * reused, instead of a new one per chunk (no read-sized garbage per chunk).
   */
  reuseChunks?: boolean;
  /** Called once with the cut's one-line description, if the file was cut. */
  onWarning?: (message: string) => void;
}

/** An opened recording or raw capture; iterate `batches()` once. */
export interface Recording {
  path: string;
  kind: RecordingKind;
  /** null for a raw capture. */
  header: RecordingHeader | null;
  /** Records in file order, a batch per chunk read. Closes the file when done. */
  batches(): AsyncGenerator<RecordEntry[], void, void>;
  /** After iteration: the cut, or null when the recording was complete. */
  readonly cut: RecordingCut | null;
  /** After iteration: data records delivered. */
  readonly records: number;
  /** After iteration: the end record, or null when the file has none (cut, or a raw capture). */
  readonly end: EndRecord | null;
  close(): Promise<void>;
}

/** A file read in chunks, through a streaming gunzip when it is gzip-compressed. */
interface ChunkSource {
  /**
   * The next chunk, or null at the end of the (decompressed) data. With
   * `head` (when `prepends`), the chunk begins with a copy of it, the file's
   * next bytes read in behind it (a torn record completed without a concat).
   */
  next(head?: Buffer): Promise<Buffer | null>;
  /** Whether next() puts `head` in front of the chunk (a plain file) or ignores it (gzip). */
  readonly prepends: boolean;
  close(): Promise<void>;
}

async function openFile(path: string) {
  try {
    return await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(
      'RECORDING_OPEN',
      `cannot open recording ${path}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(e))}`,
      { cause: e },
    );
  }
}

/**
 * Opens `path` for chunked reading; a gzip-compressed file (fixtures are kept
 * small that way) is read through a streaming gunzip.
 */
async function openChunkSource(path: string, chunkBytes: number, reuseChunks = false): Promise<ChunkSource> {
  const fh = await openFile(path);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await fh.close();
  };
  let reused: Buffer | null = null;
  const readPlain = async (head?: Buffer): Promise<Buffer | null> => {
    const h = head?.length ?? 0;
    let buf: Buffer;
    if (!reuseChunks) buf = Buffer.allocUnsafe(h + chunkBytes);
    else {
      if (reused === null || reused.length < h + chunkBytes) reused = Buffer.allocUnsafe(h + chunkBytes);
      buf = reused;
    }
    if (h > 0) head!.copy(buf, 0);
    const { bytesRead } = await fh.read(buf, h, chunkBytes, null);
    if (bytesRead === 0) return null;
    return h + bytesRead === buf.length ? buf : buf.subarray(0, h + bytesRead);
  };
  const first = await readPlain().catch(async (e: unknown) => {
    await close();
    // A directory opens fine and fails at its first read: the user named the wrong path (exit 2, one line).
    if ((e as NodeJS.ErrnoException).code === 'EISDIR')
      throw new InputError('RECORDING_OPEN', `cannot open recording ${path}: is a directory`, { cause: e });
    throw e;
  });
  if (first && GZIP_MAGIC.every((b, i) => first[i] === b)) {
    reuseChunks = false; // the gunzip stream holds the chunks it has read ahead
    return gunzipSource(path, chunkBytes, first, readPlain, close);
  }
  let pushedBack: Buffer | null = first;
  const next = async (head?: Buffer): Promise<Buffer | null> => {
    if (!pushedBack) return readPlain(head);
    const b = pushedBack;
    pushedBack = null;
    return head && head.length > 0 ? Buffer.concat([head, b]) : b;
  };
  return { next, prepends: true, close };
}

/**
 * The decompressed chunks of a gzip file whose first chunk is `first` (read
 * in new buffers: the gunzip stream reads ahead of its reader).
 */
function gunzipSource(
  path: string,
  chunkBytes: number,
  first: Buffer,
  readPlain: () => Promise<Buffer | null>,
  close: () => Promise<void>,
): ChunkSource {
  const gunzip = createGunzip({ chunkSize: Math.min(chunkBytes, 1 << 20) });
  const source = (async function* () {
    yield first;
    for (let c = await readPlain(); c; c = await readPlain()) yield c;
  })();
  // pipeline() routes a read error to gunzip (and so to the iterator) instead of an unhandled 'error'.
  pipeline(Readable.from(source), gunzip, () => undefined);
  const it = gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const next = async (): Promise<Buffer | null> => {
    try {
      const r = await it.next();
      return r.done ? null : r.value;
    } catch (e) {
      // A compressed file cut short ends where its data ends: the parser then names the cut.
      if ((e as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') return null;
      const why = e instanceof Error ? e.message : String(e);
      throw new InputError('RECORDING_GZIP', `cannot decompress ${path}: ${why}`, { cause: e });
    }
  };
  return {
    next,
    prepends: false,
    close: async () => {
      gunzip.destroy();
      await close();
    },
  };
}

/**
 * Opens a file as a recording (by its magic) or a raw capture (any other
 * bytes), reading just enough to check the header.
 */
export async function openRecording(
  path: string,
  { chunkBytes = 1 << 20, onWarning, reuseChunks = false }: OpenRecordingOptions = {},
): Promise<Recording> {
  const source = await openChunkSource(path, chunkBytes, reuseChunks);
  const parser = new RecordingParser();
  const early: RecordEntry[] = [];
  let eof = false;
  let warned = false;
  const warnOnce = (cut: RecordingCut | null): void => {
    if (cut && !warned) {
      warned = true;
      onWarning?.(describeCut(cut));
    }
  };
  /** The records of the next chunk; null at the end of the file. */
  const step = async (): Promise<RecordEntry[] | null> => {
    // A torn record is completed by reading the file in behind it (no concat of the whole chunk).
    const head = source.prepends && parser.held.length > 0 ? parser.held : undefined;
    const chunk = await source.next(head);
    if (chunk === null) {
      eof = true;
      warnOnce(parser.finish());
      return null;
    }
    return parser.push(chunk, head !== undefined);
  };
  try {
    while (!parser.ready) {
      const got = await step();
      if (got === null) break;
      for (const r of got) early.push(r);
    }
  } catch (e) {
    await source.close();
    throw e;
  }
  return {
    path,
    kind: parser.kind ?? 'raw',
    header: parser.header,
    get cut() {
      return parser.cut;
    },
    get records() {
      return parser.recordsSeen;
    },
    get end() {
      return parser.end;
    },
    close: () => source.close(),
    async *batches() {
      try {
        if (early.length > 0) yield early.splice(0);
        while (!eof) {
          const got = await step();
          if (got === null) break;
          if (got.length > 0) yield got;
          warnOnce(parser.cut);
        }
      } finally {
        await source.close();
      }
    },
  };
}

/** The device-to-host bytes of a recording (or all of a raw capture), in order. */
export async function* deviceBytes(recording: Recording): AsyncGenerator<Buffer, void, void> {
  for await (const batch of recording.batches()) {
    for (const r of batch) if (r.direction === Direction.DEVICE_TO_HOST) yield r.bytes;
  }
}

export type { DirectionCode };
