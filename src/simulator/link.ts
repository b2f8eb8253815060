/**
 * The device-to-host side of the chip: frame sequence numbers, the output
 * queue the host reads from, and the link faults between them.
 *
 *   firmware --send(frame)--> seq, encode --> [link faults] --> queue --take(max)--> host
 *
 * Without link faults each frame is encoded straight into the queue's tail
 * chunk; with them it is encoded aside and passed byte by byte.
 */
import { encodeFrame } from '../protocol/encode.ts';
import { FRAME_SIZE, type DeviceFrame } from '../protocol/types.ts';
import { hasLinkFaults, type ChipFaults } from './faults.ts';
import type { ChipStats } from './options.ts';
import type { Rng } from './rng.ts';

const U32 = 0x1_0000_0000;
const OUT_CHUNK_BYTES = 64 * 1024;

interface Chunk {
  buf: Buffer;
  start: number;
  end: number;
}

export class DeviceLink {
  /** Set by the chip's close(): frames are still counted, no longer queued. */
  closed = false;
  /** Output queue: chunks read from `start`, written up to `end`; the last one is filled in place. */
  private chunks: Chunk[] = [];
  private queued = 0;
  private txSeq = 0;
  private readonly faulty: boolean;

  constructor(
    private readonly faults: ChipFaults,
    private readonly rng: Rng,
    private readonly stats: ChipStats,
  ) {
    this.faulty = hasLinkFaults(faults);
  }

  /** Bytes queued for the host. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** PROTOCOL 3: the device seq of the next frame, +1 per frame sent, wrapping after 0xFFFFFFFF. */
  nextSeq(): number {
    const s = this.txSeq;
    this.txSeq = (this.txSeq + 1) % U32;
    return s;
  }

  /** Numbers, encodes and queues one device frame. */
  send(frame: DeviceFrame): void {
    const seq = this.nextSeq();
    this.emitFrame((buf, off) => encodeFrame({ ...frame, seq } as DeviceFrame, buf, off));
  }

  /** Queue one encoded device frame, through the (possibly faulty) link. */
  emitFrame(write: (buf: Buffer, off: number) => void): void {
    this.stats.framesSent++;
    this.stats.bytesSent += FRAME_SIZE;
    if (this.closed) return;
    if (!this.faulty) {
      const { buf, off } = this.frameSlot();
      write(buf, off);
      return;
    }
    const tmp = Buffer.alloc(FRAME_SIZE);
    write(tmp, 0);
    const bytes = this.corrupt(tmp);
    if (bytes.length === 0) return;
    this.chunks.push({ buf: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), start: 0, end: bytes.length });
    this.queued += bytes.length;
  }

  /** Up to `max` queued bytes, oldest first. */
  take(max: number): Uint8Array {
    if (this.queued === 0) return new Uint8Array(0);
    const n = Math.min(max, this.queued);
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.end - c.start, n - filled);
      out.set(c.buf.subarray(c.start, c.start + k), filled);
      filled += k;
      c.start += k;
      if (c.start === c.end) {
        if (this.chunks.length > 1) this.chunks.shift();
        else c.start = c.end = 0; // reuse the tail chunk
      }
    }
    this.queued -= n;
    return out;
  }

  /** Drops every queued byte; returns how many. */
  discard(): number {
    const n = this.queued;
    this.chunks = [];
    this.queued = 0;
    return n;
  }

  /** Room for one 64-byte frame at the queue's tail (bypassed when link faults apply). */
  private frameSlot(): { buf: Buffer; off: number } {
    let c = this.chunks[this.chunks.length - 1];
    if (!c || c.end + FRAME_SIZE > c.buf.length) {
      c = { buf: Buffer.allocUnsafe(OUT_CHUNK_BYTES), start: 0, end: 0 };
      this.chunks.push(c);
    }
    const off = c.end;
    c.end += FRAME_SIZE;
    this.queued += FRAME_SIZE;
    return { buf: c.buf, off };
  }

  /** Link faults: whole frames lost, then bytes dropped, flipped, duplicated. */
  private corrupt(bytes: Uint8Array): Uint8Array {
    const f = this.faults;
    const rng = this.rng;
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
}
