/**
 * Early stopping with probability estimation (src/certify/pef/stopping.ts):
 * a calibrated chip (S = 2.43) reaches a 512-bit target within 2^18 trials,
 * and against a local-hidden-variable source (S = 2) the rule fires in at
 * most eps + 3 sigma of the runs, a check that fails for a PEF 1% too large.
 */
import { describe, expect, it } from 'vitest';
import { designPef } from '../../src/certify/pef/design.ts';
import { behaviourOfS } from '../../src/certify/pef/model.ts';
import { stoppingThreshold, stoppingTrial } from '../../src/certify/pef/stopping.ts';
import { chshRecords, lhvRecords } from './helpers.ts';

describe('early stopping (--target-bits)', () => {
  it('a chip at S = 2.43 certifies 512 bits (eps 2^-64) within 2^18 trials', () => {
    const eps = 2 ** -64;
    const split = { smoothing: eps / 6, estimation: eps / 3, extraction: eps / 3 };
    // designed for the expected stopping point (about 1.5e4 trials at 0.42 bit/trial before the penalty)
    const d = designPef(behaviourOfS(2.43), 2 ** 14, split.smoothing, split.estimation);
    const l = stoppingThreshold(512, d.beta, split.smoothing, split.estimation, split.extraction);
    for (const seed of [1, 2, 3]) {
      const tau = stoppingTrial(chshRecords(2 ** 18, 2.43, seed), d.factors, d.beta, l);
      expect(tau).not.toBeNull();
      expect(tau as number).toBeLessThanOrEqual(2 ** 18);
      expect(tau as number).toBeLessThan(2 ** 15);
    }
  });

  const RUN = 10_000;
  const RUNS = 2_000;
  const EPS = 0.01;
  const limit = EPS + 3 * Math.sqrt((EPS * (1 - EPS)) / RUNS);
  const split = { smoothing: EPS / 6, estimation: EPS / 3, extraction: EPS / 3 };
  const d = designPef(behaviourOfS(2.43), RUN, split.smoothing, split.estimation);
  const l = stoppingThreshold(8, d.beta, split.smoothing, split.estimation, split.extraction);
  const records = lhvRecords(RUN * RUNS, 20260102);
  const fired = (inflate: number): number => {
    const f = d.factors.map((v) => v * inflate);
    let n = 0;
    for (let r = 0; r < RUNS; r++)
      if (stoppingTrial(records.subarray(r * RUN, (r + 1) * RUN), f, d.beta, l) !== null) n++;
    return n / RUNS;
  };

  it(`LHV source at S = 2: the rule fires in at most eps + 3 sigma of ${RUNS} runs of up to ${RUN} trials`, () => {
    expect(fired(1)).toBeLessThanOrEqual(limit);
  });

  it('the test can fail: the same PEF 1% too large fires in more of them', () => {
    expect(fired(1.01)).toBeGreaterThan(limit);
  });
});
