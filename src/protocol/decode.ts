/**
 * Frame decoder (PROTOCOL 3-5): 64 bytes in, a typed frame out, or a
 * FrameError saying which rule the bytes broke. Driven by the layouts of
 * frames.json; checks in this order: length, magic, CRC, flags, then the
 * payload in offset order (so the error names the lowest bad payload offset).
 *
 *   offset  0      2     3      4        8                     60      64
 *           +------+-----+------+--------+---------------------+-------+
 *           | E5 51| type| flags| seq u32| payload (52 bytes)   | crc32 |
 *           +------+-----+------+--------+---------------------+-------+
 *
 * What counts as "not a frame" (PROTOCOL 3): wrong magic, wrong CRC, an
 * undefined flag bit (only TRIALS defines flags), a non-zero reserved bit or
 * byte (unused payload bytes, bytes after the n records or count settings,
 * record bits 6-7, reserved u16s, undefined fault/capability bits, ASCII
 * padding), a field outside its stated range (enums included). A u64 above
 * 2^53 - 1 is reported as 'range': this host keeps u64 as numbers and will
 * not round them.
 *
 * A well-framed frame of a type protocol 1.0 does not define decodes to an
 * UnknownFrame (PROTOCOL 3: skipped and counted, not corruption).
 */
import { frameCrc, frameCrcOk, storedCrc } from './crc.ts';
import { FrameError, flagsError, rangeError, reservedError } from './errors.ts';
import { layoutOf, layoutOfType, scalarOf, type FieldOp, type TypeLayout } from './layouts.ts';
import {
  FRAME_SIZE,
  MAGIC0,
  MAGIC1,
  PAYLOAD_OFFSET,
  PAYLOAD_SIZE,
  type Frame,
  type TrialsFrame,
  type UnknownFrame,
} from './types.ts';

const TWO_POW_32 = 4294967296;
const MAX_SAFE_HI = Math.floor(Number.MAX_SAFE_INTEGER / TWO_POW_32); // 0x1fffff

const hex = (v: number, digits: number): string => v.toString(16).padStart(digits, '0');

function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/**
 * Checks length, magic and CRC of the 64 bytes at `offset` (PROTOCOL 3);
 * throws FrameError 'length', 'magic' or 'crc'.
 */
export function checkFraming(bytes: Uint8Array, offset = 0): void {
  if (!Number.isInteger(offset) || offset < 0 || bytes.length - offset < FRAME_SIZE) {
    throw new FrameError(
      'length',
      `a frame is 64 bytes, got ${Math.max(0, bytes.length - Math.max(0, offset))} at offset ${offset}`,
    );
  }
  if (bytes[offset] !== MAGIC0 || bytes[offset + 1] !== MAGIC1) {
    throw new FrameError(
      'magic',
      `bad magic ${hex(bytes[offset]!, 2)} ${hex(bytes[offset + 1]!, 2)} (expected e5 51, PROTOCOL 3)`,
    );
  }
  if (!frameCrcOk(bytes, offset)) {
    const stored = storedCrc(bytes, offset);
    const computed = frameCrc(bytes, offset);
    throw new FrameError(
      'crc',
      `CRC mismatch: frame says ${hex(stored, 8)}, bytes 0..59 give ${hex(computed, 8)} (PROTOCOL 3)`,
    );
  }
}

/**
 * Decodes the 64 bytes at `offset`: a typed frame, or an UnknownFrame for an
 * undefined type. Throws FrameError (see the module comment).
 */
export function decodeFrame(bytes: Uint8Array, offset = 0): Frame | UnknownFrame {
  checkFraming(bytes, offset);
  return decodeFramed(bytes, offset);
}

/**
 * Decodes 64 bytes whose length, magic and CRC are already checked
 * (FrameSync calls this after its own CRC check). Throws FrameError for
 * flags, reserved and range problems.
 */
export function decodeFramed(bytes: Uint8Array, offset: number): Frame | UnknownFrame {
  const type = bytes[offset + 2]!;
  const flags = bytes[offset + 3]!;
  const seq = readU32(bytes, offset + 4);
  if (type === TRIALS_TYPE) {
    const f = decodeTrialsFast(bytes, offset, flags, seq);
    if (f) return f;
    // something is off: the generic path finds it and throws the exact error
  }
  const layout = layoutOfType(type);
  if (!layout) {
    const payload = new Uint8Array(PAYLOAD_SIZE);
    payload.set(bytes.subarray(offset + PAYLOAD_OFFSET, offset + PAYLOAD_OFFSET + PAYLOAD_SIZE));
    return { kind: 'UNKNOWN', type, flags, seq, payload };
  }
  return decodeWithLayout(layout, bytes, offset, flags, seq);
}

// ---- TRIALS fast path: most of the traffic. Offsets come from the layout; any
// frame it does not accept goes to the generic path, which throws the exact error.
const TRIALS_LAYOUT = layoutOf('TRIALS');
const TRIALS_TYPE = TRIALS_LAYOUT.type;
const T_FLAGS_MASK = TRIALS_LAYOUT.flagsMask;
const T_FIRST_OP = scalarOf(TRIALS_LAYOUT, 'first');
const T_N_OP = scalarOf(TRIALS_LAYOUT, 'n');
const T_FIRST = T_FIRST_OP.offset;
const T_N = T_N_OP.offset;
const [T_N_MIN, T_N_MAX] = T_N_OP.firstRange;
const T_REC_OP = TRIALS_LAYOUT.ops.find((op) => op.op === 'records');
if (T_REC_OP?.op !== 'records' || T_REC_OP.bitsPerItem !== 8)
  throw new Error('frames.json: TRIALS records must be byte records');
const T_REC = T_REC_OP.offset;
const T_REC_RESERVED = T_REC_OP.reservedBitsMask;
const T_REC_SIZE = T_REC_OP.size;
const T_FIXED_OPS = TRIALS_LAYOUT.ops.map((op) => op.op).join(',');
if (T_FIXED_OPS !== 'scalar,scalar,reserved,records' || T_FIRST_OP.kind !== 'u64' || T_N_OP.kind !== 'u16') {
  throw new Error(`frames.json: TRIALS layout changed (${T_FIXED_OPS}); update decodeTrialsFast`);
}
const T_RESERVED_OP = TRIALS_LAYOUT.ops[2] as Extract<FieldOp, { op: 'reserved' }>;

function decodeTrialsFast(bytes: Uint8Array, offset: number, flags: number, seq: number): TrialsFrame | undefined {
  if ((flags & ~T_FLAGS_MASK) !== 0) return undefined;
  const p = offset + PAYLOAD_OFFSET;
  const hi = readU32(bytes, p + T_FIRST + 4);
  if (hi > MAX_SAFE_HI) return undefined;
  const n = bytes[p + T_N]! | (bytes[p + T_N + 1]! << 8);
  if (n < T_N_MIN || n > T_N_MAX) return undefined;
  for (let i = T_RESERVED_OP.offset; i < T_RESERVED_OP.offset + T_RESERVED_OP.size; i++)
    if (bytes[p + i] !== 0) return undefined;
  const r = p + T_REC;
  // Copied and checked in one pass (a Buffer subarray per frame costs more than the copy).
  const records = new Uint8Array(n);
  let bad = 0;
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const v0 = bytes[r + k]!,
      v1 = bytes[r + k + 1]!,
      v2 = bytes[r + k + 2]!,
      v3 = bytes[r + k + 3]!;
    records[k] = v0;
    records[k + 1] = v1;
    records[k + 2] = v2;
    records[k + 3] = v3;
    bad |= v0 | v1 | v2 | v3;
  }
  for (; k < n; k++) {
    const v = bytes[r + k]!;
    records[k] = v;
    bad |= v;
  }
  // PROTOCOL 4 TRIALS: record bits 7 and 6 are reserved.
  if ((bad & T_REC_RESERVED) !== 0) return undefined;
  bad = 0;
  // PROTOCOL 3: bytes after the n records are unused, so zero.
  for (let k = n; k < T_REC_SIZE; k++) bad |= bytes[r + k]!;
  if (bad !== 0) return undefined;
  return { kind: 'TRIALS', flags, seq, first: hi * TWO_POW_32 + readU32(bytes, p + T_FIRST), n, records };
}

function decodeWithLayout(layout: TypeLayout, bytes: Uint8Array, offset: number, flags: number, seq: number): Frame {
  const kind = layout.kind;
  const type = layout.type;
  // PROTOCOL 3: an undefined flag bit makes the frame invalid (only TRIALS defines flags).
  if ((flags & ~layout.flagsMask) !== 0) throw flagsError(kind, flags, layout.flagsMask, type, seq);
  const out: Record<string, unknown> = { kind, flags, seq };
  const p = offset + PAYLOAD_OFFSET;
  for (const op of layout.ops) {
    switch (op.op) {
      case 'reserved': {
        // PROTOCOL 3: unused and reserved bytes are zero.
        for (let i = op.offset; i < op.offset + op.size; i++) {
          if (bytes[p + i] !== 0) throw reservedError(kind, undefined, bytes[p + i]!, bytes[p + i]!, i, type, seq);
        }
        break;
      }
      case 'scalar': {
        const arr: number[] | undefined = op.isArray ? new Array<number>(op.count) : undefined;
        for (let e = 0; e < op.count; e++) {
          const at = op.offset + e * op.itemSize;
          const o = p + at;
          let v: number;
          switch (op.kind) {
            case 'u8':
              v = bytes[o]!;
              break;
            case 'u16':
              v = bytes[o]! | (bytes[o + 1]! << 8);
              break;
            case 'i16':
              v = ((bytes[o]! | (bytes[o + 1]! << 8)) << 16) >> 16;
              break;
            case 'u32':
              v = readU32(bytes, o);
              break;
            case 'u64': {
              const hi = readU32(bytes, o + 4);
              const lo = readU32(bytes, o);
              if (hi > MAX_SAFE_HI) {
                const big = (BigInt(hi) << 32n) | BigInt(lo);
                throw rangeError(
                  kind,
                  layout.section,
                  op.isArray ? `${op.name}[${e}]` : op.name,
                  big,
                  `0..${Number.MAX_SAFE_INTEGER} (u64 above 2^53 - 1 is out of this host's range)`,
                  at,
                  type,
                  seq,
                );
              }
              v = hi * TWO_POW_32 + lo;
              break;
            }
          }
          // PROTOCOL 3: a field outside its stated range is not a frame.
          let ok = false;
          for (const [lo, hi] of op.ranges) {
            if (v >= lo && v <= hi) {
              ok = true;
              break;
            }
          }
          const field = op.isArray ? `${op.name}[${e}]` : op.name;
          if (!ok) throw rangeError(kind, layout.section, field, v, op.rangeText, at, type, seq);
          // Undefined bits of a bitfield (fault bits, capability bits) are reserved.
          if (op.bitsMask !== undefined && (v & ~op.bitsMask) !== 0)
            throw reservedError(kind, field, v, (v & ~op.bitsMask) >>> 0, at, type, seq);
          if (arr) arr[e] = v;
          else out[op.name] = v;
        }
        if (arr) out[op.name] = arr;
        break;
      }
      case 'records': {
        const count = out[op.countField] as number; // decoded and range-checked: its op comes first
        const base = p + op.offset;
        if (op.bitsPerItem === 8) {
          const records = new Uint8Array(count);
          for (let k = 0; k < count; k++) {
            const v = bytes[base + k]!;
            // PROTOCOL 4 TRIALS: record bits 7 and 6 are reserved.
            if ((v & op.reservedBitsMask) !== 0)
              throw reservedError(kind, `${op.name}[${k}]`, v, v & op.reservedBitsMask, op.offset + k, type, seq);
            records[k] = v;
          }
          // Bytes after the count items are unused, so zero (PROTOCOL 3).
          for (let i = count; i < op.size; i++) {
            if (bytes[base + i] !== 0)
              throw reservedError(kind, undefined, bytes[base + i]!, bytes[base + i]!, op.offset + i, type, seq);
          }
          out[op.name] = records;
        } else {
          const items = new Uint8Array(count);
          const itemMask = (1 << op.bitsPerItem) - 1;
          for (let k = 0; k < count; k++) {
            const bit = k * op.bitsPerItem;
            const w = (bytes[base + (bit >> 3)]! >> (bit & 7)) & itemMask;
            // PROTOCOL 5 SETTINGS: x = bit 2k, y = bit 2k+1; typed value is (x << 1) | y.
            items[k] = op.bitsPerItem === 2 ? ((w & 1) << 1) | (w >> 1) : w;
          }
          // Bits after the count items are unused, so zero (PROTOCOL 3).
          const usedBits = count * op.bitsPerItem;
          const firstFree = usedBits >> 3;
          for (let i = firstFree; i < op.size; i++) {
            const keep = i === firstFree ? (1 << (usedBits & 7)) - 1 : 0;
            const extra = bytes[base + i]! & ~keep & 0xff;
            if (extra !== 0) {
              if (i === firstFree && keep !== 0)
                throw reservedError(kind, `${op.name} byte ${i}`, bytes[base + i]!, extra, op.offset + i, type, seq);
              throw reservedError(kind, undefined, bytes[base + i]!, bytes[base + i]!, op.offset + i, type, seq);
            }
          }
          out[op.name] = items;
        }
        break;
      }
      case 'ascii': {
        // PROTOCOL 4 INFO: ASCII, NUL-padded.
        let s = '';
        let i = 0;
        for (; i < op.size; i++) {
          const c = bytes[p + op.offset + i]!;
          if (c === 0) break;
          if (c < 0x20 || c > 0x7e)
            throw rangeError(
              kind,
              layout.section,
              op.name,
              `byte 0x${hex(c, 2)}`,
              'printable ASCII',
              op.offset + i,
              type,
              seq,
            );
          s += String.fromCharCode(c);
        }
        for (; i < op.size; i++) {
          const c = bytes[p + op.offset + i]!;
          if (c !== 0) throw reservedError(kind, `${op.name} padding`, c, c, op.offset + i, type, seq);
        }
        out[op.name] = s;
        break;
      }
    }
  }
  return out as unknown as Frame;
}
