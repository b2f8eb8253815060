/**
 * PROTOCOL 3: CRC-32 (IEEE 802.3 / zlib: reflected poly 0x04C11DB7, init and
 * xorout 0xFFFFFFFF) over frame bytes 0..59, stored little-endian at 60..63.
 * node:zlib's crc32 (Node >= 20.15) is that CRC, computed natively.
 */
import { crc32 } from 'node:zlib';
import { CRC_OFFSET } from './types.ts';

/** CRC-32 of bytes [start, end) of `bytes`. */
export function crc32Of(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end)) >>> 0;
}

/** CRC-32 over bytes 0..59 of the frame at `offset` (PROTOCOL 3). */
export function frameCrc(bytes: Uint8Array, offset = 0): number {
  return crc32(bytes.subarray(offset, offset + CRC_OFFSET)) >>> 0;
}

/** The CRC stored in the frame at `offset` (u32 little-endian at 60). */
export function storedCrc(bytes: Uint8Array, offset = 0): number {
  const o = offset + CRC_OFFSET;
  return (bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24)) >>> 0;
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
