/**
 * PEF certification in the certifier (src/certify/pef-bound.ts): certificates
 * record F, beta and their origin, each block's PEF comes from before its
 * data, a lost trial certifies nothing, and soundness by simulation against a
 * local-hidden-variable source at S = 2 (as test/certify/soundness.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { certificateDraftSchema } from '../../src/certify/certificate.ts';
import { Certifier } from '../../src/certify/certifier.ts';
import { behaviourOfS } from '../../src/certify/pef/model.ts';
import { log2Product, pefEntropyBits } from '../../src/certify/pef/entropy.ts';
import {
  PEF_THRESHOLD_GRID_SIZE,
  PefPlanner,
  behaviourOfCounts,
} from '../../src/certify/bounds/probability-estimation.ts';
import { outputBitsFor } from '../../src/certify/bounds.ts';
import { chshRecords, lhvRecords, toBatches } from './helpers.ts';

const device = { serial: 'EPQ1-00C0FFEE', firmware: '1.0.0' };

describe('PEF certification (classicalBound pef)', () => {
  const BLOCK = 2 ** 18;
  const records = chshRecords(3 * BLOCK, 2.43, 20261204);

  it('certifies more than Pironio-Massar at S = 2.43, and each certificate records F, beta and where they came from', () => {
    const pef = new Certifier({ device, blockTrials: BLOCK, adversary: 'classical', classicalBound: 'pef' });
    const pm = new Certifier({ device, blockTrials: BLOCK, adversary: 'classical' });
    const a = toBatches(records, { framesPerBatch: 1024 }).flatMap((b) => pef.push(b));
    const b = toBatches(records, { framesPerBatch: 1024 }).flatMap((x) => pm.push(x));
    expect(a.every((r) => r.ok)).toBe(true);
    const bits = a.map((r) => (r.ok ? r.outputBits : 0));
    for (const [i, r] of a.entries()) {
      if (!r.ok) continue;
      expect(certificateDraftSchema.parse(r.draft)).toBeTruthy();
      expect(r.draft.pef?.factors).toHaveLength(16);
      expect(r.draft.pef?.origin).toMatch(
        i === 0
          ? /^default design behaviour at S = 2.4, fixed before any data$/
          : new RegExp(`from block ${i - 1} \\(S-hat`),
      );
      expect(r.draft.assumptions.join('\n')).toMatch(
        /classical \(probability estimation\); not secure against quantum/,
      );
      expect(r.draft.bound).toMatch(/probability estimation/);
      // the entropy is the statement at the recorded threshold
      const p = r.draft.pef;
      if (!p) throw new Error('no pef record');
      const kappa = r.draft.eps.estimation / PEF_THRESHOLD_GRID_SIZE;
      expect(r.draft.entropyBits).toBeCloseTo(pefEntropyBits(p.thresholdBits, p.beta, r.draft.eps.smoothing, kappa), 6);
      expect(p.thresholdBits).toBeLessThanOrEqual(p.log2Product / p.beta);
    }
    for (const [i, r] of b.entries()) if (r.ok) expect(bits[i]).toBeGreaterThan(2 * r.outputBits);
    // 2^18 trials at S = 2.43: about 0.37 bit/trial (design estimate), well above Pironio-Massar's 0.15
    expect(Math.min(...bits) / BLOCK).toBeGreaterThan(0.33);
  });

  it('the next block is designed from the previous block: a certifier that saw different data before uses another F', () => {
    const c1 = new Certifier({ device, blockTrials: BLOCK, adversary: 'classical', classicalBound: 'pef' });
    const c2 = new Certifier({ device, blockTrials: BLOCK, adversary: 'classical', classicalBound: 'pef' });
    const other = chshRecords(BLOCK, 2.2, 7);
    const same = records.subarray(BLOCK, 2 * BLOCK);
    const r1 = toBatches(Uint8Array.from([...records.subarray(0, BLOCK), ...same])).flatMap((b) => c1.push(b));
    const r2 = toBatches(Uint8Array.from([...other, ...same])).flatMap((b) => c2.push(b));
    const f1 = r1[1]?.ok ? r1[1].draft.pef?.beta : undefined;
    const f2 = r2[1]?.ok ? r2[1].draft.pef?.beta : undefined;
    expect(r2[1]?.ok && r2[1].draft.pef?.origin).toMatch(/S = 2\.(19|20)\d from block 0/);
    expect(f1).toBeDefined();
    expect(f2).toBeDefined();
    expect(f1).not.toBe(f2);
  });

  it('a block with a lost trial certifies nothing (F = 0 for a lost trial)', () => {
    const c = new Certifier({ device, blockTrials: BLOCK, adversary: 'classical', classicalBound: 'pef' });
    const batches = toBatches(records.subarray(0, BLOCK), { framesPerBatch: 1024 });
    // drop one frame of the first batch: its trials are lost on the link
    const first = batches[0];
    if (!first) throw new Error('no batch');
    batches[0] = first.filter((_, i) => i !== 3);
    const out = [...batches.flatMap((b) => c.push(b)), ...c.finish()];
    expect(out).toHaveLength(1);
    expect(out[0]?.ok).toBe(false);
    expect(out[0]?.ok === false && out[0].test).toBe('entropy');
  });

  it('refuses pef without the classical adversary', () => {
    expect(() => new Certifier({ device, adversary: 'quantum', classicalBound: 'pef' })).toThrow(
      /needs adversary classical/,
    );
  });

  it('behaviourOfCounts: conditional frequencies per setting pair, null when one has no trial', () => {
    const q = behaviourOfCounts([1, 1, 1, 1, 2, 0, 0, 2, 3, 1, 0, 0, 0, 0, 0, 4]);
    expect(Array.from(q ?? [])).toEqual([0.25, 0.25, 0.25, 0.25, 0.5, 0, 0, 0.5, 0.75, 0.25, 0, 0, 0, 0, 0, 1]);
    expect(behaviourOfCounts([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1])).toBeNull();
  });
});

describe('PEF soundness against a local-hidden-variable source at S = 2', () => {
  const BLOCK = 10_000;
  const BLOCKS = 2_000;
  const EPS = 0.01;
  const limit = EPS + 3 * Math.sqrt((EPS * (1 - EPS)) / BLOCKS);
  const batches = toBatches(lhvRecords(BLOCK * BLOCKS, 20260101), { framesPerBatch: 1024 });
  // The PEF designed for S = 2.43 and kept (no adaptation toward the source's S = 2): the one most likely to be fooled.
  const prior = { behaviour: behaviourOfS(2.43), origin: 'test: S = 2.43' };
  const run = () => {
    const c = new Certifier({
      device,
      blockTrials: BLOCK,
      eps: EPS,
      adversary: 'classical',
      classicalBound: 'pef',
      pefPrior: prior,
      pefAdapt: false,
    });
    return batches.flatMap((b) => c.push(b));
  };
  const results = run();
  const design = new PefPlanner(BLOCK, EPS, prior, false).current();
  /** Share of blocks whose PEF bound alone gives an output byte, with F scaled by `inflate` (the validity check bypassed). */
  const pefAloneShare = (inflate: number): number => {
    const split = { total: EPS, smoothing: EPS / 6, estimation: EPS / 3, extraction: EPS / 3 };
    const f = design.design.factors.map((v) => v * inflate);
    const kappa = split.estimation / PEF_THRESHOLD_GRID_SIZE;
    const step = (2 * BLOCK) / PEF_THRESHOLD_GRID_SIZE;
    let certified = 0;
    for (const r of results) {
      const l = log2Product(r.ok ? r.draft.counts : r.counts, f) / design.design.beta;
      const j = Math.min(PEF_THRESHOLD_GRID_SIZE, Math.floor(l / step));
      if (
        j >= 1 &&
        outputBitsFor(pefEntropyBits(j * step, design.design.beta, split.smoothing, kappa), split.extraction) >= 8
      )
        certified++;
    }
    return certified / BLOCKS;
  };

  it(`share of certified blocks <= eps + 3 sigma over ${BLOCKS} blocks of ${BLOCK} trials`, () => {
    expect(results).toHaveLength(BLOCKS);
    expect(results.filter((r) => r.ok).length / BLOCKS).toBeLessThanOrEqual(limit);
    expect(results.filter((r) => !r.ok && r.test !== 'bell' && r.test !== 'entropy')).toHaveLength(0);
  });

  it('the PEF statement alone (without the Bell test) certifies at most eps + 3 sigma of these blocks', () => {
    expect(pefAloneShare(1)).toBeLessThanOrEqual(limit);
  });

  it('the test can fail: the same PEF 1% too large (failing its condition on deterministic points) certifies most blocks', () => {
    expect(pefAloneShare(1.01)).toBeGreaterThan(limit);
  });
});
