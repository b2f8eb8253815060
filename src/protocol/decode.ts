/**
 * Frame decoder (PROTOCOL 3-5): 64 bytes in, a typed frame out, or a FrameError saying which rule the bytes broke.
 * Driven by the layouts of frames.json; checks in this order: length, magic, CRC, flags, then the payload in offset
 * order (so the error names the lowest bad payload offset). More in README.md (decode.ts).
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
  const seq = frameSeq(bytes, offset);
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

/**
 * The record count n of the TRIALS frame at `offset` (length, magic and CRC already checked) when it passes every
 * check of its layout, without decoding it: flags, first below 2^53, n in range, reserved bytes, record bits 7-6,
 * the bytes after the n records zero. -1 when it fails one: decodeFramed then throws the exact FrameError.
 * FrameSync's TRIALS sink reads the frame in place with this (no object per frame).
 */
export function trialsRecordCount(bytes: Uint8Array, offset: number): number {
  if ((bytes[offset + 3]! & ~T_FLAGS_MASK) !== 0) return -1;
  const p = offset + PAYLOAD_OFFSET;
  if (readU32(bytes, p + T_FIRST + 4) > MAX_SAFE_HI) return -1;
  const n = bytes[p + T_N]! | (bytes[p + T_N + 1]! << 8);
  if (n < T_N_MIN || n > T_N_MAX) return -1;
  let bad = 0;
  for (let i = T_RESERVED_OP.offset; i < T_RESERVED_OP.offset + T_RESERVED_OP.size; i++) bad |= bytes[p + i]!;
  if (bad !== 0) return -1;
  const r = p + T_REC;
  let k = 0;
  for (; k + 4 <= n; k += 4) bad |= bytes[r + k]! | bytes[r + k + 1]! | bytes[r + k + 2]! | bytes[r + k + 3]!;
  for (; k < n; k++) bad |= bytes[r + k]!;
  // PROTOCOL 4 TRIALS: record bits 7 and 6 are reserved.
  if ((bad & T_REC_RESERVED) !== 0) return -1;
  bad = 0;
  // PROTOCOL 3: bytes after the n records are unused, so zero.
  for (let k = n; k < T_REC_SIZE; k++) bad |= bytes[r + k]!;
  return bad === 0 ? n : -1;
}

/** PROTOCOL 3: the seq of the frame at `offset` (u32 little-endian at 4). */
export function frameSeq(bytes: Uint8Array, offset: number): number {
  return readU32(bytes, offset + 4);
}

/** Where the records of the TRIALS frame at `offset` begin in `bytes`. */
export function trialsRecordsAt(offset: number): number {
  return offset + PAYLOAD_OFFSET + T_REC;
}

/** The first trial index of the TRIALS frame at `offset` (checked below 2^53 by trialsRecordCount). */
export function trialsFirst(bytes: Uint8Array, offset: number): number {
  const p = offset + PAYLOAD_OFFSET + T_FIRST;
  return readU32(bytes, p + 4) * TWO_POW_32 + readU32(bytes, p);
}

function decodeTrialsFast(bytes: Uint8Array, offset: number, flags: number, seq: number): TrialsFrame | undefined {
  const n = trialsRecordCount(bytes, offset);
  if (n < 0) return undefined;
  const r = trialsRecordsAt(offset);
  const records = new Uint8Array(n);
  for (let k = 0; k < n; k++) records[k] = bytes[r + k]!;
  return { kind: 'TRIALS', flags, seq, first: trialsFirst(bytes, offset), n, records };
}

function decodeWithLayout(layout: TypeLayout, bytes: Uint8Array, offset: number, flags: number, seq: number): Frame {
  // PROTOCOL 3: an undefined flag bit makes the frame invalid (only TRIALS defines flags).
  if ((flags & ~layout.flagsMask) !== 0) throw flagsError(layout.kind, flags, layout.flagsMask, layout.type, seq);
  const out: Record<string, unknown> = { kind: layout.kind, flags, seq };
  const at: Where = { layout, bytes, p: offset + PAYLOAD_OFFSET, seq };
  for (const op of layout.ops) {
    switch (op.op) {
      case 'reserved':
        checkZero(at, op.offset, op.offset + op.size);
        break;
      case 'scalar':
        out[op.name] = op.isArray ? decodeScalarArray(at, op) : decodeScalarAt(at, op, 0);
        break;
      case 'records': {
        const count = out[op.countField] as number; // decoded and range-checked: its op comes first
        out[op.name] = op.bitsPerItem === 8 ? decodeByteRecords(at, op, count) : decodePackedItems(at, op, count);
        break;
      }
      case 'ascii':
        out[op.name] = decodeAscii(at, op);
        break;
    }
  }
  return out as unknown as Frame;
}

/** The frame being decoded: its layout, its bytes, the payload's start, its seq (for error messages). */
interface Where {
  layout: TypeLayout;
  bytes: Uint8Array;
  p: number;
  seq: number;
}

type ScalarOp = Extract<FieldOp, { op: 'scalar' }>;
type RecordsOp = Extract<FieldOp, { op: 'records' }>;
type AsciiOp = Extract<FieldOp, { op: 'ascii' }>;

function reserved(w: Where, field: string | undefined, value: number, bits: number, payloadOffset: number): FrameError {
  return reservedError(w.layout.kind, field, value, bits, payloadOffset, w.layout.type, w.seq);
}

/** PROTOCOL 3: unused and reserved bytes are zero (payload offsets from..to-1). */
function checkZero(w: Where, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const b = w.bytes[w.p + i]!;
    if (b !== 0) throw reserved(w, undefined, b, b, i);
  }
}

function decodeScalarArray(w: Where, op: ScalarOp): number[] {
  const arr = new Array<number>(op.count);
  for (let e = 0; e < op.count; e++) arr[e] = decodeScalarAt(w, op, e);
  return arr;
}

/** Element e of a scalar field, checked against its stated range and reserved bits. */
function decodeScalarAt(w: Where, op: ScalarOp, e: number): number {
  const at = op.offset + e * op.itemSize;
  const field = op.isArray ? `${op.name}[${e}]` : op.name;
  const v = readScalar(w, op, at, field);
  // PROTOCOL 3: a field outside its stated range is not a frame.
  if (!op.ranges.some(([lo, hi]) => v >= lo && v <= hi))
    throw rangeError(w.layout.kind, w.layout.section, field, v, op.rangeText, at, w.layout.type, w.seq);
  // Undefined bits of a bitfield (fault bits, capability bits) are reserved.
  if (op.bitsMask !== undefined && (v & ~op.bitsMask) !== 0) throw reserved(w, field, v, (v & ~op.bitsMask) >>> 0, at);
  return v;
}

/** A little-endian scalar at payload offset `at`; a u64 above 2^53 - 1 is refused, never rounded. */
function readScalar(w: Where, op: ScalarOp, at: number, field: string): number {
  const bytes = w.bytes;
  const o = w.p + at;
  switch (op.kind) {
    case 'u8':
      return bytes[o]!;
    case 'u16':
      return bytes[o]! | (bytes[o + 1]! << 8);
    case 'i16':
      return ((bytes[o]! | (bytes[o + 1]! << 8)) << 16) >> 16;
    case 'u32':
      return readU32(bytes, o);
    case 'u64': {
      const hi = readU32(bytes, o + 4);
      const lo = readU32(bytes, o);
      if (hi > MAX_SAFE_HI) {
        const big = (BigInt(hi) << 32n) | BigInt(lo);
        const range = `0..${Number.MAX_SAFE_INTEGER} (u64 above 2^53 - 1 is out of this host's range)`;
        throw rangeError(w.layout.kind, w.layout.section, field, big, range, at, w.layout.type, w.seq);
      }
      return hi * TWO_POW_32 + lo;
    }
  }
}

/** Byte records (PROTOCOL 4 TRIALS): `count` used, reserved bits clear, the rest of the field zero. */
function decodeByteRecords(w: Where, op: RecordsOp, count: number): Uint8Array {
  const base = w.p + op.offset;
  const records = new Uint8Array(count);
  for (let k = 0; k < count; k++) {
    const v = w.bytes[base + k]!;
    // PROTOCOL 4 TRIALS: record bits 7 and 6 are reserved.
    if ((v & op.reservedBitsMask) !== 0)
      throw reserved(w, `${op.name}[${k}]`, v, v & op.reservedBitsMask, op.offset + k);
    records[k] = v;
  }
  // Bytes after the count items are unused, so zero (PROTOCOL 3).
  checkZero(w, op.offset + count, op.offset + op.size);
  return records;
}

/** Packed items (PROTOCOL 5 SETTINGS, 2 bits each), unpacked; the bits after `count` items zero. */
function decodePackedItems(w: Where, op: RecordsOp, count: number): Uint8Array {
  const base = w.p + op.offset;
  const items = new Uint8Array(count);
  const itemMask = (1 << op.bitsPerItem) - 1;
  for (let k = 0; k < count; k++) {
    const bit = k * op.bitsPerItem;
    const v = (w.bytes[base + (bit >> 3)]! >> (bit & 7)) & itemMask;
    // PROTOCOL 5 SETTINGS: x = bit 2k, y = bit 2k+1; typed value is (x << 1) | y.
    items[k] = op.bitsPerItem === 2 ? ((v & 1) << 1) | (v >> 1) : v;
  }
  // Bits after the count items are unused, so zero (PROTOCOL 3).
  const usedBits = count * op.bitsPerItem;
  const firstFree = usedBits >> 3;
  const keep = (1 << (usedBits & 7)) - 1;
  if (firstFree < op.size && keep !== 0) {
    const b = w.bytes[base + firstFree]!;
    const extra = b & ~keep & 0xff;
    if (extra !== 0) throw reserved(w, `${op.name} byte ${firstFree}`, b, extra, op.offset + firstFree);
    checkZero(w, op.offset + firstFree + 1, op.offset + op.size);
  } else {
    checkZero(w, op.offset + firstFree, op.offset + op.size);
  }
  return items;
}

/** PROTOCOL 4 INFO: printable ASCII, NUL-padded. */
function decodeAscii(w: Where, op: AsciiOp): string {
  const base = w.p + op.offset;
  let s = '';
  let i = 0;
  for (; i < op.size; i++) {
    const c = w.bytes[base + i]!;
    if (c === 0) break;
    if (c < 0x20 || c > 0x7e) {
      const { kind, section, type } = w.layout;
      throw rangeError(kind, section, op.name, `byte 0x${hex(c, 2)}`, 'printable ASCII', op.offset + i, type, w.seq);
    }
    s += String.fromCharCode(c);
  }
  for (; i < op.size; i++) {
    const c = w.bytes[base + i]!;
    if (c !== 0) throw reserved(w, `${op.name} padding`, c, c, op.offset + i);
  }
  return s;
}
