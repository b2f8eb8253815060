/**
 * FrameSync: the re-synchronising frame scanner of PROTOCOL 3, independent of streams. Feed it any bytes with `push`;
 * it calls back with every frame that passed all its checks, and counts everything else. More in README.md (sync.ts).
 */
import { frameCrcOk } from './crc.ts';
import { decodeFramed, frameSeq, trialsFirst, trialsRecordCount, trialsRecordsAt } from './decode.ts';
import { FrameError, type FrameErrorReason } from './errors.ts';
import { layoutOfType } from './layouts.ts';
import { FRAME_SIZE, FrameType, MAGIC0, MAGIC1, type Frame, type UnknownFrame } from './types.ts';

export interface FrameSyncStats {
  /** Frames emitted (passed every check). */
  frames: number;
  /** Bytes pushed. */
  bytesIn: number;
  /** Bytes not part of an emitted frame (noise, corrupt, invalid, unknown, flushed tail). */
  bytesSkipped: number;
  /** Candidate positions with the magic but a wrong CRC. */
  crcErrors: number;
  /** CRC-valid frames dropped, by reason ('flags', 'reserved', 'range', 'direction'). */
  invalid: Record<FrameErrorReason, number>;
  /** CRC-valid frames of a type protocol 1.0 does not define. */
  unknownTypes: number;
}

export interface FrameSyncOptions {
  /**
   * Which direction's frames to accept: 'device' for a host driver, 'host' for a device (simulator), 'any' for taps.
   */
  accept?: 'device' | 'host' | 'any';
  /** Called with each valid frame and the absolute stream offset of its first byte. */
  onFrame?: (frame: Frame, streamOffset: number) => void;
  /** Called with each CRC-valid but invalid frame (bad flags, reserved bits, ranges, direction). */
  onInvalid?: (err: FrameError, streamOffset: number) => void;
  /** Called with each CRC-valid frame of an undefined type (skipped, PROTOCOL 3). */
  onUnknown?: (frame: UnknownFrame, streamOffset: number) => void;
  /**
   * Takes each valid TRIALS frame in place instead of `onFrame` (accept 'device' or 'any'): no decoded object
   * per frame. The records are bytes[recordsAt, recordsAt + n), readable only during the call.
   */
  onTrials?: TrialsSink;
}

/** A valid TRIALS frame's fields (PROTOCOL 4 TRIALS), its records left where they are. */
export type TrialsSink = (
  bytes: Uint8Array,
  recordsAt: number,
  n: number,
  flags: number,
  seq: number,
  first: number,
) => void;

const MAX_TAIL = FRAME_SIZE - 1;

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function newInvalidCounts(): Record<FrameErrorReason, number> {
  return { length: 0, magic: 0, crc: 0, flags: 0, reserved: 0, range: 0, direction: 0 };
}

export class FrameSync {
  readonly stats: FrameSyncStats = {
    frames: 0,
    bytesIn: 0,
    bytesSkipped: 0,
    crcErrors: 0,
    invalid: newInvalidCounts(),
    unknownTypes: 0,
  };
  private readonly accept: 'device' | 'host' | 'any';
  private readonly onFrame?: (frame: Frame, streamOffset: number) => void;
  private readonly onInvalid?: (err: FrameError, streamOffset: number) => void;
  private readonly onUnknown?: (frame: UnknownFrame, streamOffset: number) => void;
  private readonly onTrials?: TrialsSink;
  /** tail bytes in scratch[0..tailLength), then up to 63 bytes of the next chunk. */
  private readonly scratch = Buffer.alloc(2 * MAX_TAIL);
  private tailLength = 0;
  /** Absolute stream offset of scratch[0] (the first tail byte). */
  private tailStart = 0;
  /** Frames emitted during the current push (returned by push; null for feed). */
  private out: Frame[] | null = null;
  /** Absolute stream offset of the buffer being scanned, index 0. */
  private base = 0;
  private callbackFailed = false;
  private callbackError: unknown = undefined;

  constructor({ accept = 'any', onFrame, onInvalid, onUnknown, onTrials }: FrameSyncOptions = {}) {
    if (accept !== 'device' && accept !== 'host' && accept !== 'any')
      throw new TypeError(`"accept" must be 'device', 'host' or 'any', got ${String(accept)}`);
    this.accept = accept;
    this.onFrame = onFrame;
    this.onInvalid = onInvalid;
    this.onUnknown = onUnknown;
    if (accept !== 'host') this.onTrials = onTrials;
  }

  /** Bytes held back, waiting for the rest of a possible frame (0..63). */
  get pending(): number {
    return this.tailLength;
  }

  /**
   * Scans `chunk` (after the held-back tail); calls the callbacks and returns
   * the frames that completed in this push.
   */
  push(chunk: Uint8Array): Frame[] {
    const out: Frame[] = [];
    this.out = out;
    try {
      this.feed(chunk);
    } finally {
      this.out = null;
    }
    return out;
  }

  /** As push, through the callbacks only: no array of the frames (the hot path of a driver). */
  feed(chunk: Uint8Array): void {
    this.pushInner(chunk);
    if (this.callbackFailed) {
      const e = this.callbackError;
      this.callbackFailed = false;
      this.callbackError = undefined;
      throw e;
    }
  }

  private pushInner(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const buf = asBuffer(chunk);
    const chunkStart = this.tailStart + this.tailLength;
    this.stats.bytesIn += buf.length;
    let from = 0;
    if (this.tailLength > 0) {
      // Boundary: tail + up to 63 bytes of the chunk, in the fixed scratch.
      const t = this.tailLength;
      const take = Math.min(MAX_TAIL, buf.length);
      buf.copy(this.scratch, t, 0, take);
      const end = t + take;
      this.base = this.tailStart;
      const pos = this.scan(this.scratch, 0, end, t);
      if (pos < t) {
        // Still undecided: the whole chunk fit in the scratch (end - pos < 64).
        this.scratch.copy(this.scratch, 0, pos, end);
        this.tailStart += pos;
        this.tailLength = end - pos;
        return;
      }
      from = pos - t; // the scan may have consumed a frame reaching into the chunk
    }
    this.base = chunkStart;
    const pos = this.scan(buf, from, buf.length, buf.length);
    const rest = buf.length - pos;
    buf.copy(this.scratch, 0, pos, buf.length);
    this.tailStart = chunkStart + pos;
    this.tailLength = rest;
  }

  /** End of input: the held-back tail can never become a frame; count it as skipped. Returns its length. */
  flush(): number {
    const n = this.tailLength;
    this.stats.bytesSkipped += n;
    this.tailStart += n;
    this.tailLength = 0;
    return n;
  }

  /**
   * Scans candidate starts in [pos, posLimit) of buf[.. end). Returns the
   * first undecided position (fewer than 64 bytes left) or posLimit.
   */
  private scan(buf: Buffer, pos: number, end: number, posLimit: number): number {
    const stats = this.stats;
    while (pos < posLimit) {
      // HUNT: PROTOCOL 3, search the following bytes for the magic.
      if (buf[pos] !== MAGIC0) {
        let next = buf.indexOf(MAGIC0, pos + 1);
        if (next === -1 || next >= posLimit) next = posLimit;
        stats.bytesSkipped += next - pos;
        pos = next;
        if (pos >= posLimit) break;
      }
      if (pos + 1 < end && buf[pos + 1] !== MAGIC1) {
        stats.bytesSkipped++;
        pos++;
        continue;
      }
      if (end - pos < FRAME_SIZE) break; // WAIT
      // CRC: PROTOCOL 3, a frame with a wrong CRC is not a frame; re-sync one byte on.
      if (!frameCrcOk(buf, pos)) {
        stats.crcErrors++;
        stats.bytesSkipped++;
        pos++;
        continue;
      }
      this.accept64(buf, pos);
      pos += FRAME_SIZE;
    }
    return pos;
  }

  /** FIELDS: 64 CRC-valid bytes at pos. */
  private accept64(buf: Buffer, pos: number): void {
    const stats = this.stats;
    const at = this.base + pos;
    const type = buf[pos + 2]!;
    if (type === FrameType.TRIALS && this.onTrials && this.trialsInPlace(buf, pos)) return;
    const layout = layoutOfType(type);
    let frame: Frame | UnknownFrame;
    try {
      if (layout && this.accept !== 'any' && layout.direction !== this.accept) {
        const seq = frameSeq(buf, pos);
        throw new FrameError(
          'direction',
          `${layout.direction} frame ${layout.kind} where ${this.accept} frames are expected (PROTOCOL 3)`,
          { type, seq },
        );
      }
      frame = decodeFramed(buf, pos);
    } catch (e) {
      stats.bytesSkipped += FRAME_SIZE;
      if (e instanceof FrameError) {
        stats.invalid[e.reason]++;
        this.call(this.onInvalid, e, at);
      } else {
        stats.invalid.range++; // cannot happen: decodeFramed throws only FrameError
      }
      return;
    }
    if (frame.kind === 'UNKNOWN') {
      stats.unknownTypes++;
      stats.bytesSkipped += FRAME_SIZE;
      this.call(this.onUnknown, frame, at);
      return;
    }
    stats.frames++;
    this.out?.push(frame);
    this.call(this.onFrame, frame, at);
  }

  /**
   * A TRIALS frame that passes every check goes to the sink in place: true. False for one that fails a check:
   * the generic path decodes it and reports the exact error.
   */
  private trialsInPlace(buf: Buffer, pos: number): boolean {
    const n = trialsRecordCount(buf, pos);
    if (n < 0) return false;
    this.stats.frames++;
    try {
      this.onTrials!(buf, trialsRecordsAt(pos), n, buf[pos + 3]!, frameSeq(buf, pos), trialsFirst(buf, pos));
    } catch (e) {
      this.keepFirstError(e);
    }
    return true;
  }

  /**
   * Callbacks run inside the scan; a throwing callback must not leave the
   * scanner half-updated, so its first error is kept and rethrown once the
   * push has finished (later callbacks of that push still run).
   */
  private call<T>(cb: ((v: T, at: number) => void) | undefined, v: T, at: number): void {
    if (!cb) return;
    try {
      cb(v, at);
    } catch (e) {
      this.keepFirstError(e);
    }
  }

  /** Keeps a callback's first error, rethrown by feed once the scan is done. */
  private keepFirstError(e: unknown): void {
    if (!this.callbackFailed) {
      this.callbackFailed = true;
      this.callbackError = e;
    }
  }
}
