/**
 * The defaults (quantum adversary, eps 2^-64, blocks of 2^22 trials) deliver
 * certified bytes from calibrated chips within 30 s of chip time at
 * 1 M trials/s (issue 3 acceptance). Records are sampled from the simulator's
 * exact PROTOCOL 7 click distribution at each chip's ideal settings (the
 * simulator's physics, not its firmware: this is about the certifier).
 */
import { describe, expect, it } from 'vitest';
import { certifyRun, DEFAULT_BLOCK_TRIALS } from '../../src/certify/certifier.ts';
import {
  drawHiddenParams,
  expectedS,
  idealSettings,
  midRangeHidden,
  settingDistributions,
  trialModel,
  type HiddenParams,
} from '../../src/simulator/physics.ts';
import { asRun, collect, rng, toBatches } from './helpers.ts';

const TRIALS_PER_SECOND = 1e6;

function chipRecords(h: HiddenParams, n: number, seed: number): Uint8Array {
  const s = idealSettings(h);
  const dists = settingDistributions(trialModel(h, s), s.anglesCentidegrees);
  const cdfs = dists.map((d) => {
    const c = new Float64Array(16);
    let acc = 0;
    for (let i = 0; i < 16; i++) c[i] = acc += d[i]!;
    return c;
  });
  const r = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const xy = (r() < 0.5 ? 2 : 0) | (r() < 0.5 ? 1 : 0);
    const u = r() * cdfs[xy]![15]!;
    const c = cdfs[xy]!;
    let p = 0;
    while (p < 15 && c[p]! < u) p++;
    out[i] = (xy << 4) | p;
  }
  return out;
}

describe('defaults on calibrated chips', () => {
  const chips: Array<[string, HiddenParams]> = [
    ['mid-range', midRangeHidden()],
    ['drawn seed 4 (S about 2.39)', drawHiddenParams(4)],
    ['drawn seed 5 (S about 2.40)', drawHiddenParams(5)],
  ];
  for (const [name, h] of chips) {
    it(`${name}: the first block is certified, after ${DEFAULT_BLOCK_TRIALS / TRIALS_PER_SECOND} s of chip time (< 30 s)`, async () => {
      const sIdeal = expectedS(h, idealSettings(h));
      const recs = chipRecords(h, DEFAULT_BLOCK_TRIALS, 99);
      const res = await collect(
        certifyRun(asRun(toBatches(recs, { framesPerBatch: 4096 })), {
          device: { serial: 'EPQ1-00C0FFEE', firmware: '1.0.0' },
        }),
      );
      expect(res).toHaveLength(1);
      const b = res[0]!;
      if (!b.ok) throw new Error(`refused: ${b.reason}`);
      expect(b.draft.sEstimate).toBeCloseTo(sIdeal, 1);
      expect(b.outputBits).toBeGreaterThan(100_000);
      expect(b.draft.trialRange.count / TRIALS_PER_SECOND).toBeLessThan(30);
    });
  }
});
