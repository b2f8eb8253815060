/**
 * The host's setting randomness (src/output/host-settings.ts): the exact
 * Bernoulli(gamma) interval sampler, the settings it draws, what they cost.
 *
 * Issue 6 acceptance: spot-checking at gamma = 0.01 consumes at most
 * h(gamma) + 2 gamma + 0.01 setting bits per trial, measured here over
 * 4 M trials (bits actually read from the generator, per block).
 */
import { describe, expect, it } from 'vitest';
import { LEDGER_TEST_ROUND, SettingsLedger } from '../../src/certify/echo.ts';
import { binaryEntropy } from '../../src/certify/bounds.ts';
import { settingBitsPerTrial } from '../../src/certify/spot-check.ts';
import {
  BernoulliSampler,
  ChaChaSource,
  CsprngSource,
  SettingsDraw,
  testRateFraction,
  type RandomByteSource,
} from '../../src/output/host-settings.ts';

const seedOf = (k: number): Uint8Array => new Uint8Array(32).fill(k);

/** Draws `trials` ledger bytes in chunks as the feeder does; returns them and the ledger. */
function drawMany(source: RandomByteSource, gamma: string | null, trials: number, blockTrials: number) {
  const draw = new SettingsDraw(source, gamma === null ? null : testRateFraction(gamma));
  const ledger = new SettingsLedger(draw.plan);
  const out = new Uint8Array(trials);
  for (let k = 0; k < trials; k += 16384) {
    const n = Math.min(16384, trials - k);
    draw.draw(out.subarray(k, k + n), n, ledger, blockTrials);
  }
  return { out, ledger, draw };
}

describe('testRateFraction', () => {
  it('gives gamma as an exact decimal fraction in lowest terms', () => {
    expect(testRateFraction('0.01')).toEqual({ numerator: 1, denominator: 100 });
    expect(testRateFraction(0.25)).toEqual({ numerator: 1, denominator: 4 });
    expect(testRateFraction('0.000125')).toEqual({ numerator: 1, denominator: 8000 });
    expect(testRateFraction('1')).toEqual({ numerator: 1, denominator: 1 });
    for (const bad of ['0', '1.5', '-0.1', '1e-2', '0.0000001', 'x'])
      expect(() => testRateFraction(bad)).toThrow(RangeError);
  });
});

describe('BernoulliSampler', () => {
  it('hits probability p/q within 5 sigma (1/100, 1/3, 7/8) and draws at about h(p/q) bits per trial', () => {
    for (const [p, q] of [
      [1, 100],
      [1, 3],
      [7, 8],
    ] as const) {
      const source = new ChaChaSource(seedOf(p + q));
      const s = new BernoulliSampler(p, q, source);
      const n = 400_000;
      let ones = 0;
      for (let i = 0; i < n; i++) ones += s.next();
      const gamma = p / q;
      const sigma = Math.sqrt(n * gamma * (1 - gamma));
      expect(Math.abs(ones - n * gamma)).toBeLessThan(5 * sigma);
      // Arithmetic decoding: bits read = -log2 of the decided outcomes' probability + at most 48 bits in the
      // interval + rejections (probability < q / 2^40 each). The information itself fluctuates around n h(gamma)
      // with sd sqrt(n gamma (1 - gamma)) |log2(gamma / (1 - gamma))|.
      const info = -ones * Math.log2(gamma) - (n - ones) * Math.log2(1 - gamma);
      expect(source.bitsConsumed).toBeGreaterThanOrEqual(info - 1);
      expect(source.bitsConsumed).toBeLessThanOrEqual(info + 48 + 8);
      const sdInfo = sigma * Math.abs(Math.log2(gamma / (1 - gamma)));
      expect(Math.abs(info - n * binaryEntropy(gamma))).toBeLessThan(5 * sdInfo);
    }
  });

  it('is the same sequence for the same seed and another for another seed', () => {
    const seq = (k: number): string => {
      const s = new BernoulliSampler(1, 10, new ChaChaSource(seedOf(k)));
      let t = '';
      for (let i = 0; i < 2000; i++) t += s.next();
      return t;
    };
    expect(seq(1)).toBe(seq(1));
    expect(seq(1)).not.toBe(seq(2));
  });

  it('decides each trial independently of the previous one (2x2 transition counts, chi-square 1 dof < 24, false alarm ~1e-6)', () => {
    const s = new BernoulliSampler(1, 4, new ChaChaSource(seedOf(9)));
    const c = [0, 0, 0, 0];
    let prev = s.next();
    for (let i = 0; i < 400_000; i++) {
      const b = s.next();
      c[prev * 2 + b]!++;
      prev = b;
    }
    const n = c[0]! + c[1]! + c[2]! + c[3]!;
    let chi = 0;
    for (let a = 0; a < 2; a++)
      for (let b = 0; b < 2; b++) {
        const row = c[a * 2]! + c[a * 2 + 1]!;
        const col = c[b]! + c[2 + b]!;
        const e = (row * col) / n;
        chi += (c[a * 2 + b]! - e) ** 2 / e;
      }
    expect(chi).toBeLessThan(24);
  });
});

describe('SettingsDraw', () => {
  it('spot-checking at gamma = 0.01: at most h(gamma) + 2 gamma + 0.01 setting bits per trial, measured over 4 M trials', () => {
    const gamma = 0.01;
    const trials = 2 ** 22;
    const blockTrials = 2 ** 20;
    const source = new CsprngSource();
    const { out, ledger } = drawMany(source, '0.01', trials, blockTrials);
    let bits = 0;
    for (let b = 0; b < trials / blockTrials; b++) bits += ledger.takeBlockBits(b);
    expect(bits).toBe(source.bitsConsumed);
    const perTrial = bits / trials;
    expect(perTrial).toBeLessThanOrEqual(binaryEntropy(gamma) + 2 * gamma + 0.01);
    // And not a fixed word per trial: within 0.002 of the expectation h(gamma) + 2 gamma (sd about 0.0003 here).
    expect(Math.abs(perTrial - settingBitsPerTrial(gamma))).toBeLessThan(0.002);
    // Generation rounds are (0, 0); test rounds have uniform x, y (chi-square, 3 dof, < 30).
    let tests = 0;
    let badGeneration = 0;
    const xy = [0, 0, 0, 0];
    for (let i = 0; i < trials; i++) {
      const v = out[i]!;
      if (v & LEDGER_TEST_ROUND) {
        tests++;
        xy[v & 3]!++;
      } else if (v !== 0) {
        badGeneration++;
      }
    }
    expect(badGeneration).toBe(0);
    expect(Math.abs(tests - trials * gamma)).toBeLessThan(5 * Math.sqrt(trials * gamma * (1 - gamma)));
    const chi = xy.reduce((a, c) => a + (c - tests / 4) ** 2 / (tests / 4), 0);
    expect(chi).toBeLessThan(30);
  });

  it('without spot-checking: every trial a test round with uniform x, y, 2 bits each', () => {
    const source = new CsprngSource();
    const { out, ledger, draw } = drawMany(source, null, 100_000, 2 ** 16);
    expect(draw.plan.testRate).toBeNull();
    expect(ledger.takeBlockBits(0) + ledger.takeBlockBits(1)).toBe(200_000);
    expect(out.every((v) => (v & LEDGER_TEST_ROUND) !== 0)).toBe(true);
  });

  it('a seed file gives the same settings again (replayable), the OS CSPRNG does not', () => {
    const a = drawMany(new ChaChaSource(seedOf(3)), '0.05', 50_000, 2 ** 16).out;
    const b = drawMany(new ChaChaSource(seedOf(3)), '0.05', 50_000, 2 ** 16).out;
    const c = drawMany(new CsprngSource(), '0.05', 50_000, 2 ** 16).out;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });
});
