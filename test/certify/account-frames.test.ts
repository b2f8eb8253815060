import { describe, expect, it } from 'vitest';
import { TrialAccountant, type BlockTally, type PackedFrames } from '../../src/certify/accounting.ts';
import { Certifier, type BlockResult } from '../../src/certify/certifier.ts';
import { TrialsBatch, type RunEvent } from '../../src/device/run.ts';
import { TRIALS_FLAG } from '../../src/protocol/types.ts';
import { chshRecords, rng } from './helpers.ts';

/** One TRIALS frame as the tests build it. */
interface TestFrame {
  first: number;
  n: number;
  flags: number;
  seq: number;
  records: Uint8Array;
}

/**
 * Frames of a run over `total` trials: mostly full contiguous frames, with short frames, gaps (GAP-flagged or
 * silent) and jumps across blocks. `corrupt` then breaks one frame: a reserved record bit, a zero n or a
 * backwards first.
 */
function randomFrames(seed: number, total: number, corrupt: 'none' | 'reserved' | 'zero' | 'backwards'): TestFrame[] {
  const r = rng(seed);
  const recs = chshRecords(total, 2.4, seed);
  const frames: TestFrame[] = [];
  let at = 0;
  while (at < total) {
    const u = r();
    if (u < 0.03) at += 1 + Math.floor(r() * 60);
    else if (u < 0.035) at += 100 + Math.floor(r() * 400);
    const n = Math.min(total - at, r() < 0.1 ? 1 + Math.floor(r() * 39) : 40);
    if (n <= 0) break;
    const gap = frames.length > 0 && at !== frames[frames.length - 1]!.first + frames[frames.length - 1]!.n;
    const flags = gap && r() < 0.5 ? TRIALS_FLAG.GAP : 0;
    frames.push({ first: at, n, flags, seq: frames.length, records: recs.slice(at, at + n) });
    at += n;
  }
  if (corrupt !== 'none') {
    const i = Math.floor(frames.length * (0.3 + 0.6 * r()));
    const f = frames[i]!;
    if (corrupt === 'reserved') f.records[Math.floor(r() * f.n)]! |= r() < 0.5 ? 0x40 : 0x80;
    else if (corrupt === 'zero') f.n = 0;
    else f.first = frames[i - 1]!.first + Math.floor(r() * frames[i - 1]!.n); // overlaps the frame before
  }
  return frames;
}

/** The frames packed like a TrialsBatch, frame i's records at base + i * 40 (base 1..3: not word-aligned). */
function packed(frames: TestFrame[], base: number): PackedFrames {
  const records = new Uint8Array(base + frames.length * 40 + 8);
  for (const [i, f] of frames.entries()) records.set(f.records.subarray(0, Math.max(0, f.n)), base + i * 40);
  return {
    first: Float64Array.from(frames, (f) => f.first),
    n: Uint8Array.from(frames, (f) => f.n),
    flags: Uint8Array.from(frames, (f) => f.flags),
    seq: Uint32Array.from(frames, (f) => f.seq),
    records,
    recordsAt: (i) => base + i * 40,
  };
}

/** What an accountant did: blocks handed over, the samples handed to onCodes by then, the error, the partial block. */
interface Trace {
  blocks: { tally: BlockTally; samplesBefore: number }[];
  samples: number[];
  error?: string;
  last: BlockTally | null;
}

function traced(blockTrials: number): { acc: TrialAccountant; trace: Trace } {
  const trace: Trace = { blocks: [], samples: [], last: null };
  const acc = new TrialAccountant({
    blockTrials,
    onCodes: (input, from, to, block) => {
      for (let p = from; p < to; p++) trace.samples.push(block * 4 + ((input[p >> 2]! >> ((p & 3) << 1)) & 3));
    },
  });
  return { acc, trace };
}

function drain(trace: Trace, done: BlockTally[]): void {
  for (const tally of done)
    trace.blocks.push({ tally: { ...tally, input: tally.input.slice() }, samplesBefore: trace.samples.length });
  done.length = 0;
}

/** Runs `step` (which returns the next frame) to `count` frames; blocks are taken after each step. */
function accountAll(
  blockTrials: number,
  count: number,
  step: (acc: TrialAccountant, i: number, done: BlockTally[]) => number,
): Trace {
  const { acc, trace } = traced(blockTrials);
  const done: BlockTally[] = [];
  try {
    for (let i = 0; i < count; ) {
      i = step(acc, i, done);
      drain(trace, done);
    }
  } catch (e) {
    drain(trace, done);
    trace.error = (e as Error).message;
  }
  trace.last = acc.finish();
  return trace;
}

/** The reference: addTrials frame by frame, blocks taken after each frame (as the certifier did). */
function frameByFrame(p: PackedFrames, count: number, blockTrials: number): Trace {
  return accountAll(blockTrials, count, (acc, i, done) => {
    acc.addTrials(p.first[i]!, p.n[i]!, p.records, p.flags[i]!, p.seq[i]!, done, p.recordsAt(i));
    return i + 1;
  });
}

function batched(p: PackedFrames, count: number, blockTrials: number): Trace {
  return accountAll(blockTrials, count, (acc, i, done) => acc.addFrames(p, i, count, done));
}

describe('TrialAccountant.addFrames', () => {
  it('gives what addTrials frame by frame gives: blocks, health samples and when, errors, the partial block', () => {
    let errors = 0;
    for (const corrupt of ['none', 'reserved', 'zero', 'backwards'] as const) {
      for (const [seed, blockTrials] of [
        [1, 97],
        [2, 1000],
        [3, 4096],
        [4, 40],
        [5, 20_000], // stretches of thousands of trials: several tally slices
      ] as const) {
        for (const base of [0, 1, 2, 3]) {
          const frames = randomFrames(seed * 10 + base, 12_000, corrupt);
          const p = packed(frames, base);
          const want = frameByFrame(p, frames.length, blockTrials);
          const got = batched(p, frames.length, blockTrials);
          expect(got).toEqual(want);
          if (want.error !== undefined) errors++;
          if (corrupt === 'none') expect(want.error).toBeUndefined();
          else expect(want.error).toMatch(/reserved bits|n = 0|below the next expected/);
        }
      }
    }
    expect(errors).toBe(3 * 20);
  });
});

describe('Certifier: a TRIALS batch', () => {
  const device = { serial: 'EPQ1-00C0FFEE', firmware: '1.0.0' };

  function results(events: RunEvent[]): { out: BlockResult[]; error?: string } {
    const c = new Certifier({ device, blockTrials: 3000, adversary: 'classical' });
    const out: BlockResult[] = [];
    try {
      for (const ev of events) out.push(...c.push([ev]));
      out.push(...c.finish());
    } catch (e) {
      return { out, error: (e as Error).message };
    }
    return { out };
  }

  it('certifies as its frames one by one do, and refuses a frame with the wrong settings source at that frame', () => {
    for (const wrongSource of [false, true]) {
      const frames = randomFrames(wrongSource ? 8 : 9, 20_000, 'none');
      if (wrongSource) frames[Math.floor(frames.length / 2)]!.flags |= TRIALS_FLAG.HOST_SETTINGS;
      const batch = new TrialsBatch(frames.length);
      for (const f of frames) batch.append(f.records, 0, f.n, f.flags, f.seq, f.first);
      const one = results(frames.map((f) => ({ kind: 'trials', ...f })));
      const all = results([{ kind: 'trialsBatch', batch }]);
      expect(all).toEqual(one);
      expect(one.out.length).toBeGreaterThan(2);
      if (wrongSource) expect(one.error).toMatch(/settings source host but the run uses internal settings/);
      else expect(one.error).toBeUndefined();
    }
  });
});
