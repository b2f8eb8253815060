/**
 * Frame layouts as data: loads firmware-protocol/frames.json, validates it, and compiles one plan per frame type so
 * that encode/decode walk a flat list of operations instead of re-reading the JSON. More in README.md (layouts.ts).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { FrameType, type FrameKind } from './types.ts';

const KIND_RANGE = {
  u8: { size: 1, min: 0, max: 0xff },
  u16: { size: 2, min: 0, max: 0xffff },
  i16: { size: 2, min: -0x8000, max: 0x7fff },
  u32: { size: 4, min: 0, max: 0xffffffff },
  // A u64 above 2^53 - 1 is refused as out of this host's range, never rounded (types.ts).
  u64: { size: 8, min: 0, max: Number.MAX_SAFE_INTEGER },
} as const;
export type ScalarKind = keyof typeof KIND_RANGE;

const ALLOWED_RE = /^\d+(\.\.\d+)?( or \d+(\.\.\d+)?)*$/;

const fieldSchema = z
  .object({
    name: z.string().min(1),
    offset: z.number().int().min(0).max(51),
    kind: z.enum(['u8', 'u16', 'i16', 'u32', 'u64', 'bytes', 'ascii']),
    count: z.number().int().min(1).optional(),
    size: z.number().int().min(1).optional(),
    min: z.number().int().optional(),
    max: z.number().int().optional(),
    bitsMask: z.number().int().min(0).optional(),
    countField: z.string().optional(),
    reservedBitsMask: z.number().int().min(0).max(255).optional(),
    bitsPerItem: z.number().int().min(1).max(8).optional(),
    allowed: z.string().regex(ALLOWED_RE).optional(),
  })
  .strict();

const typeSchema = z
  .object({
    type: z.number().int().min(0).max(255),
    direction: z.enum(['device', 'host']),
    section: z.string(),
    flags: z.record(z.string(), z.number().int().min(0).max(7)).optional(),
    fields: z.array(fieldSchema),
  })
  .strict();

const framesSchema = z.object({
  $comment: z.string().optional(),
  protocol: z.object({ major: z.number().int(), minor: z.number().int() }),
  frame: z.object({
    size: z.literal(64),
    magic: z.tuple([z.number().int(), z.number().int()]),
    payloadOffset: z.literal(8),
    payloadSize: z.literal(52),
    crcOffset: z.literal(60),
    header: z.array(z.object({ name: z.string(), offset: z.number().int(), size: z.number().int() })),
    crc: z.string(),
  }),
  types: z.record(z.string(), typeSchema),
  enums: z.record(z.string(), z.record(z.string(), z.number().int())),
});

/** One step of a type's plan: a field (scalar, array, bytes, ascii) or a reserved run. */
export type FieldOp =
  | {
      op: 'scalar';
      /** Property name on the typed frame. */
      name: string;
      kind: ScalarKind;
      /** Payload offset of the first element. */
      offset: number;
      /** Elements (1 for a plain scalar). */
      count: number;
      /** True when the typed frame holds a tuple (frames.json `count`). */
      isArray: boolean;
      itemSize: number;
      /** Allowed values as inclusive ranges (stated range, else the kind's range). */
      ranges: ReadonlyArray<readonly [number, number]>;
      /** Text for messages, e.g. "1..40" or "0 or 100..60000". */
      rangeText: string;
      /** Bits outside this mask are reserved (bitfields). */
      bitsMask?: number;
    }
  | {
      op: 'records';
      /** Property name on the typed frame. */
      name: string;
      offset: number;
      /** Byte capacity of the field. */
      size: number;
      /** The scalar field holding how many items are used. */
      countField: string;
      /** Bits per item: 8 for byte records (TRIALS), 2 for packed settings (SETTINGS). */
      bitsPerItem: number;
      /** Reserved bits inside each used item byte (byte records only). */
      reservedBitsMask: number;
      /** Items the field can hold: size * 8 / bitsPerItem. */
      capacity: number;
    }
  | { op: 'ascii'; name: string; offset: number; size: number }
  | { op: 'reserved'; offset: number; size: number };

export interface TypeLayout {
  kind: FrameKind;
  type: number;
  direction: 'device' | 'host';
  /** PROTOCOL section, e.g. "4 TRIALS", for messages. */
  section: string;
  /** Flag masks by name (PROTOCOL 4 TRIALS: GAP, HOST_SETTINGS, RESUMED). */
  flags: Readonly<Record<string, number>>;
  /** Union of defined flag bits: any other bit is undefined (PROTOCOL 3). */
  flagsMask: number;
  /** Payload covered in offset order. */
  ops: readonly FieldOp[];
  /** Scalar ops by property name (for count fields and fast paths). */
  scalars: Readonly<Record<string, Extract<FieldOp, { op: 'scalar' }>>>;
}

/**
 * Packed fields are exposed unpacked under the name types.ts gives them:
 * SETTINGS `bits` (48 packed bytes) is the typed frame's `settings`, one
 * (x << 1) | y value per trial (PROTOCOL 5 SETTINGS).
 */
const PROPERTY_NAME: Record<string, string> = { 'SETTINGS.bits': 'settings' };

function parseRanges(allowed: string): Array<[number, number]> {
  return allowed.split(' or ').map((part) => {
    const [a, b] = part.split('..').map(Number);
    return [a, b ?? a] as [number, number];
  });
}

type RawField = z.infer<typeof typeSchema>['fields'][number];
type ScalarOp = Extract<FieldOp, { op: 'scalar' }>;
const PAYLOAD_SIZE = 52;

function compileType(kind: FrameKind, raw: z.infer<typeof typeSchema>): TypeLayout {
  if (FrameType[kind] !== raw.type)
    throw new Error(`frames.json: ${kind} has type ${raw.type}, types.ts says ${FrameType[kind]}`);
  const covered = new Uint8Array(PAYLOAD_SIZE);
  const fieldOps: FieldOp[] = [];
  const scalars: Record<string, ScalarOp> = {};
  for (const f of raw.fields) {
    const op = compileField(kind, f);
    if (op.op === 'scalar') scalars[op.name] = op;
    const size = op.op === 'scalar' ? op.itemSize * op.count : op.size;
    if (op.offset + size > PAYLOAD_SIZE) throw new Error(`frames.json: ${kind}.${f.name} runs past the payload`);
    for (let i = op.offset; i < op.offset + size; i++) {
      if (covered[i]) throw new Error(`frames.json: ${kind}.${f.name} overlaps another field at payload offset ${i}`);
      covered[i] = 1;
    }
    fieldOps.push(op);
  }
  checkCountFields(kind, fieldOps, scalars);
  const ops = [...fieldOps, ...reservedRuns(covered)].sort((a, b) => a.offset - b.offset);
  const flags: Record<string, number> = {};
  let flagsMask = 0;
  for (const [flagName, bit] of Object.entries(raw.flags ?? {})) {
    flags[flagName] = 1 << bit;
    flagsMask |= 1 << bit;
  }
  return { kind, type: raw.type, direction: raw.direction, section: raw.section, flags, flagsMask, ops, scalars };
}

/** One frames.json field as a step of the plan: byte/bit records, ASCII, or a range-checked scalar. */
function compileField(kind: FrameKind, f: RawField): FieldOp {
  const name = PROPERTY_NAME[`${kind}.${f.name}`] ?? f.name;
  if (f.kind === 'bytes') {
    if (f.size === undefined || f.countField === undefined)
      throw new Error(`frames.json: ${kind}.${f.name} bytes need size and countField`);
    const bitsPerItem = f.bitsPerItem ?? 8;
    return {
      op: 'records',
      name,
      offset: f.offset,
      size: f.size,
      countField: f.countField,
      bitsPerItem,
      reservedBitsMask: f.reservedBitsMask ?? 0,
      capacity: (f.size * 8) / bitsPerItem,
    };
  }
  if (f.kind === 'ascii') {
    if (f.size === undefined) throw new Error(`frames.json: ${kind}.${f.name} ascii needs size`);
    return { op: 'ascii', name, offset: f.offset, size: f.size };
  }
  const k = KIND_RANGE[f.kind];
  const ranges =
    f.allowed !== undefined ? parseRanges(f.allowed) : [[f.min ?? k.min, f.max ?? k.max] as [number, number]];
  for (const [lo, hi] of ranges) {
    if (lo < k.min || hi > k.max || lo > hi)
      throw new Error(`frames.json: ${kind}.${f.name} range ${lo}..${hi} does not fit ${f.kind}`);
  }
  const rangeText = ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}..${hi}`)).join(' or ');
  return {
    op: 'scalar',
    name,
    kind: f.kind,
    offset: f.offset,
    count: f.count ?? 1,
    isArray: f.count !== undefined,
    itemSize: k.size,
    ranges,
    rangeText,
    bitsMask: f.bitsMask,
  };
}

/** Each records field's count is a plain scalar whose largest allowed value fits the field. */
function checkCountFields(kind: FrameKind, fieldOps: FieldOp[], scalars: Record<string, ScalarOp>): void {
  for (const op of fieldOps) {
    if (op.op !== 'records') continue;
    const countOp = scalars[op.countField];
    if (!countOp || countOp.isArray)
      throw new Error(`frames.json: ${kind}.${op.name} countField ${op.countField} is not a scalar`);
    const maxCount = Math.max(...countOp.ranges.map(([, hi]) => hi));
    if (maxCount > op.capacity)
      throw new Error(
        `frames.json: ${kind}.${op.countField} allows ${maxCount} items, ${op.name} holds ${op.capacity}`,
      );
  }
}

/** PROTOCOL 3: every byte not inside a field is reserved and must be zero: the uncovered runs. */
function reservedRuns(covered: Uint8Array): FieldOp[] {
  const runs: FieldOp[] = [];
  for (let i = 0; i < covered.length; ) {
    if (covered[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < covered.length && !covered[j]) j++;
    runs.push({ op: 'reserved', offset: i, size: j - i });
    i = j;
  }
  return runs;
}

export interface CompiledLayouts {
  byKind: Map<FrameKind, TypeLayout>;
  byType: (TypeLayout | undefined)[];
  enums: Record<string, Record<string, number>>;
  protocol: { major: number; minor: number };
}

/**
 * Validates frames.json data and compiles its plans. Throws on anything the
 * codec could not honour: a schema breach, a type number or kind that does
 * not match types.ts, overlapping fields, a range that does not fit its kind,
 * a count field allowing more items than its field holds.
 */
export function compileLayouts(data: unknown): CompiledLayouts {
  const parsed = framesSchema.parse(data);
  const byKind = new Map<FrameKind, TypeLayout>();
  const byType: (TypeLayout | undefined)[] = new Array(256).fill(undefined);
  for (const [kind, raw] of Object.entries(parsed.types)) {
    if (!(kind in FrameType)) throw new Error(`frames.json: type ${kind} is not in types.ts FrameType`);
    const layout = compileType(kind as FrameKind, raw);
    if (byType[layout.type]) throw new Error(`frames.json: type number ${layout.type} used twice`);
    byKind.set(layout.kind, layout);
    byType[layout.type] = layout;
  }
  for (const kind of Object.keys(FrameType) as FrameKind[]) {
    if (!byKind.has(kind)) throw new Error(`frames.json: types.ts kind ${kind} has no layout`);
  }
  return { byKind, byType, enums: parsed.enums, protocol: parsed.protocol };
}

/** The frames.json this codec is built from, parsed (not yet validated). */
export function readFramesJson(): unknown {
  return JSON.parse(readFileSync(new URL('../../firmware-protocol/frames.json', import.meta.url), 'utf8'));
}

const loaded = compileLayouts(readFramesJson());

/** Protocol version the layouts describe (PROTOCOL 4 INFO: host refuses another major). */
export const PROTOCOL_VERSION: Readonly<{ major: number; minor: number }> = loaded.protocol;
/** Enumerations from frames.json (ACK status, state, fault bits, ...). */
export const ENUMS: Readonly<Record<string, Readonly<Record<string, number>>>> = loaded.enums;

/** The layout of a frame kind. */
export function layoutOf(kind: FrameKind): TypeLayout {
  const l = loaded.byKind.get(kind);
  if (!l) throw new TypeError(`unknown frame kind "${String(kind)}"`);
  return l;
}

/** A scalar field of a layout with its first stated range; frames.json without it is a bug in the table. */
export function scalarOf(
  layout: TypeLayout,
  name: string,
): Extract<FieldOp, { op: 'scalar' }> & { firstRange: readonly [number, number] } {
  const op = layout.scalars[name];
  const firstRange = op?.ranges[0];
  if (!op || !firstRange) throw new Error(`frames.json: ${layout.kind} has no scalar ${name} with a range`);
  return { ...op, firstRange };
}

/** The layout for a type number, or undefined for a type protocol 1.0 does not define. */
export function layoutOfType(type: number): TypeLayout | undefined {
  return loaded.byType[type];
}

/** All layouts, in type-number order. */
export const LAYOUTS: readonly TypeLayout[] = loaded.byType.filter((l): l is TypeLayout => l !== undefined);
