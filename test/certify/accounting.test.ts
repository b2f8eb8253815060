import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TrialAccountant, type BlockTally } from '../../src/certify/accounting.ts';
import { Certifier, certifyRun } from '../../src/certify/certifier.ts';
import { estimateFromCounts, estimateFromHistogram, estimatorOfCell } from '../../src/certify/estimate.ts';
import { A_TABLE, B_TABLE, CELL_TABLE, countCell } from '../../src/certify/outcomes.ts';
import { DeviceError } from '../../src/errors.ts';
import type { RunEvent } from '../../src/device/run.ts';
import { baseStatus } from '../device/fake-chip.ts';
import { asRun, chshRecords, collect, record, rng, toBatches } from './helpers.ts';

const device = { serial: 'EPQ1-00C0FFEE', firmware: '1.0.0' };
const idleStatus = {
  kind: 'STATUS' as const,
  flags: 0,
  seq: 0,
  trials: 0,
  temperature: 2500,
  pump: 300,
  bias: [30000, 30000, 30000, 30000] as [number, number, number, number],
  dark: [100, 100, 100, 100] as [number, number, number, number],
  window: 1000,
  angles: [0, 4500, 2250, 15750] as [number, number, number, number],
  faults: 0,
  state: 0,
  source: 0,
  lost: 0,
  delay: 0,
};

function trials(first: number, records: Uint8Array, flags = 0, seq = 0): RunEvent {
  return { kind: 'trials', first, n: records.length, records, flags, seq };
}

describe('binning and estimator tables', () => {
  it('a = A1 & !A0, b = B1 & !B0: no-click and double-click give 0', () => {
    expect(A_TABLE[0x08]).toBe(1); // A1 only
    expect(A_TABLE[0x04]).toBe(0); // A0 only
    expect(A_TABLE[0x0c]).toBe(0); // double click
    expect(A_TABLE[0x00]).toBe(0); // no click
    expect(B_TABLE[0x02]).toBe(1);
    expect(B_TABLE[0x03]).toBe(0);
    expect(B_TABLE[0x00]).toBe(0);
    expect(CELL_TABLE[0x3a]).toBe(countCell(0x3a));
    expect(countCell(record(1, 1, 1, 0))).toBe(8 + 4 + 2);
  });

  it('the per-trial estimator is unbiased: its exact mean over a known distribution is S', () => {
    // Correlators (0.7, 0.5, 0.6, -0.4) with uniform settings and marginals: S = 2.2.
    const e = [0.7, 0.5, 0.6, -0.4];
    let mean = 0;
    for (let cell = 0; cell < 16; cell++) {
      const xy = cell >> 2;
      const same = ((cell >> 1) & 1) === (cell & 1);
      const p = 0.25 * (same ? (1 + e[xy]!) / 4 : (1 - e[xy]!) / 4);
      mean += p * estimatorOfCell(cell);
    }
    expect(mean).toBeCloseTo(e[0]! + e[1]! + e[2]! - e[3]!, 12);
  });

  it('S-hat from counts equals the plain mean of the per-trial estimator over the records', () => {
    const recs = chshRecords(100_000, 2.4, 2);
    const hist = new Uint32Array(64);
    let sum = 0;
    for (const r of recs) {
      hist[r]!++;
      sum += estimatorOfCell(countCell(r));
    }
    const est = estimateFromHistogram(hist, 0);
    expect(est.sEstimate).toBeCloseTo(sum / recs.length, 12);
    // 5 sigma: Var(I) = 16 - S^2.
    expect(Math.abs(est.sEstimate - 2.4)).toBeLessThan(5 * Math.sqrt((16 - 2.4 ** 2) / recs.length));
  });

  it('lost trials are scored as lost games (-4)', () => {
    const counts = new Array(16).fill(0);
    counts[0] = 10; // x=y=0, a=b=0: won
    expect(estimateFromCounts(counts, 0).sEstimate).toBe(4);
    expect(estimateFromCounts(counts, 10).sEstimate).toBe(0);
  });
});

describe('trial accounting', () => {
  it('cuts contiguous frames into blocks and packs a, b at bits 2k, 2k+1', () => {
    const acc = new TrialAccountant({ blockTrials: 100 });
    const recs = chshRecords(250, 2.4, 4);
    const done = [];
    for (let i = 0; i < 250; i += 40)
      done.push(...acc.addTrials(i, Math.min(40, 250 - i), recs.subarray(i, Math.min(250, i + 40)), 0, i));
    expect(done.map((b) => [b.index, b.firstTrial, b.recorded])).toEqual([
      [0, 0, 100],
      [1, 100, 100],
    ]);
    for (const b of done) {
      for (let k = 0; k < 100; k++) {
        const r = recs[b.firstTrial + k]!;
        expect((b.input[(2 * k) >> 3]! >> ((2 * k) & 7)) & 1).toBe(A_TABLE[r]);
        expect((b.input[(2 * k + 1) >> 3]! >> ((2 * k + 1) & 7)) & 1).toBe(B_TABLE[r]);
      }
    }
    const last = acc.finish();
    expect(last?.trials).toBe(50);
    expect(last?.input.length).toBe(13);
  });

  it('each block holds the histogram and input of a direct count, at any frame split, loss and block size', () => {
    const r = rng(31);
    for (const blockTrials of [97, 100, 1024, 4001]) {
      const n = 20_000;
      const recs = chshRecords(n, 2.4, blockTrials);
      const acc = new TrialAccountant({ blockTrials });
      const received = new Uint8Array(n); // 1 where the trial was delivered
      const done: BlockTally[] = [];
      let at = 0;
      while (at < n) {
        if (r() < 0.05) at += 1 + Math.floor(r() * 50); // a gap
        const count = Math.min(n - at, 1 + Math.floor(r() * 40));
        if (count <= 0) break;
        acc.addTrials(at, count, recs.subarray(at, at + count), r() < 0.5 ? 1 : 0, 0, done);
        received.fill(1, at, at + count);
        at += count;
      }
      // the chip performed all n (a trailing gap is lost on the link)
      const last = acc.finish(n, done);
      if (last) done.push(last);
      expect(done.length).toBe(Math.ceil(n / blockTrials));
      for (const b of done) {
        const hist = new Uint32Array(64);
        const input = new Uint8Array(Math.ceil(b.trials / 4));
        for (let k = 0; k < b.trials; k++) {
          const t = b.firstTrial + k;
          if (!received[t]) continue;
          hist[recs[t]!]!++;
          input[k >> 2]! |= (A_TABLE[recs[t]!]! | (B_TABLE[recs[t]!]! << 1)) << ((k & 3) << 1);
        }
        expect(b.histogram).toEqual(hist);
        expect(b.input).toEqual(input);
        expect(b.recorded).toBe(hist.reduce((x, y) => x + y, 0));
      }
    }
  });

  it('keeps lost trials in their blocks: GAP counts as device loss, a silent jump as link loss, across block edges', () => {
    const acc = new TrialAccountant({ blockTrials: 100 });
    const ones = new Uint8Array(40).fill(record(0, 0, 1, 1));
    const done = [
      ...acc.addTrials(0, 40, ones, 0, 0),
      ...acc.addTrials(90, 40, ones, 1, 1), // GAP: 40..89 lost in the device
      ...acc.addTrials(180, 40, ones, 0, 2), // silent jump: 130..179 lost on the link
      ...acc.addTrials(260, 40, ones, 1, 3), // GAP: 220..259 lost in the device
      ...acc.addTrials(340, 40, ones, 0, 4), // silent jump 300..339 (block 3), frame spans into block 3 only
      ...acc.addTrials(460, 40, ones, 1, 5), // GAP 380..459 spans the edge at 400: 20 in block 3, 60 in block 4
    ];
    expect(done.map((b) => [b.index, b.recorded, b.lostDevice, b.lostLink])).toEqual([
      [0, 50, 50, 0],
      [1, 50, 0, 50],
      [2, 60, 40, 0],
      [3, 40, 20, 40],
      [4, 40, 60, 0],
    ]);
    // Lost trials leave zero bits in the input: trial 40 of block 0 (lost) has a = b = 0, trial 0 has a = b = 1.
    expect(done[0]!.input[0]! & 0b11).toBe(0b11);
    expect((done[0]!.input[10]! >> 0) & 0b11).toBe(0);
    expect(acc.finish(500)).toBeNull();
    // Trials the chip reports as performed after the last frame are lost too (PROTOCOL 4 STATUS: trials).
    const acc2 = new TrialAccountant({ blockTrials: 100 });
    acc2.addTrials(0, 40, ones, 0, 0);
    const tail = acc2.finish(70);
    expect([tail?.trials, tail?.recorded, tail?.lostLink]).toEqual([70, 40, 30]);
  });

  it('refuses overlapping, duplicate and backwards indices as a protocol error', () => {
    const acc = new TrialAccountant({ blockTrials: 100 });
    const recs = new Uint8Array(40);
    acc.addTrials(0, 40, recs, 0, 0);
    expect(() => acc.addTrials(39, 40, recs, 0, 1)).toThrow(DeviceError);
    expect(() => acc.addTrials(0, 40, recs, 0, 1)).toThrow(/below the next expected 40/);
  });

  it('ends the run with a DeviceError on reserved record bits or an invalid TRIALS frame', async () => {
    const bad = new Uint8Array(40);
    bad[7] = 0x80;
    await expect(collect(certifyRun(asRun([[trials(0, bad)]]), { device, blockTrials: 100 }))).rejects.toThrow(
      /^TRIALS frame seq 0: record of trial 7 has reserved bits set \(0x80\)$/,
    );
    // Also off a 4-trial boundary of the input packing (head and tail loops).
    await expect(
      collect(certifyRun(asRun([[trials(0, new Uint8Array(3)), trials(3, bad)]]), { device, blockTrials: 100 })),
    ).rejects.toThrow(/record of trial 10 has/);
    const tailBad = new Uint8Array(3);
    tailBad[2] = 0xc1;
    await expect(collect(certifyRun(asRun([[trials(0, tailBad)]]), { device, blockTrials: 100 }))).rejects.toThrow(
      /record of trial 2 has reserved bits set \(0xc1\)/,
    );
    const inv: RunEvent = { kind: 'invalid', reason: 'reserved record bits set', field: 'records', type: 1 };
    await expect(collect(certifyRun(asRun([[inv]]), { device, blockTrials: 100 }))).rejects.toBeInstanceOf(DeviceError);
    // An invalid frame of another type is counted, not fatal.
    const c = new Certifier({ device, blockTrials: 100 });
    c.push([{ kind: 'invalid', reason: 'bad range', type: 3 }]);
    expect(c.stats.invalidFrames).toBe(1);
  });

  it('refuses a block with more lost trials than the set share, and keeps one below it', () => {
    const N = 2 ** 20;
    const recs = chshRecords(2 * N, 2.6, 9);
    const lost: Array<[number, number]> = [
      [1000, Math.floor(0.011 * N)],
      [N + 1000, Math.floor(0.004 * N)],
    ];
    const c = new Certifier({ device, blockTrials: N, adversary: 'classical' });
    const res = toBatches(recs, { lost, framesPerBatch: 4096 }).flatMap((b) => c.push(b));
    expect(res.map((r) => r.ok)).toEqual([false, true]);
    if (!res[0]!.ok) {
      expect(res[0]!.test).toBe('lost');
      expect(res[0]!.reason).toMatch(/^lost trials 11534 of 1048576 \(1\.10%; device 11534, link 0\) > 1\.00%$/);
    }
    if (res[1]!.ok)
      expect(res[1]!.draft.lostTrials).toEqual({
        device: Math.floor(0.004 * N),
        link: 0,
        total: Math.floor(0.004 * N),
      });
  });

  it('property: losing any trials never raises S-hat (GAP or link, any pattern)', () => {
    const recs = chshRecords(4000, 2.6, 13);
    const full = new Certifier({ device, blockTrials: 4000, adversary: 'classical', maxLostShare: 0.99 });
    const ref = toBatches(recs).flatMap((b) => full.push(b));
    const sFull = ref[0]!.ok ? ref[0]!.draft.sEstimate : ref[0]!.sEstimate;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3999 }), fc.integer({ min: 1, max: 300 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.boolean(),
        (ranges, gap) => {
          const lost = ranges.map(([s, n]) => [s, Math.min(n, 4000 - s)] as [number, number]);
          const c = new Certifier({ device, blockTrials: 4000, adversary: 'classical', maxLostShare: 0.99 });
          // The run's final STATUS says 4000 trials were performed (PROTOCOL 4 STATUS), so trailing losses count too.
          const end: RunEvent = { kind: 'status', status: { ...idleStatus, trials: 4000 } };
          const res = [...[...toBatches(recs, { lost, gap }), [end]].flatMap((b) => c.push(b)), ...c.finish()];
          expect(res).toHaveLength(1);
          const r = res[0]!;
          const s = r.ok ? r.draft.sEstimate : r.sEstimate;
          expect(s).toBeLessThanOrEqual(sFull + 1e-12);
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });
});

describe('STATUS faults', () => {
  const status = (faults: number, trialsDone: number): RunEvent => ({
    kind: 'status',
    status: { ...baseStatus, flags: 0, seq: 0, trials: trialsDone, faults, state: 1 },
  });

  it('a fault other than UNCALIBRATED fails the block it falls in; UNCALIBRATED alone does not', () => {
    const N = 2 ** 20;
    const recs = chshRecords(3 * N, 2.6, 17);
    const batches = toBatches(recs, { framesPerBatch: 4096 });
    const c = new Certifier({ device, blockTrials: N, adversary: 'classical' });
    const res = [];
    for (let i = 0; i < batches.length; i++) {
      res.push(...c.push(batches[i]!));
      if (i === 2) res.push(...c.push([status(0x20, 3 * 4096 * 40)])); // UNCALIBRATED, block 0
      // OVERFLOW, in block 1
      if (i === Math.floor(batches.length / 2)) res.push(...c.push([status(0x08 | 0x20, N + 10)]));
    }
    expect(res.map((r) => (r.ok ? 'ok' : r.test))).toEqual(['ok', 'status', 'ok']);
    expect([c.stats.faultStatusFrames, c.stats.overflowStatusFrames]).toEqual([1, 1]);
    if (!res[1]!.ok) expect(res[1]!.reason).toBe('device fault during the block: OVERFLOW');
  });
});

describe('refusals', () => {
  it('an uncalibrated chip (B never clicks in its gate) is refused for S <= 2 with the S value, and outputs nothing', async () => {
    const N = 2 ** 20;
    const r = rng(23);
    const recs = new Uint8Array(N);
    // A clicks at random (A1 with probability 0.4, A0 0.5, none 0.1), B never: S = 0.4 in expectation.
    for (let i = 0; i < N; i++) {
      const u = r();
      recs[i] = ((r() < 0.5 ? 1 : 0) << 5) | ((r() < 0.5 ? 1 : 0) << 4) | (u < 0.4 ? 0x08 : u < 0.9 ? 0x04 : 0);
    }
    const res = await collect(certifyRun(asRun(toBatches(recs, { framesPerBatch: 4096 })), { device, blockTrials: N }));
    expect(res).toHaveLength(1);
    const b = res[0]!;
    expect(b.ok).toBe(false);
    if (!b.ok) {
      expect(b.test).toBe('bell');
      expect(b.reason).toMatch(
        /^S = 0\.4\d\d <= 2 \(lower bound 0\.\d+ over 1048576 trials\): no Bell violation; is the chip calibrated\? run epqrng calibrate$/,
      );
      expect(b.failedTests).toContain('rct');
      expect('input' in b).toBe(false);
      expect('draft' in b).toBe(false);
    }
  });
});

describe('block sizes', () => {
  it('any block size from 1 trial works, odd ones included, and out-of-range sizes are refused', () => {
    const acc = new TrialAccountant({ blockTrials: 7 });
    const recs = chshRecords(21, 2.4, 6);
    const done = acc.addTrials(0, 21, recs, 0, 0);
    expect(done.map((b) => [b.firstTrial, b.recorded, b.input.length])).toEqual([
      [0, 7, 2],
      [7, 7, 2],
      [14, 7, 2],
    ]);
    expect((done[2]!.input[1]! >> 4) & 1).toBe(A_TABLE[recs[14 + 6]!]);
    expect(() => new TrialAccountant({ blockTrials: 0 })).toThrow(/"blockTrials" must be an integer from 1 to/);
    expect(() => new TrialAccountant({ blockTrials: 1.5 })).toThrow(RangeError);
  });
});

describe('TrialAccountant input recycling', () => {
  it("a handed-back input buffer serves a later block, zeroed; never the open block's, never twice", () => {
    const acc = new TrialAccountant({ blockTrials: 8 });
    const done: BlockTally[] = [];
    // block 0: every trial a = 1, b = 1 (record A1 | B1 = 0b1010)
    acc.addTrials(0, 8, new Uint8Array(8).fill(0b1010), 0, 0, done);
    expect(done.length).toBe(1);
    const first = done[0]!.input;
    expect(Array.from(first)).toEqual([0xff, 0xff]);
    acc.releaseInput(first);
    acc.releaseInput(first); // a second hand-back of the same buffer is ignored
    // block 1 was opened before the hand-back: its buffer is a new one; block 2 reuses block 0's
    acc.addTrials(8, 8, new Uint8Array(8), 0, 1, done);
    expect(done[1]!.input.buffer).not.toBe(first.buffer);
    acc.addTrials(16, 3, new Uint8Array(3).fill(0b1000), 0, 2, done);
    const t = acc.finish();
    expect(t!.input.buffer).toBe(first.buffer);
    // the old bits were cleared: trials 0..2 have a = 1, b = 0, the rest 0
    expect(Array.from(t!.input)).toEqual([0b010101]);
  });
});

describe('certifyRun with recycleInputs', () => {
  it('hands each certified block the same input bits as without it, reusing the buffers of blocks already consumed', async () => {
    const N = 2 ** 17; // the smallest power of two that certifies at S = 2.8, eps = 0.01
    const recs = chshRecords(5 * N, 2.8, 31);
    const run = (recycleInputs: boolean) =>
      certifyRun(asRun(toBatches(recs, { framesPerBatch: 256 })), { device, blockTrials: N, eps: 0.01, recycleInputs });
    const snapshot = async (recycle: boolean) => {
      const seen: Array<{ hex: string; buffer: ArrayBufferLike }> = [];
      // read each input before asking for the next result, as the extract stage does
      for await (const r of run(recycle))
        if (r.ok) seen.push({ hex: Buffer.from(r.input).toString('hex'), buffer: r.input.buffer });
      return seen;
    };
    const plain = await snapshot(false);
    const recycled = await snapshot(true);
    expect(plain).toHaveLength(5);
    expect(recycled.map((b) => b.hex)).toEqual(plain.map((b) => b.hex));
    expect(new Set(plain.map((b) => b.buffer)).size).toBe(5);
    expect(new Set(recycled.map((b) => b.buffer)).size).toBeLessThanOrEqual(3);
  });
});

describe('an index jump from a broken or hostile chip', () => {
  const recs = new Uint8Array(40).fill(record(0, 0, 1, 0));

  it('a jump by 2^50 trials ends the run at once as a protocol error naming it (no block-by-block accounting of it)', () => {
    const acc = new TrialAccountant({ blockTrials: 2 ** 22 });
    acc.addTrials(0, 40, recs, 0, 0);
    const t0 = performance.now();
    expect(() => acc.addTrials(2 ** 50, 40, recs, 0, 1)).toThrow(DeviceError);
    expect(() => acc.addTrials(2 ** 50, 40, recs, 0, 1)).toThrow(
      /TRIALS frame seq 1 jumps from trial 40 to 1125899906842624: 1125899906842584 trials lost at once \(more than 67108864\)/,
    );
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('a STATUS claiming 2^52 trials performed is refused the same way at the end of the run', () => {
    const acc = new TrialAccountant({ blockTrials: 1000 });
    acc.addTrials(0, 40, recs, 0, 0);
    expect(() => acc.finish(2 ** 52)).toThrow(
      /the chip reports 4503599627370496 trials performed, 40 accounted: .* lost at once/,
    );
  });

  it('a gap of exactly the limit is still accounted as lost trials, block by block (nothing dropped)', () => {
    const blockTrials = 2 ** 20;
    const acc = new TrialAccountant({ blockTrials });
    acc.addTrials(0, 40, recs, 0, 0);
    const gap = 2 ** 26; // max(16 blocks, 2^26 trials) = 2^26
    const done = acc.addTrials(40 + gap, 40, recs, 1, 1);
    expect(done).toHaveLength(gap / blockTrials);
    const lost = done.reduce((s, b) => s + b.lostDevice, 0);
    // Blocks 0..63 are complete: the 40 recorded trials of block 0 plus every lost one; the gap's
    // last 40 lost trials fall in block 64, still open.
    expect(lost).toBe(gap - 40);
    expect(done.every((b) => b.lostDevice + b.recorded === blockTrials)).toBe(true);
  });
});
