/**
 * Frame-aligned pieces of a device byte stream, for FrameSync. More in README.md (aligned.ts).
 */
import { ByteLengthParser } from '@serialport/parser-byte-length';
import { FrameSync } from './sync.ts';
import { FRAME_SIZE } from './types.ts';

/** The bytes of `source`, unchanged and in order, cut at frame boundaries from its first valid frame on. */
export async function* frameAlignedPieces(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  accept: 'device' | 'host' | 'any' = 'device',
): AsyncGenerator<Buffer, void, void> {
  const lock = new FrameLock(accept);
  // Object mode on the readable side keeps each 64-byte piece as cut.
  const edge = new ByteLengthParser({ length: FRAME_SIZE, readableObjectMode: true });
  let held = 0; // bytes of a split frame inside the parser
  for await (const value of source) {
    let chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    if (!lock.locked) {
      const { before, after } = lock.push(chunk);
      if (before.length > 0) yield before;
      if (!after) continue;
      chunk = after;
    }
    if (held > 0) {
      // The rest of the frame split at the last chunk edge.
      const take = Math.min(FRAME_SIZE - held, chunk.length);
      edge.write(chunk.subarray(0, take));
      held += take;
      chunk = chunk.subarray(take);
      if (held === FRAME_SIZE) {
        yield edge.read() as Buffer;
        held = 0;
      }
    }
    const whole = chunk.length - (chunk.length % FRAME_SIZE);
    if (whole > 0) yield chunk.subarray(0, whole);
    if (whole < chunk.length) {
      edge.write(chunk.subarray(whole));
      held += chunk.length - whole;
    }
  }
  if (held > 0) {
    // A partial frame at the end: the parser's flush gives it back as it came.
    edge.end();
    const tail = edge.read() as Buffer | null;
    if (tail && tail.length > 0) yield tail;
  }
}

/** Hunts for the first valid frame with FrameSync and splits the chunk where aligned frames begin. */
class FrameLock {
  locked = false;
  private lockAt = -1;
  private chunkStart = 0;
  private readonly sync: FrameSync;

  constructor(accept: 'device' | 'host' | 'any') {
    this.sync = new FrameSync({
      accept,
      onFrame: (_frame, at) => {
        if (this.lockAt < 0) this.lockAt = at;
      },
    });
  }

  /** `before`: bytes before the first frame boundary after the lock; `after`: the rest, once locked. */
  push(chunk: Buffer): { before: Buffer; after?: Buffer } {
    this.sync.push(chunk);
    const start = this.chunkStart;
    this.chunkStart += chunk.length;
    if (this.lockAt < 0) return { before: chunk };
    this.locked = true;
    // The first frame boundary at or after this chunk's start (the locking frame may have begun in an earlier one).
    const boundary = this.lockAt + FRAME_SIZE * Math.ceil(Math.max(0, start - this.lockAt) / FRAME_SIZE);
    const cut = Math.min(chunk.length, boundary - start);
    return { before: chunk.subarray(0, cut), after: chunk.subarray(cut) };
  }
}
