import { describe, expect, it } from 'vitest';
import {
  azumaDeviation,
  binaryEntropy,
  chshRate,
  chshRateSlope,
  eatEntropy,
  eatThresholdS,
  eatV,
  EAT_THRESHOLD_GRID_SIZE,
  EAT_THRESHOLD_STEP,
  epsSplit,
  OMEGA_MAX,
  omegaOfS,
  outputBitsFor,
  pironioMinEntropy,
  S_MAX,
  sLowerBound,
} from '../../src/certify/bounds.ts';
import { blockBound, minBlockTrials } from '../../src/certify/bounds/registry.ts';

/**
 * Independent evaluation of Pironio's bound through the guessing probability:
 * P_guess(AB|XY) <= (1 + sqrt(2 - S^2/4)) / 2.
 */
function pironioByGuessing(s: number): number {
  const pGuess = (1 + Math.sqrt(2 - (s * s) / 4)) / 2;
  return -Math.log(pGuess) / Math.log(2);
}

/** Independent evaluation of the CHSH rate in the S form: 1 - h(1/2 + 1/2 sqrt(S^2/4 - 1)), h by natural logs. */
function rateByS(s: number): number {
  const p = 0.5 + 0.5 * Math.sqrt((s * s) / 4 - 1);
  const hNat = -p * Math.log(p) - (1 - p) * Math.log(1 - p);
  return 1 - hNat / Math.LN2;
}

describe('Pironio et al. 2010 min-entropy bound', () => {
  it('matches an independent evaluation through the guessing probability', () => {
    for (const s of [2.05, 2.2, 2.3, 2.4, 2.5, 2.7, 2.8]) {
      expect(pironioMinEntropy(s)).toBeCloseTo(pironioByGuessing(s), 12);
    }
  });

  it('is 0 bits at the local bound S = 2 and 1 bit at Tsirelson S = 2 sqrt 2 (both ends of the printed formula)', () => {
    expect(pironioMinEntropy(2)).toBe(0);
    expect(pironioMinEntropy(1.5)).toBe(0);
    expect(pironioMinEntropy(S_MAX)).toBeCloseTo(1, 12);
    expect(pironioMinEntropy(3)).toBeCloseTo(1, 12);
  });

  it('paper number, approximately: n = 3016 events at I = 2.414, 99% confidence -> printed 42 bits; their Azuma form (|D_i| <= 1/q + 2 sqrt 2, q = 1/4) gives 40.8 bits here', () => {
    // Pironio et al. 2010: 3,016 events, CHSH estimate 2.414, "42 new random numbers are generated with 99%
    // confidence".
    // Their finite-statistics statement bounds the min-entropy by n f(I - eps) with the Azuma inequality for
    // martingale differences bounded by c = 1/q + I_q; we evaluate that printed form. The 3% gap to 42 is not
    // explained (rounding of the printed I = 2.414 moves the result by about 0.5 bit); the assertion allows 2 bits.
    const c = 1 / 0.25 + 2 * Math.SQRT2;
    const dev = azumaDeviation(3016, 0.01, 2 * c);
    const bits = 3016 * pironioMinEntropy(2.414 - dev);
    expect(Math.abs(bits - 42)).toBeLessThan(2);
  });
});

describe('Azuma-Hoeffding lower bound', () => {
  it('is the deviation c sqrt(ln(1/eps)/(2n)) with c = 8 for the estimator in [-4, 4]', () => {
    const n = 1e6;
    const eps = 2 ** -64;
    expect(azumaDeviation(n, eps)).toBeCloseTo(8 * Math.sqrt((64 * Math.LN2) / (2 * n)), 12);
    expect(sLowerBound(2.4, n, eps)).toBeCloseTo(2.4 - 8 * Math.sqrt((64 * Math.LN2) / (2 * n)), 12);
  });

  it('holds at its error rate on i.i.d. trials at S = 2 (fixed seed): P[S_lb > S] <= eps + 3 sigma', () => {
    // Exact sampling of the number of won games among n trials at omega = 3/4.
    let s = 12345;
    const rand = (): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 4294967296;
    };
    const n = 400;
    const eps = 0.05;
    const blocks = 4000;
    let exceed = 0;
    for (let b = 0; b < blocks; b++) {
      let wins = 0;
      for (let i = 0; i < n; i++) if (rand() < 0.75) wins++;
      const sHat = (8 * wins - 4 * n) / n;
      if (sLowerBound(sHat, n, eps) > 2) exceed++;
    }
    expect(exceed / blocks).toBeLessThanOrEqual(eps + 3 * Math.sqrt((eps * (1 - eps)) / blocks));
  });
});

describe('CHSH rate g(omega) of ADFRV 2018 (min-tradeoff function)', () => {
  it('matches the S form 1 - h(1/2 + 1/2 sqrt(S^2/4 - 1)) at omega = 1/2 + S/8', () => {
    for (const s of [2.1, 2.3, 2.4, 2.6, 2.8]) expect(chshRate(omegaOfS(s))).toBeCloseTo(rateByS(s), 12);
  });

  it('is 0 at omega = 3/4 and 1 at omega = (2 + sqrt 2)/4', () => {
    expect(chshRate(0.75)).toBe(0);
    expect(chshRate(OMEGA_MAX)).toBeCloseTo(1, 9);
  });

  it('has the derivative of a central finite difference, and 4/ln 2 at omega = 3/4', () => {
    for (const w of [0.76, 0.8, 0.82, 0.84]) {
      const h = 1e-6;
      const fd = (chshRate(w + h) - chshRate(w - h)) / (2 * h);
      expect(chshRateSlope(w)).toBeCloseTo(fd, 4);
    }
    expect(chshRateSlope(0.75)).toBeCloseTo(4 / Math.LN2, 9);
  });

  it('DIQKD noise threshold from the printed rate g(omega) - h(Q) with S = 2 sqrt 2 (1 - 2Q): Q = 7.1% (derived from the formula, not a printed figure of ADFRV)', () => {
    // The asymptotic DIQKD rate of the CHSH protocol, r = g(omega) - h(Q) (ADFRV 2018 Eq. for the asymptotic rate;
    // Acin et al., PRL 98, 230501 (2007) print its root, 7.1%). Bisect for the root.
    const rate = (q: number): number => chshRate(omegaOfS(S_MAX * (1 - 2 * q))) - binaryEntropy(q);
    let lo = 0.01;
    let hi = 0.2;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (rate(mid) > 0) lo = mid;
      else hi = mid;
    }
    expect(lo).toBeGreaterThan(0.0705);
    expect(lo).toBeLessThan(0.0715);
  });
});

describe('EAT bound (ADFRV 2018)', () => {
  const epsS = 2 ** -66;
  const epsEA = 2 ** -66 / EAT_THRESHOLD_GRID_SIZE;

  it("v = 2 (log2(1 + 2 d_O) + ceil(g')) sqrt(1 - 2 log2(eps_s eps_EA))", () => {
    expect(eatV(5.2, 2 ** -10, 2 ** -20, 4)).toBeCloseTo(2 * (Math.log2(9) + 6) * Math.sqrt(1 + 60), 12);
    expect(eatV(5.2, 2 ** -10, 2 ** -20, 2)).toBeCloseTo(2 * (Math.log2(5) + 6) * Math.sqrt(1 + 60), 12);
  });

  it('equals the best tangent found by an independent brute-force search over the tangent point', () => {
    const n = 2 ** 22;
    const w = omegaOfS(2.4);
    const got = eatEntropy(n, w, epsS, epsEA);
    let best = -Infinity;
    for (let t = 0.7500001; t <= w; t += 1e-6) {
      const slope = chshRateSlope(t);
      const v = 2 * (Math.log2(9) + Math.ceil(slope)) * Math.sqrt(1 - 2 * Math.log2(epsS * epsEA));
      best = Math.max(best, n * (chshRate(t) + slope * (w - t)) - v * Math.sqrt(n));
    }
    expect(got.entropyBits).toBeGreaterThan(best - 1e-6 * n);
    expect(got.entropyBits).toBeLessThan(best + 1e-6 * n);
  });

  it('never exceeds the asymptotic n g(omega) and approaches it as n grows', () => {
    const w = omegaOfS(2.4);
    let previousRate = -Infinity;
    for (const n of [1e6, 1e7, 1e8, 1e9, 1e11]) {
      const k = eatEntropy(n, w, epsS, epsEA).entropyBits;
      expect(k).toBeLessThan(n * chshRate(w));
      expect(k / n).toBeGreaterThan(previousRate);
      previousRate = k / n;
    }
    expect(previousRate).toBeGreaterThan(0.97 * chshRate(w));
  });

  it('takes the largest threshold of the fixed grid at or below S-hat', () => {
    expect(eatThresholdS(2.0)).toBeNull();
    expect(eatThresholdS(2 + EAT_THRESHOLD_STEP / 2)).toBeNull();
    expect(eatThresholdS(2.4)).toBeLessThanOrEqual(2.4);
    expect(eatThresholdS(2.4)).toBeGreaterThan(2.4 - EAT_THRESHOLD_STEP);
    expect(eatThresholdS(3)).toBeLessThanOrEqual(S_MAX);
  });
});

describe('block output length', () => {
  it('m = floor(k - 2 log2(1/eps_ext)) rounded down to bytes', () => {
    expect(outputBitsFor(1000.7, 2 ** -20)).toBe(960);
    expect(outputBitsFor(47.9, 2 ** -20)).toBe(0);
    expect(outputBitsFor(48, 2 ** -20)).toBe(8);
  });

  it('splits eps as the certificate states and keeps the total: eps_EA + 2 eps_s + eps_ext', () => {
    const q = epsSplit(2 ** -64);
    expect((q.estimation + 2 * q.smoothing + q.extraction) / 2 ** -64).toBeCloseTo(1, 12);
  });

  it('classical: k = n f(S_thr - mu) - log2(K/eps_EA) (Pironio-Massar 2013 form), independently evaluated', () => {
    const n = 1e6;
    const eps = 2 ** -64;
    const b = blockBound(n, 2.4, eps, 'classical');
    const K = EAT_THRESHOLD_GRID_SIZE;
    const sThr = 2 + Math.floor(0.4 * 1024) / 1024;
    const epsMu = (eps / 6) * (eps / 3 / K);
    const mu = 8 * Math.sqrt(Math.log(1 / epsMu) / (2 * n));
    const k = n * pironioByGuessing(sThr - mu) - Math.log2((3 * K) / eps);
    expect(b.sEvaluated).toBeCloseTo(sThr - mu, 12);
    expect(b.entropyBits).toBeCloseTo(k, 6);
    expect(b.outputBits).toBe(8 * Math.floor(Math.floor(k - 2 * Math.log2(3 / eps)) / 8));
  });

  it('minBlockTrials is the smallest block with a whole output byte', () => {
    for (const [s, adv] of [
      [2.4, 'quantum'],
      [2.3, 'quantum'],
      [2.4, 'classical'],
    ] as const) {
      const n = minBlockTrials(s, 2 ** -64, adv);
      expect(blockBound(n, s, 2 ** -64, adv).outputBits).toBeGreaterThanOrEqual(8);
      expect(blockBound(n - 1, s, 2 ** -64, adv).outputBits).toBe(0);
    }
    // The default block (2^22) is above the quantum minimum at S = 2.3 and 2.4 (certifier.ts).
    expect(minBlockTrials(2.3, 2 ** -64, 'quantum')).toBeLessThan(2 ** 22);
    expect(minBlockTrials(2, 2 ** -64, 'quantum')).toBe(Infinity);
  });
});
