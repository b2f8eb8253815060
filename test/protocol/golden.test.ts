/**
 * Golden vectors (firmware-protocol/vectors, copied from the vendor): every
 * valid frame decodes to its fields and re-encodes to its exact bytes; every
 * invalid one is rejected with the reason its `why` names.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameError, RECORD_BIT, type Frame } from '../../src/protocol/index.ts';

interface Golden {
  what: string;
  direction: 'host' | 'device';
  type: number;
  flags: number;
  seq: number;
  fields: Record<string, unknown>;
  hex: string;
}
interface Invalid {
  why: string;
  hex: string;
}

function readJsonl<T>(name: string): T[] {
  const text = readFileSync(new URL(`../../firmware-protocol/vectors/${name}`, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

const golden = readJsonl<Golden>('frames.jsonl');
const invalid = readJsonl<Invalid>('invalid.jsonl');

/** The vectors spell records as {x, y, A0, ...} and settings as [x, y]; the typed frames hold bytes. */
function typedFields(g: Golden): Record<string, unknown> {
  const out: Record<string, unknown> = { ...g.fields };
  if (Array.isArray(g.fields.records)) {
    const recs = g.fields.records as Array<Record<string, number>>;
    out.records = Uint8Array.from(
      recs,
      (r) =>
        (r.x ? RECORD_BIT.X : 0) |
        (r.y ? RECORD_BIT.Y : 0) |
        (r.A1 ? RECORD_BIT.A1 : 0) |
        (r.A0 ? RECORD_BIT.A0 : 0) |
        (r.B1 ? RECORD_BIT.B1 : 0) |
        (r.B0 ? RECORD_BIT.B0 : 0),
    );
  }
  if (Array.isArray(g.fields.settings)) {
    out.settings = Uint8Array.from(g.fields.settings as Array<[number, number]>, ([x, y]) => (x << 1) | y);
  }
  return out;
}

describe('golden frames', () => {
  it('has the vendor vectors', () => {
    expect(golden.length).toBeGreaterThanOrEqual(15);
    expect(invalid.length).toBeGreaterThanOrEqual(12);
  });
  for (const g of golden) {
    it(`decodes ${g.what}`, () => {
      const frame = decodeFrame(Buffer.from(g.hex, 'hex'));
      expect(frame.kind).not.toBe('UNKNOWN');
      const { kind, flags, seq, ...fields } = frame as Frame;
      expect(flags).toBe(g.flags);
      expect(seq).toBe(g.seq);
      expect(fields).toEqual(typedFields(g));
      expect(kind.length).toBeGreaterThan(0);
    });
    it(`encodes ${g.what}`, () => {
      const frame = decodeFrame(Buffer.from(g.hex, 'hex')) as Frame;
      const built = { ...typedFields(g), kind: frame.kind, flags: g.flags, seq: g.seq } as unknown as Frame;
      expect(encodeFrame(built).toString('hex')).toBe(g.hex);
    });
  }
});

const expectedReason: Array<[RegExp, string]> = [
  [/^CRC/, 'crc'],
  [/^magic/, 'magic'],
  [/reserved|after the n records/, 'reserved'],
  [/flag/, 'flags'],
  [/n = |undefined status|\(max|undefined state/, 'range'],
];

describe('invalid frames', () => {
  for (const v of invalid) {
    it(`rejects ${v.why}`, () => {
      const reason = expectedReason.find(([re]) => re.test(v.why))?.[1];
      expect(reason).toBeDefined();
      let err: unknown;
      try {
        decodeFrame(Buffer.from(v.hex, 'hex'));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FrameError);
      expect((err as FrameError).reason).toBe(reason);
    });
  }
});
