/**
 * Soundness by simulation (issue 3 acceptance): with eps = 0.01 and blocks of
 * 10^4 trials from a local-hidden-variable source tuned to S = 2 exactly, the
 * share of certified blocks over at least 2,000 blocks is at most
 * 0.01 + 3 binomial sigma. The LHV records are generated here with a seeded
 * PRNG (helpers.ts lhvRecords: a = b = lambda, a shared uniform bit, so
 * E_xy = 1 for every x, y and S = 1 + 1 + 1 - 1 = 2 exactly, outcomes uniform).
 */
import { describe, expect, it } from 'vitest';
import { pironioMinEntropy } from '../../src/certify/bounds.ts';
import { Certifier } from '../../src/certify/certifier.ts';
import { lhvRecords, toBatches } from './helpers.ts';

const device = { serial: 'EPQ1-00C0FFEE', firmware: '1.0.0' };
const BLOCK = 10_000;
const BLOCKS = 2_000;
const EPS = 0.01;
const limit = EPS + 3 * Math.sqrt((EPS * (1 - EPS)) / BLOCKS);
const records = lhvRecords(BLOCK * BLOCKS, 20260101);
const batches = toBatches(records, { framesPerBatch: 1024 });

describe('soundness against a local-hidden-variable source at S = 2', () => {
  for (const adversary of ['classical', 'quantum'] as const) {
    it(`${adversary}: share of certified blocks <= eps + 3 sigma over ${BLOCKS} blocks of ${BLOCK} trials`, () => {
      const c = new Certifier({ device, blockTrials: BLOCK, eps: EPS, adversary });
      const results = batches.flatMap((b) => c.push(b));
      expect(results).toHaveLength(BLOCKS);
      const certified = results.filter((r) => r.ok).length;
      expect(certified / BLOCKS).toBeLessThanOrEqual(limit);
      // Every refusal here is the Bell test (the source is otherwise healthy and uniform).
      expect(results.filter((r) => !r.ok && r.test !== 'bell' && r.test !== 'entropy')).toHaveLength(0);
    }, 300_000);
  }

  it('the test can fail: evaluating the bound at S-hat itself (no confidence bound) would certify far more than eps of these blocks', () => {
    const c = new Certifier({ device, blockTrials: BLOCK, eps: EPS, adversary: 'classical' });
    const results = batches.flatMap((b) => c.push(b));
    // The extraction share of eps (epsSplit: eps/3).
    const epsExt = EPS / 3;
    let naive = 0;
    for (const r of results) {
      const s = r.ok ? r.draft.sEstimate : r.sEstimate;
      if (BLOCK * pironioMinEntropy(s) - 2 * Math.log2(1 / epsExt) >= 8) naive++;
    }
    expect(naive / BLOCKS).toBeGreaterThan(limit);
  });
});
