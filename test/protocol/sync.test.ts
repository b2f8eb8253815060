/**
 * FrameSync and FrameDecoder: exact frames out of chunked, noisy streams,
 * with exact counters.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { encodeFrame, encodeRaw } from '../../src/protocol/encode.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import type { FrameError } from '../../src/protocol/errors.ts';
import { FrameSync } from '../../src/protocol/sync.ts';
import { writeFrameCrc } from '../../src/protocol/crc.ts';
import type { Frame, UnknownFrame } from '../../src/protocol/types.ts';
import { DEVICE_LAYOUTS, HOST_LAYOUTS, mulberry32, randomFrameOf } from './gen.ts';

const rand = mulberry32(20261126);
const frames: Frame[] = Array.from({ length: 30 }, () => randomFrameOf(rand, DEVICE_LAYOUTS));
const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));

function feed(sync: FrameSync, bytes: Buffer, sizes: (i: number) => number): Frame[] {
  const out: Frame[] = [];
  for (let o = 0, i = 0; o < bytes.length; i++) {
    const n = Math.max(1, sizes(i));
    out.push(...sync.push(bytes.subarray(o, o + n)));
    o += n;
    expect(sync.pending).toBeLessThanOrEqual(63);
  }
  return out;
}

describe('FrameSync', () => {
  for (const size of [1, 2, 3, 7, 63, 64, 65, 100, 127, 128, 129, 4096]) {
    it(`decodes back-to-back frames fed in ${size}-byte chunks`, () => {
      const sync = new FrameSync({ accept: 'device' });
      const out = feed(sync, stream, () => size);
      expect(out).toEqual(frames);
      expect(sync.stats).toMatchObject({
        frames: 30,
        bytesIn: stream.length,
        bytesSkipped: 0,
        crcErrors: 0,
        unknownTypes: 0,
      });
      expect(sync.pending).toBe(0);
    });
  }

  it('decodes frames fed in random chunk sizes, and reports each frame at its stream offset', () => {
    const r = mulberry32(7);
    const offsets: number[] = [];
    const sync = new FrameSync({ accept: 'device', onFrame: (_f, at) => offsets.push(at) });
    const out = feed(sync, stream, () => Math.floor(r() * 150));
    expect(out).toEqual(frames);
    expect(offsets).toEqual(frames.map((_, i) => i * 64));
  });

  it('skips noise before, between and after frames, byte-exactly', () => {
    const noise = Buffer.from([0xe5, 0x00, 0xe5, 0x51, 0x01, 0x02, 0x51, 0xe5]);
    const bytes = Buffer.concat([noise, encodeFrame(frames[0]!), noise, noise, encodeFrame(frames[1]!), noise]);
    const offsets: number[] = [];
    const sync = new FrameSync({ onFrame: (_f, at) => offsets.push(at) });
    const out = feed(sync, bytes, () => 5);
    expect(out).toEqual(frames.slice(0, 2));
    expect(offsets).toEqual([8, 8 + 64 + 16]);
    // the final noise has E5 51 at its index 2: held back as a possible frame start until flush
    expect(sync.pending).toBe(6);
    expect(sync.flush()).toBe(6);
    expect(sync.stats.bytesSkipped).toBe(32);
    expect(sync.stats.frames).toBe(2);
  });

  it('counts a corrupt frame once and re-locks on the very next frame', () => {
    const bytes = Buffer.from(stream.subarray(0, 64 * 4));
    bytes[64 + 20]! ^= 0x10; // frame 1 payload bit
    const sync = new FrameSync({ accept: 'device' });
    const out = sync.push(bytes);
    expect(out).toEqual([frames[0], frames[2], frames[3]]);
    expect(sync.stats.crcErrors).toBe(1);
    expect(sync.stats.bytesSkipped).toBe(64);
  });

  it('drops a CRC-valid TRIALS with a reserved record bit whole, counts it and reports it', () => {
    const good = encodeFrame({
      kind: 'TRIALS',
      flags: 0,
      seq: 5,
      first: 100,
      n: 3,
      records: Uint8Array.from([1, 2, 3]),
    });
    const payload = Buffer.from(good.subarray(8, 60));
    payload[12 + 2]! |= 0x80;
    const bad = encodeRaw(1, 0, 6, payload);
    const errors: FrameError[] = [];
    const sync = new FrameSync({ accept: 'device', onInvalid: (e) => errors.push(e) });
    const out = sync.push(Buffer.concat([good, bad, good]));
    expect(out.length).toBe(2);
    expect(sync.stats.invalid.reserved).toBe(1);
    expect(sync.stats.bytesSkipped).toBe(64);
    expect(errors.length).toBe(1);
    expect(errors[0]).toMatchObject({ reason: 'reserved', field: 'records[2]', payloadOffset: 14, type: 1, seq: 6 });
  });

  it('skips and counts a frame of an undefined type (PROTOCOL 3), without emitting it', () => {
    const unknown: UnknownFrame[] = [];
    const sync = new FrameSync({ onUnknown: (f) => unknown.push(f) });
    const out = sync.push(
      Buffer.concat([encodeRaw(0x07, 0x80, 9, Uint8Array.from([1, 2, 3])), encodeFrame(frames[0]!)]),
    );
    expect(out).toEqual([frames[0]]);
    expect(sync.stats.unknownTypes).toBe(1);
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatchObject({ kind: 'UNKNOWN', type: 7, flags: 0x80, seq: 9 });
    expect(Array.from(unknown[0]!.payload.subarray(0, 4))).toEqual([1, 2, 3, 0]);
  });

  it("drops frames of the other direction as 'direction'", () => {
    const hostFrame = randomFrameOf(mulberry32(3), HOST_LAYOUTS);
    const both = Buffer.concat([encodeFrame(hostFrame), encodeFrame(frames[0]!)]);
    const atHost = new FrameSync({ accept: 'device' });
    expect(atHost.push(both)).toEqual([frames[0]]);
    expect(atHost.stats.invalid.direction).toBe(1);
    const atDevice = new FrameSync({ accept: 'host' });
    expect(atDevice.push(both)).toEqual([hostFrame]);
    expect(atDevice.stats.invalid.direction).toBe(1);
    const tap = new FrameSync({ accept: 'any' });
    expect(tap.push(both)).toEqual([hostFrame, frames[0]]);
  });

  it('holds at most 63 bytes and only while they may start a frame', () => {
    const sync = new FrameSync();
    sync.push(Buffer.alloc(1000, 0x00));
    expect(sync.pending).toBe(0);
    sync.push(stream.subarray(0, 63));
    expect(sync.pending).toBe(63);
    sync.push(stream.subarray(63, 64));
    expect(sync.pending).toBe(0);
    expect(sync.stats.frames).toBe(1);
    expect(sync.stats.bytesSkipped).toBe(1000);
  });

  it('finishes the push and then rethrows when a callback throws', () => {
    let calls = 0;
    const sync = new FrameSync({
      onFrame: () => {
        calls++;
        if (calls === 1) throw new Error('listener failed');
      },
    });
    expect(() => sync.push(stream.subarray(0, 64 * 3 + 10))).toThrow('listener failed');
    expect(calls).toBe(3);
    expect(sync.pending).toBe(10);
    expect(sync.push(stream.subarray(64 * 3 + 10, 64 * 5))).toEqual([frames[3], frames[4]]);
  });

  it('rejects an unknown accept option', () => {
    expect(() => new FrameSync({ accept: 'both' as never })).toThrow(TypeError);
  });
});

describe('FrameDecoder', () => {
  async function run(decoder: FrameDecoder, writable: NodeJS.WritableStream, chunks: Buffer[]): Promise<Frame[]> {
    const out: Frame[] = [];
    decoder.on('data', (f: Frame) => out.push(f));
    for (const c of chunks) writable.write(c);
    writable.end();
    await once(decoder, 'end');
    return out;
  }

  it('emits the frames of a chunked stream, emits invalid events, never pushes the partial tail', async () => {
    const payload = Buffer.from(encodeFrame(frames[0]!).subarray(8, 60));
    const bad = encodeRaw(0x05, 0, 1, Buffer.from([0, 0, 0, 0, 0x81, 9])); // ACK status 9
    const bytes = Buffer.concat([stream.subarray(0, 64 * 3), bad, stream.subarray(64 * 3, 64 * 5 + 40)]);
    expect(payload.length).toBe(52);
    const decoder = new FrameDecoder({ accept: 'device' });
    const invalid: FrameError[] = [];
    decoder.on('invalid', (e: FrameError) => invalid.push(e));
    const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 65), bytes.subarray(65, 300), bytes.subarray(300)];
    const out = await run(decoder, decoder, chunks);
    expect(out).toEqual(frames.slice(0, 5));
    expect(invalid.map((e) => [e.reason, e.field, e.payloadOffset])).toEqual([['range', 'status', 5]]);
    expect(decoder.stats).toMatchObject({ frames: 5, bytesIn: bytes.length, bytesSkipped: 64 + 40 });
  });

  it("turns a throwing 'invalid' listener into a stream error, after the chunk's frames", async () => {
    const bad = encodeRaw(0x05, 0, 1, Buffer.from([0, 0, 0, 0, 0x81, 9]));
    const decoder = new FrameDecoder({ accept: 'device' });
    const out: Frame[] = [];
    decoder.on('data', (f: Frame) => out.push(f));
    decoder.on('invalid', () => {
      throw new Error('stop the run');
    });
    decoder.write(Buffer.concat([bad, stream.subarray(0, 64)]));
    const [err] = (await once(decoder, 'error')) as [Error];
    expect(err.message).toBe('stop the run');
    expect(out).toEqual([frames[0]]);
  });
});

describe('FrameSync TRIALS sink (frames read in place, no object per frame)', () => {
  // Valid device frames, and TRIALS frames each breaking one rule with a good CRC: the sink must see exactly the
  // frames the decoded path emits, and the broken ones must reach onInvalid with the decoder's exact error.
  const r = mulberry32(7);
  const trials = (n: number, first: number): Buffer =>
    encodeFrame({ kind: 'TRIALS', seq: first, flags: 0, first, n, records: new Uint8Array(n).fill(0x2a) });
  const broken = (f: Buffer, edit: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(f);
    edit(b);
    writeFrameCrc(b);
    return b;
  };
  const parts: Buffer[] = [];
  for (let i = 0; i < 60; i++) parts.push(encodeFrame(randomFrameOf(r, DEVICE_LAYOUTS)));
  parts.push(
    broken(trials(40, 1), (b) => (b[8 + 12 + 5] = 0x40)), // record bits 7-6 reserved
    broken(trials(10, 2), (b) => (b[8 + 12 + 11] = 1)), // a byte after the n records
    broken(trials(10, 3), (b) => (b[8 + 8] = 41)), // n out of range
    broken(trials(10, 4), (b) => (b[8 + 8] = 0)), // n = 0
    broken(trials(10, 5), (b) => (b[3] = 0x80)), // an undefined flag
    broken(trials(10, 6), (b) => (b[8 + 10] = 1)), // reserved u16
    broken(trials(10, 7), (b) => (b[8 + 7] = 0x01)), // first above 2^53 - 1
    trials(40, 8),
  );
  const bytes = Buffer.concat(parts.flatMap((p, i) => (i % 7 === 3 ? [p, Buffer.from([0xe5, 0x51, 9])] : [p])));

  function scan(withSink: boolean, size: number): { frames: Frame[]; invalid: string[]; stats: unknown } {
    const frames: Frame[] = [];
    const invalid: string[] = [];
    const sync = new FrameSync({
      accept: 'device',
      onFrame: (f) => frames.push(f),
      onInvalid: (e) => invalid.push(`${e.reason} ${e.field} ${e.message}`),
      ...(withSink
        ? {
            onTrials: (src: Uint8Array, at: number, n: number, flags: number, seq: number, first: number) =>
              frames.push({ kind: 'TRIALS', flags, seq, first, n, records: Uint8Array.from(src.subarray(at, at + n)) }),
          }
        : {}),
    });
    for (let o = 0; o < bytes.length; o += size) sync.feed(bytes.subarray(o, o + size));
    return { frames, invalid, stats: sync.stats };
  }

  for (const size of [1, 63, 64, 100, 4096]) {
    it(`gives the decoded path's frames, errors and counters (${size}-byte chunks)`, () => {
      const want = scan(false, size);
      expect(want.invalid).toHaveLength(7);
      expect(want.frames.filter((f) => f.kind === 'TRIALS').length).toBeGreaterThan(1);
      expect(scan(true, size)).toEqual(want);
    });
  }

  it('is not used for host frames (accept host)', () => {
    const got: number[] = [];
    const sync = new FrameSync({ accept: 'host', onTrials: () => got.push(1) });
    sync.feed(trials(40, 0));
    expect(got).toEqual([]);
    expect(sync.stats.invalid.direction).toBe(1);
  });
});
