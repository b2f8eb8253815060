/**
 * PROTOCOL 3: CRC-32 (IEEE 802.3 / zlib: reflected poly 0x04C11DB7, init and xorout 0xFFFFFFFF) over frame bytes
 * 0..59, stored little-endian at 60..63. More in README.md (crc.ts).
 */
import { crc32 } from 'node:zlib';
import { CRC_OFFSET, FRAME_SIZE } from './types.ts';

/** Reflected CRC-32 polynomial (0x04C11DB7 bit-reversed). */
const POLY_REFLECTED = 0xedb88320;
/** CRC-32 of any bytes followed by their own CRC-32, little-endian (after the final xor). */
export const CRC32_RESIDUE = 0x2144df1c;

/**
 * Slicing-by-16 tables: T[0..255] is the byte-wise table; T[t * 256 + v] is
 * the CRC register after v followed by t zero bytes (Kounavis & Berry,
 * "A systematic approach to building high performance software-based CRC
 * generators", ISCC 2005).
 */
const T = new Int32Array(16 * 256);
for (let v = 0; v < 256; v++) {
  let c = v;
  for (let k = 0; k < 8; k++) c = c & 1 ? POLY_REFLECTED ^ (c >>> 1) : c >>> 1;
  T[v] = c;
}
for (let t = 1; t < 16; t++) {
  for (let v = 0; v < 256; v++) {
    const prev = T[(t - 1) * 256 + v]!;
    T[t * 256 + v] = (prev >>> 8) ^ T[prev & 0xff]!;
  }
}

/** The CRC register (before the final xor) after bytes[i, i + 16) from register c. */
function step16(c: number, b: Uint8Array, i: number): number {
  const w = c ^ (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
  return (
    T[15 * 256 + (w & 0xff)]! ^
    T[14 * 256 + ((w >>> 8) & 0xff)]! ^
    T[13 * 256 + ((w >>> 16) & 0xff)]! ^
    T[12 * 256 + (w >>> 24)]! ^
    T[11 * 256 + b[i + 4]!]! ^
    T[10 * 256 + b[i + 5]!]! ^
    T[9 * 256 + b[i + 6]!]! ^
    T[8 * 256 + b[i + 7]!]! ^
    T[7 * 256 + b[i + 8]!]! ^
    T[6 * 256 + b[i + 9]!]! ^
    T[5 * 256 + b[i + 10]!]! ^
    T[4 * 256 + b[i + 11]!]! ^
    T[3 * 256 + b[i + 12]!]! ^
    T[2 * 256 + b[i + 13]!]! ^
    T[256 + b[i + 14]!]! ^
    T[b[i + 15]!]!
  );
}

/** The CRC register after bytes[i, i + 4) from register c. */
function step4(c: number, b: Uint8Array, i: number): number {
  const w = c ^ (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24));
  return T[3 * 256 + (w & 0xff)]! ^ T[2 * 256 + ((w >>> 8) & 0xff)]! ^ T[256 + ((w >>> 16) & 0xff)]! ^ T[w >>> 24]!;
}

/** CRC-32 of bytes [start, end) of `bytes`. */
export function crc32Of(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end)) >>> 0;
}

/** CRC-32 over bytes 0..59 of the frame at `offset` (PROTOCOL 3). The caller guarantees 64 bytes there. */
export function frameCrc(bytes: Uint8Array, offset = 0): number {
  // 60 = 3 x 16 + 3 x 4
  let c = step16(-1, bytes, offset);
  c = step16(c, bytes, offset + 16);
  c = step16(c, bytes, offset + 32);
  c = step4(c, bytes, offset + 48);
  c = step4(c, bytes, offset + 52);
  c = step4(c, bytes, offset + 56);
  return ~c >>> 0;
}

/**
 * PROTOCOL 3: whether the CRC stored at 60..63 of the frame at `offset` is the
 * CRC-32 of its bytes 0..59 (by the residue, see the module comment). The
 * caller guarantees 64 bytes there.
 */
export function frameCrcOk(bytes: Uint8Array, offset = 0): boolean {
  let c = step16(-1, bytes, offset);
  c = step16(c, bytes, offset + 16);
  c = step16(c, bytes, offset + 32);
  c = step16(c, bytes, offset + FRAME_SIZE - 16);
  return ~c >>> 0 === CRC32_RESIDUE;
}

/** The CRC stored in the frame at `offset` (u32 little-endian at 60). */
export function storedCrc(bytes: Uint8Array, offset = 0): number {
  const o = offset + CRC_OFFSET;
  return (bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24)) >>> 0;
}

/** Writes the CRC of the frame at `offset` into its bytes 60..63. */
export function writeFrameCrc(bytes: Uint8Array, offset = 0): void {
  const c = frameCrc(bytes, offset);
  const o = offset + CRC_OFFSET;
  bytes[o] = c & 0xff;
  bytes[o + 1] = (c >>> 8) & 0xff;
  bytes[o + 2] = (c >>> 16) & 0xff;
  bytes[o + 3] = c >>> 24;
}
