/**
 * frameAlignedPieces: every byte through unchanged and in order; after the
 * first valid frame, pieces of whole frames starting on frame boundaries
 * (frames split at chunk edges put together by @serialport/parser-byte-length);
 * scanning them gives exactly the
 * frames scanning the original chunks gives, corrupted regions included.
 */
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { frameAlignedPieces } from '../../src/protocol/aligned.ts';
import { FrameSync } from '../../src/protocol/sync.ts';
import { MAGIC0, MAGIC1, type Frame } from '../../src/protocol/types.ts';
import { DEVICE_LAYOUTS, mulberry32, randInt, randomFrameOf } from './gen.ts';

const rand = mulberry32(20261204);
const frames: Frame[] = Array.from({ length: 200 }, () => randomFrameOf(rand, DEVICE_LAYOUTS));
const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));

function chunked(bytes: Buffer, maxChunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < bytes.length; ) {
    const n = randInt(rand, 1, maxChunk);
    out.push(bytes.subarray(o, o + n));
    o += n;
  }
  return out;
}

async function collect(source: Iterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const piece of frameAlignedPieces(source)) out.push(Buffer.from(piece));
  return out;
}

function scan(chunks: Uint8Array[]): { frames: Frame[]; stats: FrameSync['stats'] } {
  const sync = new FrameSync({ accept: 'device' });
  const out: Frame[] = [];
  for (const c of chunks) out.push(...sync.push(c));
  sync.flush();
  return { frames: out, stats: sync.stats };
}

describe('frameAlignedPieces', () => {
  it('passes every byte in order and cuts whole-frame pieces from the first valid frame (noise, mid-frame start)', async () => {
    for (const [noise, skip] of [
      [0, 0],
      [5, 0],
      [0, 10],
      [81, 40],
    ] as const) {
      // A capture that starts with noise and in the middle of a frame: the lock is at the first whole valid frame.
      const bytes = Buffer.concat([Buffer.alloc(noise, 0x33), stream.subarray(skip)]);
      const lockAt = noise + (skip === 0 ? 0 : 64 - skip);
      for (const maxChunk of [1, 63, 200, 5000]) {
        const pieces = await collect(chunked(bytes, maxChunk));
        expect(Buffer.concat(pieces).equals(bytes)).toBe(true);
        let at = 0;
        let aligned = 0;
        for (const p of pieces) {
          if (at >= lockAt + 64) {
            expect((at - lockAt) % 64, `piece at ${at}`).toBe(0);
            expect([p[0], p[1]]).toEqual([MAGIC0, MAGIC1]);
            expect(p.length % 64).toBe(0);
            aligned++;
          }
          at += p.length;
        }
        expect(aligned).toBeGreaterThan(0);
      }
    }
  });

  it('gives the scanner the same frames and counts as the original chunks, a corrupted region after the lock included', async () => {
    const bytes = Buffer.from(stream);
    bytes[64 * 50 + 20]! ^= 0x10; // one frame's CRC fails
    const dropped = Buffer.concat([bytes.subarray(0, 64 * 90 + 3), bytes.subarray(64 * 90 + 4)]); // the link lost a byte
    const chunks = chunked(dropped, 3000);
    const pieces = await collect(chunks);
    const want = scan(chunks);
    const got = scan(pieces);
    expect(got.frames).toEqual(want.frames);
    expect(got.stats).toEqual(want.stats);
    expect(want.frames.length).toBe(200 - 2);
  });

  it('passes a stream with no valid frame through as it came', async () => {
    const noise = Buffer.alloc(1000, 0xe5);
    const pieces = await collect([noise.subarray(0, 400), noise.subarray(400)]);
    expect(pieces.map((p) => p.length)).toEqual([400, 600]);
  });

  it('ends the source when the consumer stops, and passes the source error on', async () => {
    let returned = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield stream.subarray(0, 64 * 100);
        yield stream.subarray(64 * 100);
      } finally {
        returned = true;
      }
    }
    for await (const _piece of frameAlignedPieces(source())) break;
    expect(returned).toBe(true);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield stream.subarray(0, 64 * 3);
      yield stream.subarray(64 * 3, 64 * 10);
      throw new Error('read failed');
    }
    await expect(collect2(failing())).rejects.toThrow('read failed');
  });
});

async function collect2(source: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const piece of frameAlignedPieces(source)) n += piece.length;
  return n;
}
