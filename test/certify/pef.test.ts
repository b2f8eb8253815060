/**
 * Probability estimation (src/certify/pef): the models' extreme points, the
 * optimal-PEF solver and its validity check, and the published figures of
 * Jee, Curchod, Almeida, arXiv:2506.09555 (their CHSH example, code at
 * CQCL/PE_polytope_approximation) reproduced from the numbers they print.
 */
import { describe, expect, it } from 'vitest';
import { bestPef, designPef } from '../../src/certify/pef/design.ts';
import { log2Product, pefEntropyBits, publishedAccumulatedEntropy } from '../../src/certify/pef/entropy.ts';
import {
  behaviourOfS,
  cell,
  chshValue,
  deterministicPoints,
  modelExtremePoints,
  noisyChshBehaviour,
  UNIFORM_SETTINGS,
} from '../../src/certify/pef/model.ts';
import { rng } from './helpers.ts';
import { optimalPef, pefConditionMax, pefInvalidReason, withMargin } from '../../src/certify/pef/solver.ts';

/** Their PEF ("NearV" after 10 iterations, beta = 0.4/150), printed in the order a, b, x, y with y fastest. */
const PRINTED_F = [
  1.00739965, 1.00694326, 1.00665052, 0.9716124, 0.97130643, 0.9708737, 0.97612793, 1.00791225, 0.97062735, 0.97553063,
  0.97379151, 1.00836297, 1.0085293, 1.00743052, 1.00757709, 0.96945227,
];
function printedFactors(): Float64Array {
  const f = new Float64Array(16);
  for (let a = 0; a < 2; a++)
    for (let b = 0; b < 2; b++)
      for (let x = 0; x < 2; x++)
        for (let y = 0; y < 2; y++) f[cell(x, y, a, b)] = PRINTED_F[8 * a + 4 * b + 2 * x + y] as number;
  return f;
}
/** Expected counts N p(x,y) P(a,b|x,y) of their example. */
function expectedCounts(whiteNoise: number, trials: number): Float64Array {
  return noisyChshBehaviour(whiteNoise).map((p) => (trials * p) / 4);
}

describe('models', () => {
  it('NS + Tsirelson: 31 extreme points, 16 deterministic (S = +-2), 8 at S = 2 sqrt 2, the 7 other PR boxes', () => {
    const pts = modelExtremePoints('ns-tsirelson');
    expect(pts).toHaveLength(31);
    const s = pts.map(chshValue);
    expect(s.filter((v) => Math.abs(Math.abs(v) - 2) < 1e-12)).toHaveLength(16);
    expect(s.filter((v) => Math.abs(v - 2 * Math.SQRT2) < 1e-12)).toHaveLength(8);
    expect(s.filter((v) => Math.abs(v) < 1e-12)).toHaveLength(6);
    expect(s.filter((v) => Math.abs(v + 4) < 1e-12)).toHaveLength(1);
    expect(Math.max(...s)).toBeLessThanOrEqual(2 * Math.SQRT2 + 1e-12);
  });

  it('every extreme point is a no-signalling behaviour (normalised, marginals independent of the other setting)', () => {
    for (const q of [...modelExtremePoints('ns-tsirelson'), ...modelExtremePoints('ns')]) {
      for (const p of q) expect(p).toBeGreaterThanOrEqual(0);
      const pa = (x: number, y: number, a: number): number => (q[cell(x, y, a, 0)] ?? 0) + (q[cell(x, y, a, 1)] ?? 0);
      const pb = (x: number, y: number, b: number): number => (q[cell(x, y, 0, b)] ?? 0) + (q[cell(x, y, 1, b)] ?? 0);
      for (let x = 0; x < 2; x++) for (let y = 0; y < 2; y++) expect(pa(x, y, 0) + pa(x, y, 1)).toBeCloseTo(1, 14);
      for (let x = 0; x < 2; x++) expect(pa(x, 0, 0)).toBeCloseTo(pa(x, 1, 0), 14);
      for (let y = 0; y < 2; y++) expect(pb(0, y, 0)).toBeCloseTo(pb(1, y, 0), 14);
    }
    expect(modelExtremePoints('ns')).toHaveLength(24);
  });

  it('their behaviour: the CHSH-optimal one with 0.5% white noise has S = 2.81428, with 15% S = 2.40416', () => {
    expect(chshValue(noisyChshBehaviour(0.005))).toBeCloseTo(2.8142849891, 9);
    expect(chshValue(noisyChshBehaviour(0.15))).toBeCloseTo(2.404163056, 9);
  });
});

describe('published figures (Jee, Curchod, Almeida, CHSH example, N = 10^6, eps = 2^-128)', () => {
  const beta = 0.4 / 150;
  const eps = 2 ** -128;
  const counts = expectedCounts(0.005, 1e6);

  it('their printed PEF accumulates 1,197,928.58 bits with their formula', () => {
    const bits = publishedAccumulatedEntropy(log2Product(counts, printedFactors()), beta, eps);
    expect(bits).toBeCloseTo(1_197_928.58, 2);
  });

  it('and their full-precision 1,197,928.76 lies within the rounding of the 8 printed digits', () => {
    const f = printedFactors();
    // each printed entry is within 5e-9 of theirs: |d log2 F| <= 5e-9 / (F ln 2) per count, over beta
    let bound = 0;
    for (let i = 0; i < 16; i++) bound += ((counts[i] as number) * 5e-9) / ((f[i] as number) * Math.LN2 * beta);
    const bits = publishedAccumulatedEntropy(log2Product(counts, f), beta, eps);
    expect(Math.abs(bits - 1_197_928.76)).toBeLessThanOrEqual(bound);
    expect(bound).toBeLessThan(5);
  });

  it('their PEF meets the PEF condition on the 16 deterministic points with maximum 1 (to the printed digits)', () => {
    const worst = pefConditionMax(printedFactors(), deterministicPoints(), beta, UNIFORM_SETTINGS);
    // four entries of 1/4 weight, each rounded by at most 5e-9
    expect(Math.abs(worst - 1)).toBeLessThanOrEqual(5e-9);
  });

  it('the optimiser at 15% white noise: about 0.39 bit/trial on NS + Tsirelson, 0.18 on plain no-signalling', () => {
    const nu = noisyChshBehaviour(0.15).map((p) => p / 4);
    const n = 1e6;
    const rate = (model: 'ns' | 'ns-tsirelson'): number =>
      bestPef(nu, modelExtremePoints(model), UNIFORM_SETTINGS, (r, b) => publishedAccumulatedEntropy(n * r, b, eps) / n)
        .score;
    expect(Math.abs(rate('ns-tsirelson') - 0.39)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(rate('ns') - 0.18)).toBeLessThanOrEqual(0.01);
  });
});

describe('solver and validity check', () => {
  const points = modelExtremePoints('ns-tsirelson');
  const nu = behaviourOfS(2.43).map((p) => p / 4);

  it('stops within the duality gap it reports, with a feasible F', () => {
    for (const beta of [1e-3, 0.01, 0.1]) {
      const s = optimalPef(nu, points, beta, UNIFORM_SETTINGS, { gapBits: 1e-11 });
      expect(s.gapBits).toBeLessThanOrEqual(1e-11);
      expect(pefConditionMax(s.factors, points, beta, UNIFORM_SETTINGS)).toBeLessThanOrEqual(1 + 1e-15);
      expect(pefInvalidReason(withMargin(s.factors), points, beta, UNIFORM_SETTINGS)).toBeNull();
      // a looser stop gives a value no larger, and within its own gap of the tighter one
      const loose = optimalPef(nu, points, beta, UNIFORM_SETTINGS, { gapBits: 1e-5 });
      expect(loose.log2Rate).toBeLessThanOrEqual(s.log2Rate + 1e-11);
      expect(s.log2Rate - loose.log2Rate).toBeLessThanOrEqual(1e-5 + 1e-11);
    }
  });

  it('no PEF beats the optimum: random feasible F (scaled onto the constraints) score below it', () => {
    const beta = 0.01;
    const best = optimalPef(nu, points, beta, UNIFORM_SETTINGS).log2Rate;
    const rnd = rng(7);
    for (let t = 0; t < 200; t++) {
      const f = new Float64Array(16).map(() => 0.9 + 0.2 * rnd());
      const scaled = f.map((v) => v / pefConditionMax(f, points, beta, UNIFORM_SETTINGS));
      let r = 0;
      for (let i = 0; i < 16; i++) r += (nu[i] as number) * Math.log2(scaled[i] as number);
      expect(r).toBeLessThanOrEqual(best + 1e-12);
    }
  });

  it('the check refuses an F that exceeds the condition, a negative or non-finite entry, a bad beta', () => {
    const s = optimalPef(nu, points, 0.01, UNIFORM_SETTINGS);
    const good = withMargin(s.factors);
    expect(pefInvalidReason(good, points, 0.01, UNIFORM_SETTINGS)).toBeNull();
    expect(
      pefInvalidReason(
        good.map((f) => f * (1 + 1e-9)),
        points,
        0.01,
        UNIFORM_SETTINGS,
      ),
    ).toMatch(/condition/);
    expect(
      pefInvalidReason(
        s.factors.map((f, i) => (i === 3 ? -f : f)),
        points,
        0.01,
        UNIFORM_SETTINGS,
      ),
    ).toMatch(/finite number >= 0/);
    expect(
      pefInvalidReason(
        s.factors.map((f, i) => (i === 3 ? NaN : f)),
        points,
        0.01,
        UNIFORM_SETTINGS,
      ),
    ).toMatch(/finite/);
    expect(pefInvalidReason(good, points, 0, UNIFORM_SETTINGS)).toMatch(/beta/);
    // an F valid for the Tsirelson-cut model is not valid for plain no-signalling (the cut matters)
    expect(pefInvalidReason(good, modelExtremePoints('ns'), 0.01, UNIFORM_SETTINGS)).toMatch(/condition/);
  });

  it('designPef: a verified PEF whose certified entropy at the design behaviour grows with n', () => {
    const eps = 2 ** -64;
    const rates = [2 ** 16, 2 ** 20].map((n) => {
      const d = designPef(behaviourOfS(2.43), n, eps / 6, eps / 3);
      expect(pefInvalidReason(d.factors, points, d.beta, UNIFORM_SETTINGS)).toBeNull();
      return pefEntropyBits(n * d.expectedRateBits, d.beta, eps / 6, eps / 3) / n;
    });
    expect(rates[1]).toBeGreaterThan(rates[0] as number);
    expect(rates[1]).toBeGreaterThan(0.4);
  });
});
