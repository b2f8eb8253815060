/**
 * The layouts loader: frames.json compiles into plans that cover every
 * payload byte exactly once, and data the codec could not honour is refused.
 */
import { describe, expect, it } from 'vitest';
import { compileLayouts, LAYOUTS, layoutOf, layoutOfType, readFramesJson } from '../../src/protocol/layouts.ts';
import { FrameType } from '../../src/protocol/types.ts';

type Json = { types: Record<string, { fields: Array<Record<string, unknown>> }> };
const fresh = (): Json => readFramesJson() as Json;

describe('layouts from frames.json', () => {
  it('has one layout per types.ts kind, found by kind and by type number', () => {
    expect(LAYOUTS.map((l) => l.kind).sort()).toEqual(Object.keys(FrameType).sort());
    for (const [kind, type] of Object.entries(FrameType)) {
      expect(layoutOfType(type)?.kind).toBe(kind);
      expect(layoutOf(kind as keyof typeof FrameType).type).toBe(type);
    }
    expect(layoutOfType(0x07)).toBeUndefined();
    expect(layoutOfType(0x8f)).toBeUndefined();
  });

  it('covers each of the 52 payload bytes exactly once, in offset order', () => {
    for (const l of LAYOUTS) {
      let next = 0;
      for (const op of l.ops) {
        expect(op.offset).toBe(next);
        next += op.op === 'scalar' ? op.itemSize * op.count : op.size;
      }
      expect(next).toBe(52);
    }
  });

  it('reads the stated ranges, flags and reserved runs', () => {
    expect(layoutOf('TRIALS').flags).toEqual({ GAP: 1, HOST_SETTINGS: 2, RESUMED: 4 });
    expect(layoutOf('ACK').flagsMask).toBe(0);
    expect(layoutOf('SET_STATUS_INTERVAL').scalars.interval?.ranges).toEqual([
      [0, 0],
      [100, 60000],
    ]);
    expect(layoutOf('SET_DELAY').scalars.delay?.rangeText).toBe('-10000..10000');
    expect(
      layoutOf('INFO')
        .ops.filter((op) => op.op === 'reserved')
        .map((op) => [op.offset, op.size]),
    ).toEqual([
      [5, 1],
      [48, 4],
    ]);
    expect(
      layoutOf('START')
        .ops.filter((op) => op.op === 'reserved')
        .map((op) => [op.offset, op.size]),
    ).toEqual([
      [1, 3],
      [16, 36],
    ]);
  });

  it('compiles the file as it is', () => {
    expect(compileLayouts(fresh()).byKind.size).toBe(Object.keys(FrameType).length);
  });

  const broken: Array<[string, (j: Json) => void, RegExp]> = [
    [
      'overlapping fields',
      (j) => {
        j.types.ACK!.fields[3]!.offset = 5;
      },
      /overlaps/,
    ],
    [
      'a range that does not fit the kind',
      (j) => {
        j.types.SET_PUMP!.fields[0]!.max = 70000;
      },
      /does not fit/,
    ],
    [
      'a count allowing more items than the field holds',
      (j) => {
        j.types.TRIALS!.fields[1]!.max = 41;
      },
      /holds 40/,
    ],
    [
      'a field past the payload',
      (j) => {
        j.types.CREDIT!.fields[1]!.offset = 48;
      },
      /past the payload/,
    ],
    [
      'a type number that disagrees with types.ts',
      (j) => {
        (j.types.STOP as unknown as { type: number }).type = 0x99;
      },
      /types.ts says/,
    ],
    [
      'an unknown field key',
      (j) => void j.types.STOP!.fields.push({ name: 'x', offset: 0, kind: 'u8', bogus: 1 }),
      /bogus|Unrecognized|unrecognized/,
    ],
    ['a missing type', (j) => void delete j.types.RESET, /RESET has no layout/],
  ];
  for (const [what, breakIt, message] of broken) {
    it(`refuses ${what}`, () => {
      const j = fresh();
      breakIt(j);
      expect(() => compileLayouts(j)).toThrow(message);
    });
  }
});
