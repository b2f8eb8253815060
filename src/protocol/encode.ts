/**
 * Frame encoder (PROTOCOL 3-5), driven by the layouts of frames.json. More in README.md (encode.ts).
 */
import { writeFrameCrc } from './crc.ts';
import { FrameError, flagsError, rangeError, reservedError } from './errors.ts';
import { layoutOf, scalarOf, type FieldOp, type TypeLayout } from './layouts.ts';
import { FRAME_SIZE, MAGIC0, MAGIC1, PAYLOAD_OFFSET, PAYLOAD_SIZE, type Frame } from './types.ts';

const TWO_POW_32 = 4294967296;

function checkOut(out: Uint8Array, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + FRAME_SIZE > out.length) {
    throw new RangeError(`"offset" ${offset} leaves no room for a 64-byte frame in a ${out.length}-byte buffer`);
  }
}

function writeHeader(buf: Uint8Array, o: number, type: number, flags: number, seq: number): void {
  buf[o] = MAGIC0;
  buf[o + 1] = MAGIC1;
  buf[o + 2] = type;
  buf[o + 3] = flags;
  buf[o + 4] = seq & 0xff;
  buf[o + 5] = (seq >>> 8) & 0xff;
  buf[o + 6] = (seq >>> 16) & 0xff;
  buf[o + 7] = seq >>> 24;
}

function checkSeq(kind: string, seq: unknown): number {
  if (typeof seq !== 'number' || !Number.isInteger(seq))
    throw new TypeError(`${kind} "seq" must be an integer, got ${String(seq)}`);
  // PROTOCOL 3: seq is a u32.
  if (seq < 0 || seq > 0xffffffff)
    throw new FrameError('range', `${kind} seq = ${seq} is outside 0..4294967295 (PROTOCOL 3)`, { field: 'seq' });
  return seq;
}

function writeScalar(buf: Uint8Array, o: number, kind: string, v: number): void {
  switch (kind) {
    case 'u8':
      buf[o] = v;
      return;
    case 'u16':
    case 'i16':
      buf[o] = v & 0xff;
      buf[o + 1] = (v >> 8) & 0xff;
      return;
    case 'u32':
      buf[o] = v & 0xff;
      buf[o + 1] = (v >>> 8) & 0xff;
      buf[o + 2] = (v >>> 16) & 0xff;
      buf[o + 3] = v >>> 24;
      return;
    case 'u64': {
      const lo = v % TWO_POW_32;
      const hi = (v - lo) / TWO_POW_32;
      writeScalar(buf, o, 'u32', lo);
      writeScalar(buf, o + 4, 'u32', hi);
      return;
    }
  }
}

function inRanges(v: number, ranges: ReadonlyArray<readonly [number, number]>): boolean {
  for (const [lo, hi] of ranges) if (v >= lo && v <= hi) return true;
  return false;
}

function encodePayload(layout: TypeLayout, frame: Record<string, unknown>, buf: Uint8Array, base: number): void {
  const p = base + PAYLOAD_OFFSET;
  for (const op of layout.ops) encodeOp(layout, op, frame, buf, p);
}

function encodeOp(layout: TypeLayout, op: FieldOp, frame: Record<string, unknown>, buf: Uint8Array, p: number): void {
  switch (op.op) {
    case 'reserved':
      return; // already zero
    case 'scalar':
      encodeScalar(layout, op, frame[op.name], buf, p);
      return;
    case 'records':
      encodeRecords(layout, op, frame, buf, p);
      return;
    case 'ascii':
      encodeAscii(layout, op, frame[op.name], buf, p);
      return;
  }
}

/** A scalar or a tuple of scalars, each an integer in its stated range with no reserved bit set. */
function encodeScalar(
  layout: TypeLayout,
  op: Extract<FieldOp, { op: 'scalar' }>,
  raw: unknown,
  buf: Uint8Array,
  p: number,
): void {
  const kind = layout.kind;
  if (op.isArray && (!Array.isArray(raw) || raw.length !== op.count))
    throw new TypeError(`${kind} "${op.name}" must be an array of ${op.count} integers`);
  const values: readonly unknown[] = op.isArray ? (raw as unknown[]) : [raw];
  for (let i = 0; i < op.count; i++) {
    const v = values[i];
    const field = op.isArray ? `${op.name}[${i}]` : op.name;
    const at = op.offset + i * op.itemSize;
    if (typeof v !== 'number' || !Number.isInteger(v))
      throw new TypeError(`${kind} "${field}" must be an integer, got ${String(v)}`);
    if (!inRanges(v, op.ranges)) throw rangeError(kind, layout.section, field, v, op.rangeText, at);
    if (op.bitsMask !== undefined && (v & ~op.bitsMask) !== 0)
      throw reservedError(kind, field, v, v & ~op.bitsMask, at);
    writeScalar(buf, p + at, op.kind, v);
  }
}

/** Byte records (PROTOCOL 4 TRIALS) or packed 2-bit settings (PROTOCOL 5 SETTINGS), as many as the count field says. */
function encodeRecords(
  layout: TypeLayout,
  op: Extract<FieldOp, { op: 'records' }>,
  frame: Record<string, unknown>,
  buf: Uint8Array,
  p: number,
): void {
  const kind = layout.kind;
  const raw = frame[op.name];
  const count = frame[op.countField] as number; // validated by its own scalar op, which comes first
  if (!(raw instanceof Uint8Array) && !Array.isArray(raw))
    throw new TypeError(`${kind} "${op.name}" must be a Uint8Array of ${op.countField} values`);
  const items = raw as ArrayLike<unknown>;
  if (items.length !== count)
    throw new TypeError(`${kind} "${op.name}" has ${items.length} values, "${op.countField}" says ${count}`);
  const itemMax = (1 << op.bitsPerItem) - 1;
  for (let k = 0; k < count; k++) {
    const v = items[k];
    const field = `${op.name}[${k}]`;
    if (typeof v !== 'number' || !Number.isInteger(v))
      throw new TypeError(`${kind} "${field}" must be an integer, got ${String(v)}`);
    if (op.bitsPerItem === 8) {
      if (v < 0 || v > 0xff) throw rangeError(kind, layout.section, field, v, '0..255', op.offset + k);
      // PROTOCOL 4 TRIALS: record bits 7 and 6 are reserved.
      if ((v & op.reservedBitsMask) !== 0) throw reservedError(kind, field, v, v & op.reservedBitsMask, op.offset + k);
      buf[p + op.offset + k] = v;
    } else {
      const bit = k * op.bitsPerItem;
      const at = op.offset + (bit >> 3);
      if (v < 0 || v > itemMax) throw rangeError(kind, layout.section, field, v, `0..${itemMax}`, at);
      // PROTOCOL 5 SETTINGS: trial k takes bits 2k (x) and 2k+1 (y), LSB-first from byte 0;
      // the value is (x << 1) | y, so x goes to the lower bit.
      const wire = op.bitsPerItem === 2 ? ((v >> 1) & 1) | ((v & 1) << 1) : v;
      buf[p + at]! |= wire << (bit & 7);
    }
  }
}

/** PROTOCOL 4 INFO: ASCII, NUL-padded: printable characters only before the padding. */
function encodeAscii(
  layout: TypeLayout,
  op: Extract<FieldOp, { op: 'ascii' }>,
  s: unknown,
  buf: Uint8Array,
  p: number,
): void {
  const kind = layout.kind;
  if (typeof s !== 'string') throw new TypeError(`${kind} "${op.name}" must be a string`);
  const text = JSON.stringify(s);
  if (s.length > op.size)
    throw rangeError(kind, layout.section, op.name, text, `ASCII of at most ${op.size} characters`, op.offset);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) throw rangeError(kind, layout.section, op.name, text, 'printable ASCII', op.offset + i);
    buf[p + op.offset + i] = c;
  }
}

/**
 * Encodes one typed frame into 64 bytes with its CRC. Writes into `out` at
 * `offset` when given (and returns the 64-byte view of it), else into a new
 * Buffer.
 */
export function encodeFrame(frame: Frame, out?: Buffer, offset = 0): Buffer {
  const layout = layoutOf(frame.kind);
  const buf = out ?? Buffer.allocUnsafe(FRAME_SIZE);
  if (out) checkOut(out, offset);
  else offset = 0;
  const flags = frame.flags;
  if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < 0 || flags > 0xff)
    throw new TypeError(`${layout.kind} "flags" must be an integer 0..255, got ${String(flags)}`);
  // PROTOCOL 3: flags per type, zero where the type defines none.
  if ((flags & ~layout.flagsMask) !== 0) throw flagsError(layout.kind, flags, layout.flagsMask);
  const seq = checkSeq(layout.kind, frame.seq);
  buf.fill(0, offset, offset + FRAME_SIZE);
  writeHeader(buf, offset, layout.type, flags, seq);
  encodePayload(layout, frame as unknown as Record<string, unknown>, buf, offset);
  writeFrameCrc(buf, offset);
  return out ? buf.subarray(offset, offset + FRAME_SIZE) : buf;
}

/**
 * Any payload, framed with the right magic and CRC: for tests and the
 * simulator to build well-framed frames with bad fields, undefined types or
 * flags. Only the sizes are checked (type, flags u8; seq u32; payload <= 52
 * bytes, zero-padded).
 */
export function encodeRaw(type: number, flags: number, seq: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > 0xff)
    throw new TypeError(`"type" must be an integer 0..255, got ${type}`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff)
    throw new TypeError(`"flags" must be an integer 0..255, got ${flags}`);
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff)
    throw new TypeError(`"seq" must be an integer 0..4294967295, got ${seq}`);
  if (payload.length > PAYLOAD_SIZE)
    throw new TypeError(`"payload" must be at most ${PAYLOAD_SIZE} bytes, got ${payload.length}`);
  const buf = Buffer.alloc(FRAME_SIZE);
  writeHeader(buf, 0, type, flags, seq);
  buf.set(payload, PAYLOAD_OFFSET);
  writeFrameCrc(buf, 0);
  return buf;
}

// ---- fast path for the simulator's hot loop: TRIALS straight into a buffer ----

const TRIALS = layoutOf('TRIALS');
const TRIALS_FIRST = scalarOf(TRIALS, 'first').offset + PAYLOAD_OFFSET;
const TRIALS_N = scalarOf(TRIALS, 'n').offset + PAYLOAD_OFFSET;
const [TRIALS_N_MIN, TRIALS_N_MAX] = scalarOf(TRIALS, 'n').firstRange;
const TRIALS_RECORDS_OP = TRIALS.ops.find((op) => op.op === 'records');
if (TRIALS_RECORDS_OP?.op !== 'records') throw new Error('frames.json: TRIALS has no records field');
const TRIALS_RECORDS = TRIALS_RECORDS_OP.offset + PAYLOAD_OFFSET;
const TRIALS_RESERVED_BITS = TRIALS_RECORDS_OP.reservedBitsMask;

/**
 * Writes one TRIALS frame (PROTOCOL 4 TRIALS) at `offset` in `buf`: `n`
 * records taken from `records` starting at `recordsOffset`. Same checks as
 * encodeFrame (n 1..40, flags, reserved record bits, first <= 2^53 - 1),
 * no allocation. Returns the offset just past the frame.
 */
export function encodeTrialsInto(
  buf: Uint8Array,
  offset: number,
  seq: number,
  flags: number,
  first: number,
  records: Uint8Array,
  recordsOffset: number,
  n: number,
): number {
  if (offset < 0 || offset + FRAME_SIZE > buf.length) checkOut(buf, offset);
  if (!(n >= TRIALS_N_MIN && n <= TRIALS_N_MAX) || !Number.isInteger(n))
    throw rangeError('TRIALS', TRIALS.section, 'n', n, `${TRIALS_N_MIN}..${TRIALS_N_MAX}`, TRIALS_N - PAYLOAD_OFFSET);
  if ((flags & ~TRIALS.flagsMask) !== 0 || flags < 0) throw flagsError('TRIALS', flags, TRIALS.flagsMask);
  if (!(first >= 0 && first <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(first))
    throw rangeError(
      'TRIALS',
      TRIALS.section,
      'first',
      first,
      `0..${Number.MAX_SAFE_INTEGER}`,
      TRIALS_FIRST - PAYLOAD_OFFSET,
    );
  if (!(seq >= 0 && seq <= 0xffffffff) || !Number.isInteger(seq))
    throw new FrameError('range', `TRIALS seq = ${seq} is outside 0..4294967295 (PROTOCOL 3)`, { field: 'seq' });
  if (recordsOffset < 0 || recordsOffset + n > records.length)
    throw new RangeError(`records hold ${records.length - recordsOffset} values from ${recordsOffset}, n is ${n}`);
  writeHeader(buf, offset, TRIALS.type, flags, seq);
  const lo = first % TWO_POW_32;
  writeScalar(buf, offset + TRIALS_FIRST, 'u32', lo);
  writeScalar(buf, offset + TRIALS_FIRST + 4, 'u32', (first - lo) / TWO_POW_32);
  buf[offset + TRIALS_N] = n & 0xff;
  buf[offset + TRIALS_N + 1] = n >> 8;
  // Zero the reserved u16 and the unused record bytes (PROTOCOL 3).
  buf.fill(0, offset + TRIALS_N + 2, offset + TRIALS_RECORDS);
  let or = 0;
  const r = offset + TRIALS_RECORDS;
  for (let k = 0; k < n; k++) {
    const v = records[recordsOffset + k]!;
    or |= v;
    buf[r + k] = v;
  }
  // PROTOCOL 4 TRIALS: record bits 7 and 6 are reserved.
  if ((or & TRIALS_RESERVED_BITS) !== 0) {
    for (let k = 0; k < n; k++) {
      const v = records[recordsOffset + k]!;
      if ((v & TRIALS_RESERVED_BITS) !== 0)
        throw reservedError(
          'TRIALS',
          `records[${k}]`,
          v,
          v & TRIALS_RESERVED_BITS,
          TRIALS_RECORDS - PAYLOAD_OFFSET + k,
        );
    }
  }
  buf.fill(0, r + n, offset + FRAME_SIZE - 4);
  writeFrameCrc(buf, offset);
  return offset + FRAME_SIZE;
}
