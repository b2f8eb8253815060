/**
 * The per-frame JS CRC (slicing-by-16) and its residue check against
 * node:zlib's CRC-32, the reference for PROTOCOL 3's CRC.
 */
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CRC32_RESIDUE, crc32Of, frameCrc, frameCrcOk, storedCrc, writeFrameCrc } from '../../src/protocol/crc.ts';
import { mulberry32 } from '../prng.ts';

function randomBytes(n: number, seed: number): Buffer {
  const rand = mulberry32(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

describe('frameCrc', () => {
  it('is zlib crc32 of bytes 0..59, at every offset of a buffer', () => {
    const b = randomBytes(64 * 40 + 7, 1);
    for (let offset = 0; offset + 64 <= b.length; offset += 13) {
      expect(frameCrc(b, offset)).toBe(crc32(b.subarray(offset, offset + 60)) >>> 0);
    }
  });

  it('matches zlib on all-zero, all-ones and single-bit frames (every table entry path)', () => {
    const zero = new Uint8Array(64);
    expect(frameCrc(zero)).toBe(crc32(zero.subarray(0, 60)) >>> 0);
    const ones = new Uint8Array(64).fill(0xff);
    expect(frameCrc(ones)).toBe(crc32(ones.subarray(0, 60)) >>> 0);
    for (let bit = 0; bit < 60 * 8; bit++) {
      const f = new Uint8Array(64);
      f[bit >> 3] = 1 << (bit & 7);
      expect(frameCrc(f)).toBe(crc32(f.subarray(0, 60)) >>> 0);
    }
  });

  it('writeFrameCrc stores it little-endian at 60..63', () => {
    const f = randomBytes(64, 2);
    writeFrameCrc(f);
    expect(f.readUInt32LE(60)).toBe(crc32(f.subarray(0, 60)) >>> 0);
    expect(storedCrc(f)).toBe(f.readUInt32LE(60));
  });

  it('crc32Of is zlib crc32 of the range', () => {
    const b = randomBytes(1000, 3);
    expect(crc32Of(b)).toBe(crc32(b) >>> 0);
    expect(crc32Of(b, 17, 600)).toBe(crc32(b.subarray(17, 600)) >>> 0);
  });
});

describe('frameCrcOk (residue check)', () => {
  it('the residue is the CRC-32 of any bytes followed by their CRC', () => {
    const f = randomBytes(64, 4);
    writeFrameCrc(f);
    expect(crc32(f) >>> 0).toBe(CRC32_RESIDUE);
  });

  it('accepts exactly the frames whose stored CRC is right', () => {
    const rand = mulberry32(5);
    for (let k = 0; k < 2000; k++) {
      const b = randomBytes(64 + 3, 100 + k);
      const offset = k % 4;
      writeFrameCrc(b, offset);
      expect(frameCrcOk(b, offset)).toBe(true);
      // one random bit flipped anywhere in the 64 bytes (data or CRC): a CRC catches every single-bit error
      const bit = Math.floor(rand() * 64 * 8);
      b[offset + (bit >> 3)]! ^= 1 << (bit & 7);
      expect(frameCrcOk(b, offset)).toBe(false);
      expect(storedCrc(b, offset) === frameCrc(b, offset)).toBe(false);
    }
  });

  it('agrees with comparing the stored and computed CRC on random frames', () => {
    // random stored CRCs, a quarter of them right
    for (let k = 0; k < 2000; k++) {
      const f = randomBytes(64, 5000 + k);
      if (k % 4 === 0) writeFrameCrc(f);
      expect(frameCrcOk(f)).toBe(storedCrc(f) === crc32(f.subarray(0, 60)) >>> 0);
    }
  });
});
