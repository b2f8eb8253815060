/**
 * Encoder and decoder rules beyond the golden vectors: exact range, reserved
 * and flag errors with the field and payload offset the device reports in
 * BAD_ARGUMENT (PROTOCOL 4 ACK detail), and random round trips of every type.
 */
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../../src/protocol/decode.ts';
import { encodeFrame, encodeRaw, encodeTrialsInto } from '../../src/protocol/encode.ts';
import { FrameError, type FrameErrorReason } from '../../src/protocol/errors.ts';
import { LAYOUTS, layoutOf } from '../../src/protocol/layouts.ts';
import type { Frame } from '../../src/protocol/types.ts';
import { mulberry32, randomFrame } from './gen.ts';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

function frameErr(f: () => unknown): FrameError {
  const e = thrown(f);
  expect(e).toBeInstanceOf(FrameError);
  return e as FrameError;
}

/** A payload of `size` zero bytes with the given bytes set. */
function payload(set: Record<number, number>): Uint8Array {
  const p = new Uint8Array(52);
  for (const [k, v] of Object.entries(set)) p[Number(k)] = v;
  return p;
}

describe('encoder refuses what the decoder would refuse', () => {
  const cases: Array<[string, Frame, FrameErrorReason, string, number | undefined]> = [
    ['TRIALS n = 0', { kind: 'TRIALS', flags: 0, seq: 0, first: 0, n: 0, records: new Uint8Array(0) }, 'range', 'n', 8],
    [
      'TRIALS n = 41',
      { kind: 'TRIALS', flags: 0, seq: 0, first: 0, n: 41, records: new Uint8Array(41) },
      'range',
      'n',
      8,
    ],
    [
      'TRIALS record bit 6',
      { kind: 'TRIALS', flags: 0, seq: 0, first: 0, n: 2, records: Uint8Array.from([0, 0x40]) },
      'reserved',
      'records[1]',
      13,
    ],
    [
      'TRIALS first above 2^53 - 1',
      { kind: 'TRIALS', flags: 0, seq: 0, first: 2 ** 53, n: 1, records: new Uint8Array(1) },
      'range',
      'first',
      0,
    ],
    ['SET_ANGLES 18000', { kind: 'SET_ANGLES', flags: 0, seq: 0, angles: [0, 0, 18000, 0] }, 'range', 'angles[2]', 4],
    ['SET_WINDOW 99', { kind: 'SET_WINDOW', flags: 0, seq: 0, window: 99 }, 'range', 'window', 0],
    ['SET_WINDOW 20001', { kind: 'SET_WINDOW', flags: 0, seq: 0, window: 20001 }, 'range', 'window', 0],
    ['SET_BIAS detector 4', { kind: 'SET_BIAS', flags: 0, seq: 0, detector: 4, bias: 30000 }, 'range', 'detector', 0],
    ['SET_BIAS 19999 mV', { kind: 'SET_BIAS', flags: 0, seq: 0, detector: 0, bias: 19999 }, 'range', 'bias', 2],
    [
      'MEASURE_COUNTS 0 ms',
      { kind: 'MEASURE_COUNTS', flags: 0, seq: 0, id: 1, angleA: 0, angleB: 0, integration: 0 },
      'range',
      'integration',
      8,
    ],
    [
      'SETTINGS count 193',
      { kind: 'SETTINGS', flags: 0, seq: 0, count: 193, settings: new Uint8Array(193) },
      'range',
      'count',
      0,
    ],
    [
      'SETTINGS value 4',
      { kind: 'SETTINGS', flags: 0, seq: 0, count: 5, settings: Uint8Array.from([0, 1, 2, 3, 4]) },
      'range',
      'settings[4]',
      5,
    ],
    ['SET_PUMP 1001', { kind: 'SET_PUMP', flags: 0, seq: 0, pump: 1001 }, 'range', 'pump', 0],
    ['SET_STATUS_INTERVAL 99', { kind: 'SET_STATUS_INTERVAL', flags: 0, seq: 0, interval: 99 }, 'range', 'interval', 0],
    [
      'SET_STATUS_INTERVAL 60001',
      { kind: 'SET_STATUS_INTERVAL', flags: 0, seq: 0, interval: 60001 },
      'range',
      'interval',
      0,
    ],
    ['SET_DELAY -10001', { kind: 'SET_DELAY', flags: 0, seq: 0, delay: -10001 }, 'range', 'delay', 0],
    ['START source 2', { kind: 'START', flags: 0, seq: 0, source: 2, rate: 0, limit: 0 }, 'range', 'source', 0],
    [
      'ACK status 7',
      { kind: 'ACK', flags: 0, seq: 0, ackSeq: 0, ackType: 0x81, status: 7, detail: 0 },
      'range',
      'status',
      5,
    ],
    [
      'STATUS fault bit 7',
      {
        kind: 'STATUS',
        flags: 0,
        seq: 0,
        trials: 0,
        temperature: 0,
        pump: 0,
        bias: [0, 0, 0, 0],
        dark: [0, 0, 0, 0],
        window: 0,
        angles: [0, 0, 0, 0],
        faults: 0x80,
        state: 0,
        source: 0,
        lost: 0,
        delay: 0,
      },
      'reserved',
      'faults',
      38,
    ],
    [
      'INFO serial of 17 characters',
      {
        kind: 'INFO',
        flags: 0,
        seq: 0,
        protocol: [1, 0],
        firmware: [1, 0, 0],
        serial: 'EPQ1-00C0FFEE0000',
        model: 'EPQ-1',
        maxTrialRate: 0,
        capabilities: 0,
        settingsFifo: 0,
      },
      'range',
      'serial',
      6,
    ],
    [
      'INFO model with a non-ASCII character',
      {
        kind: 'INFO',
        flags: 0,
        seq: 0,
        protocol: [1, 0],
        firmware: [1, 0, 0],
        serial: '',
        model: 'EPQ\u00e9',
        maxTrialRate: 0,
        capabilities: 0,
        settingsFifo: 0,
      },
      'range',
      'model',
      25,
    ],
    ['seq 2^32', { kind: 'GET_INFO', flags: 0, seq: 2 ** 32 }, 'range', 'seq', undefined],
  ];
  for (const [what, frame, reason, field, payloadOffset] of cases) {
    it(`${what}: ${reason} at ${field}`, () => {
      const e = frameErr(() => encodeFrame(frame));
      expect([e.reason, e.field, e.payloadOffset]).toEqual([reason, field, payloadOffset]);
      expect(e.message).not.toContain('\n');
    });
  }

  it('refuses flags on a type that defines none, and undefined TRIALS flags', () => {
    expect(frameErr(() => encodeFrame({ kind: 'STOP', flags: 1, seq: 0 })).reason).toBe('flags');
    expect(
      frameErr(() => encodeFrame({ kind: 'TRIALS', flags: 8, seq: 0, first: 0, n: 1, records: new Uint8Array(1) }))
        .message,
    ).toBe('TRIALS flags 0x08 set undefined bits 0x08 (PROTOCOL 3)');
  });

  it('accepts the range edges, SET_STATUS_INTERVAL 0 included', () => {
    for (const interval of [0, 100, 60000])
      expect(decodeFrame(encodeFrame({ kind: 'SET_STATUS_INTERVAL', flags: 0, seq: 1, interval }))).toMatchObject({
        interval,
      });
    for (const delay of [-10000, 10000])
      expect(decodeFrame(encodeFrame({ kind: 'SET_DELAY', flags: 0, seq: 1, delay }))).toMatchObject({ delay });
  });

  it('throws TypeError for values that are not integers or arrays of the wrong length', () => {
    expect(thrown(() => encodeFrame({ kind: 'SET_WINDOW', flags: 0, seq: 0, window: 1000.5 }))).toBeInstanceOf(
      TypeError,
    );
    expect(thrown(() => encodeFrame({ kind: 'SET_WINDOW', flags: 0, seq: 0 } as unknown as Frame))).toBeInstanceOf(
      TypeError,
    );
    expect(
      thrown(() => encodeFrame({ kind: 'SET_ANGLES', flags: 0, seq: 0, angles: [0, 0, 0] as never })),
    ).toBeInstanceOf(TypeError);
    expect(
      thrown(() => encodeFrame({ kind: 'TRIALS', flags: 0, seq: 0, first: 0, n: 3, records: new Uint8Array(2) })),
    ).toBeInstanceOf(TypeError);
    expect(thrown(() => encodeFrame({ kind: 'NOPE', flags: 0, seq: 0 } as unknown as Frame))).toBeInstanceOf(TypeError);
  });

  it('writes into a given buffer at an offset and returns that view', () => {
    const out = Buffer.alloc(200, 0xff);
    const view = encodeFrame({ kind: 'GET_STATUS', flags: 0, seq: 3 }, out, 100);
    expect(view.length).toBe(64);
    expect(view.buffer).toBe(out.buffer);
    expect(decodeFrame(out, 100)).toEqual({ kind: 'GET_STATUS', flags: 0, seq: 3 });
    expect(out[99]).toBe(0xff);
    expect(out[164]).toBe(0xff);
    expect(thrown(() => encodeFrame({ kind: 'GET_STATUS', flags: 0, seq: 3 }, out, 137))).toBeInstanceOf(RangeError);
  });
});

describe('decoder rules, with the payload offset BAD_ARGUMENT reports', () => {
  const cases: Array<[string, Buffer, FrameErrorReason, string | undefined, number | undefined]> = [
    ['START reserved byte 2', encodeRaw(0x83, 0, 1, payload({ 2: 1 })), 'reserved', undefined, 2],
    [
      'SET_BIAS reserved byte 1',
      encodeRaw(0x87, 0, 1, payload({ 0: 1, 1: 1, 2: 0x30, 3: 0x75 })),
      'reserved',
      undefined,
      1,
    ],
    ['SET_BIAS bias out of range', encodeRaw(0x87, 0, 1, payload({ 0: 1, 2: 0xff, 3: 0xff })), 'range', 'bias', 2],
    ['GET_INFO non-zero payload', encodeRaw(0x81, 0, 1, payload({ 51: 1 })), 'reserved', undefined, 51],
    ['SETTINGS bit after count', encodeRaw(0x89, 0, 1, payload({ 0: 3, 4: 0x40 })), 'reserved', 'settings byte 0', 4],
    ['SETTINGS byte after count', encodeRaw(0x89, 0, 1, payload({ 0: 4, 5: 0x01 })), 'reserved', undefined, 5],
    ['SETTINGS count 0', encodeRaw(0x89, 0, 1, payload({})), 'range', 'count', 0],
    ['SET_STATUS_INTERVAL 50', encodeRaw(0x8b, 0, 1, payload({ 0: 50 })), 'range', 'interval', 0],
    ['STOP with a flag', encodeRaw(0x84, 1, 1, payload({})), 'flags', 'flags', undefined],
    ['TRIALS first above 2^53 - 1', encodeRaw(0x01, 0, 1, payload({ 6: 0x20, 8: 1 })), 'range', 'first', 0],
    ['CREDIT consumed above 2^53 - 1', encodeRaw(0x06, 0, 1, payload({ 11: 0x80 })), 'range', 'consumed', 4],
    ['INFO reserved byte 5', encodeRaw(0x04, 0, 1, payload({ 5: 1 })), 'reserved', undefined, 5],
    ['INFO serial padding', encodeRaw(0x04, 0, 1, payload({ 6: 0x41, 8: 0x41 })), 'reserved', 'serial padding', 8],
    ['INFO serial control character', encodeRaw(0x04, 0, 1, payload({ 6: 0x0a })), 'range', 'serial', 6],
    ['INFO capability bit 4', encodeRaw(0x04, 0, 1, payload({ 42: 0x10 })), 'reserved', 'capabilities', 42],
    ['STATUS reserved u16', encodeRaw(0x03, 0, 1, payload({ 51: 1 })), 'reserved', undefined, 51],
    ['STATUS source 2', encodeRaw(0x03, 0, 1, payload({ 43: 2 })), 'range', 'source', 43],
    ['COUNTS angleB 18000', encodeRaw(0x02, 0, 1, payload({ 6: 0x50, 7: 0x46 })), 'range', 'angleB', 6],
  ];
  for (const [what, bytes, reason, field, payloadOffset] of cases) {
    it(`${what}: ${reason}`, () => {
      const e = frameErr(() => decodeFrame(bytes));
      expect([e.reason, e.field, e.payloadOffset]).toEqual([reason, field, payloadOffset]);
      expect([e.type, e.seq]).toEqual([bytes[2], 1]);
    });
  }

  it('reports exact one-line messages', () => {
    expect(frameErr(() => decodeFrame(encodeRaw(0x85, 0, 1, payload({ 2: 0x50, 3: 0x46 })))).message).toBe(
      'SET_ANGLES angles[1] = 18000 is outside 0..17999 (PROTOCOL 5)',
    );
    expect(frameErr(() => decodeFrame(encodeRaw(0x83, 0, 1, payload({ 3: 0xab })))).message).toBe(
      'START reserved payload byte 3 is 0xab (must be 0, PROTOCOL 3)',
    );
    expect(frameErr(() => decodeFrame(Buffer.alloc(63))).message).toBe('a frame is 64 bytes, got 63 at offset 0');
    const flipped = encodeRaw(0x81, 0, 0);
    flipped[60]! ^= 1;
    expect(frameErr(() => decodeFrame(flipped)).message).toMatch(
      /^CRC mismatch: frame says [0-9a-f]{8}, bytes 0\.\.59 give [0-9a-f]{8} \(PROTOCOL 3\)$/,
    );
  });

  it('decodes a well-framed undefined type as UnknownFrame (PROTOCOL 3)', () => {
    const f = decodeFrame(encodeRaw(0x90, 0x03, 77, payload({ 0: 9 })));
    expect(f).toMatchObject({ kind: 'UNKNOWN', type: 0x90, flags: 3, seq: 77 });
    expect(f.kind === 'UNKNOWN' && f.payload[0]).toBe(9);
  });

  it('decodes the u64 maximum this host keeps, 2^53 - 1', () => {
    const f = encodeFrame({ kind: 'CREDIT', flags: 0, seq: 0, free: 0xffffffff, consumed: Number.MAX_SAFE_INTEGER });
    expect(decodeFrame(f)).toMatchObject({ free: 0xffffffff, consumed: Number.MAX_SAFE_INTEGER });
  });
});

describe('round trips', () => {
  it('decode(encode(f)) equals f for 20,000 random valid frames of every type', () => {
    const rand = mulberry32(42);
    let n = 0;
    for (let i = 0; i < 20_000; i++) {
      const layout = LAYOUTS[i % LAYOUTS.length]!;
      const f = randomFrame(rand, layout);
      const bytes = encodeFrame(f);
      expect(decodeFrame(bytes)).toEqual(f);
      n++;
    }
    expect(n).toBe(20_000);
  });

  it('every decoded TRIALS frame keeps its own records: later frames, refused ones included, never change them', () => {
    const rand = mulberry32(9);
    const kept: Array<{ frame: Frame; records: number[] }> = [];
    // enough frames to fill several of the decoder's shared record blocks
    for (let i = 0; i < 3000; i++) {
      const n = 1 + Math.floor(rand() * 40);
      const records = Uint8Array.from({ length: n }, () => Math.floor(rand() * 64));
      const bytes = encodeFrame({ kind: 'TRIALS', flags: 0, seq: i, first: i * 40, n, records });
      if (i % 7 === 3) {
        // a record with a reserved bit set (CRC made right): refused after its records were read
        bytes[20 + Math.floor(rand() * n)]! |= 0x80;
        bytes.writeUInt32LE(crc32(bytes.subarray(0, 60)) >>> 0, 60);
        expect(() => decodeFrame(bytes)).toThrow(FrameError);
        continue;
      }
      const frame = decodeFrame(bytes);
      bytes.fill(0xee, 20, 60); // the input buffer is the caller's to reuse
      kept.push({ frame: frame as Frame, records: Array.from(records) });
    }
    for (const { frame, records } of kept) {
      expect(frame.kind).toBe('TRIALS');
      if (frame.kind === 'TRIALS') expect(Array.from(frame.records)).toEqual(records);
    }
  });

  it('a well-framed frame with mutated payload either fails with FrameError or decodes to a frame that re-encodes to the same bytes', () => {
    const rand = mulberry32(77);
    const outcomes = { decoded: 0, refused: 0 };
    for (let i = 0; i < 20_000; i++) {
      const layout = LAYOUTS[i % LAYOUTS.length]!;
      const clean = encodeFrame(randomFrame(rand, layout));
      const body = Buffer.from(clean.subarray(8, 60));
      const edits = 1 + Math.floor(rand() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * 52);
        body[at] = rand() < 0.5 ? body[at]! ^ (1 << Math.floor(rand() * 8)) : Math.floor(rand() * 256);
      }
      const flags = rand() < 0.1 ? Math.floor(rand() * 256) : clean[3]!;
      const bytes = encodeRaw(clean[2]!, flags, clean.readUInt32LE(4), body);
      let f: ReturnType<typeof decodeFrame> | undefined;
      try {
        f = decodeFrame(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError);
        outcomes.refused++;
        continue;
      }
      expect(f.kind).not.toBe('UNKNOWN');
      expect(encodeFrame(f as Frame).toString('hex')).toBe(bytes.toString('hex'));
      outcomes.decoded++;
    }
    // both outcomes must be well represented, or the test proves nothing
    expect(outcomes.decoded).toBeGreaterThan(2000);
    expect(outcomes.refused).toBeGreaterThan(2000);
  });

  it('encodeTrialsInto writes the same bytes as encodeFrame, over stale buffer contents', () => {
    const rand = mulberry32(9);
    const buf = Buffer.alloc(64 * 50, 0xff);
    const trials = layoutOf('TRIALS');
    for (let i = 0; i < 50; i++) {
      const f = randomFrame(rand, trials) as Extract<Frame, { kind: 'TRIALS' }>;
      const end = encodeTrialsInto(buf, i * 64, f.seq, f.flags, f.first, f.records, 0, f.n);
      expect(end).toBe((i + 1) * 64);
      expect(buf.subarray(i * 64, end).toString('hex')).toBe(encodeFrame(f).toString('hex'));
    }
    const e = frameErr(() => encodeTrialsInto(buf, 0, 0, 0, 0, Uint8Array.from([0, 0x80]), 0, 2));
    expect([e.reason, e.field, e.payloadOffset]).toEqual(['reserved', 'records[1]', 13]);
    expect(frameErr(() => encodeTrialsInto(buf, 0, 0, 0, 0, new Uint8Array(41), 0, 41)).reason).toBe('range');
    expect(frameErr(() => encodeTrialsInto(buf, 0, 0, 0x10, 0, new Uint8Array(1), 0, 1)).reason).toBe('flags');
  });
});
