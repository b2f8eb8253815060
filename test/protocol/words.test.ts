/**
 * TRIALS records wherever they lie in memory (a frame that starts a 32-bit word or not): the same record
 * count, refusals and copy; and word views (src/protocol/words.ts) never read past their end.
 */
import { describe, expect, it } from 'vitest';
import { trialsRecordCount } from '../../src/protocol/decode.ts';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { wordIndex, wordsOf } from '../../src/protocol/words.ts';
import { TrialsBatch } from '../../src/device/trials-batch.ts';
import { mulberry32 } from './gen.ts';

const RECORDS_AT = 20; // PROTOCOL 4 TRIALS: payload offset 12 of a frame's payload at 8

function trialsFrame(rand: () => number, n: number): Buffer {
  const records = Uint8Array.from({ length: n }, () => Math.floor(rand() * 64));
  return encodeFrame({ kind: 'TRIALS', flags: 0, seq: 5, first: 1234, n, records });
}

/** The frame's bytes at byte `shift` of a fresh buffer (0: word-aligned; 1..3: not). */
function at(frame: Uint8Array, shift: number): Uint8Array {
  const bytes = new Uint8Array(shift + frame.length + 4);
  bytes.set(frame, shift);
  return bytes;
}

describe('TRIALS records at any alignment, and word views', () => {
  it('count the records of a valid frame, and refuse a reserved bit or a used unused byte, at every alignment', () => {
    const rand = mulberry32(7);
    let refused = 0;
    for (let t = 0; t < 400; t++) {
      const n = t % 4 === 0 ? 1 + Math.floor(rand() * 39) : 40;
      const frame = trialsFrame(rand, n);
      const bad = Uint8Array.from(frame);
      const kind = t % 3;
      // kind 0: a reserved bit in one record; 2: a nonzero byte after the n records (a full frame: a reserved bit)
      if (kind === 2 && n < 40) bad[RECORDS_AT + n + Math.floor(rand() * (40 - n))] = 1 + Math.floor(rand() * 255);
      else if (kind !== 1) bad[RECORDS_AT + Math.floor(rand() * n)]! |= rand() < 0.5 ? 0x40 : 0x80;
      const counts = [0, 1, 2, 3].map((s) => trialsRecordCount(at(frame, s), s));
      const badCounts = [0, 1, 2, 3].map((s) => trialsRecordCount(at(bad, s), s));
      expect(counts).toEqual([n, n, n, n]);
      const want = kind === 1 ? n : -1;
      expect(badCounts).toEqual([want, want, want, want]);
      if (want < 0) refused++;
    }
    expect(refused).toBeGreaterThan(200);
  });

  it('copy a full frame into a batch as the bytes are, at every alignment', () => {
    const rand = mulberry32(8);
    const frame = trialsFrame(rand, 40);
    const b = new TrialsBatch(4);
    for (const s of [0, 1, 2, 3]) b.append(at(frame, s), s + RECORDS_AT, 40, 0, s, 40 * s);
    for (let i = 0; i < 4; i++)
      expect(b.records.subarray(b.recordsAt(i), b.recordsAt(i) + 40)).toEqual(
        Uint8Array.from(frame.subarray(RECORDS_AT, RECORDS_AT + 40)),
      );
  });

  it('never read past the view: memory grown after its view was made is read byte by byte', () => {
    type Resizable = ArrayBuffer & { resize(bytes: number): void };
    const Growable = ArrayBuffer as unknown as new (bytes: number, options: { maxByteLength: number }) => Resizable;
    const buffer = new Growable(64, { maxByteLength: 256 });
    const bytes = new Uint8Array(buffer); // tracks the buffer's length
    expect(wordIndex(bytes, 0, 16)).toBe(0);
    expect(wordsOf(bytes).length).toBe(16);
    buffer.resize(256);
    expect(wordIndex(bytes, 64, 16)).toBe(-1);
    expect(wordIndex(bytes, 1, 1)).toBe(-1);
    expect(wordIndex(new Uint8Array(buffer, 4, 8), 4, 1)).toBe(2);
  });
});
