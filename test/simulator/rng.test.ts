/**
 * The simulator's PRNG and samplers: determinism, and exactness of the
 * binomial samplers against the binomial pmf (chi-square, fixed seeds; the
 * bound k + 5 sqrt(2k) is 5 standard deviations of a chi-square with k dof).
 */
import { describe, expect, it } from 'vitest';
import { Rng, logFactorial } from '../../src/simulator/rng.ts';

function pmf(n: number, p: number, k: number): number {
  return Math.exp(logFactorial(n) - logFactorial(k) - logFactorial(n - k) + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

/** Chi-square of `draws` samples of Binomial(n, p) against the pmf, cells with expectation >= 5 (tails pooled). */
function chiSquare(rng: Rng, n: number, p: number, draws: number): { chi2: number; dof: number } {
  const counts = new Map<number, number>();
  for (let i = 0; i < draws; i++) {
    const k = rng.binomial(n, p);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const cells: Array<{ obs: number; exp: number }> = [];
  let accObs = 0;
  let accExp = 0;
  for (let k = 0; k <= n; k++) {
    accObs += counts.get(k) ?? 0;
    accExp += draws * pmf(n, p, k);
    if (accExp >= 5 && draws * (1 - sumPmf(n, p, k)) >= 5) {
      cells.push({ obs: accObs, exp: accExp });
      accObs = 0;
      accExp = 0;
    }
  }
  if (cells.length) {
    cells[cells.length - 1]!.obs += accObs;
    cells[cells.length - 1]!.exp += accExp;
  }
  const chi2 = cells.reduce((s, c) => s + (c.obs - c.exp) ** 2 / c.exp, 0);
  return { chi2, dof: cells.length - 1 };
}

const cdfCache = new Map<string, number[]>();
function sumPmf(n: number, p: number, k: number): number {
  const key = `${n}:${p}`;
  let c = cdfCache.get(key);
  if (!c) {
    c = [];
    let s = 0;
    for (let j = 0; j <= n; j++) {
      s += pmf(n, p, j);
      c.push(s);
    }
    cdfCache.set(key, c);
  }
  return c[k]!;
}

describe('Rng', () => {
  it('is deterministic per (seed, stream) and differs across them', () => {
    const a = new Rng(123);
    const b = new Rng(123);
    const seqA = Array.from({ length: 8 }, () => a.u32());
    expect(Array.from({ length: 8 }, () => b.u32())).toEqual(seqA);
    expect(Array.from({ length: 8 }, () => new Rng(124).u32())).not.toEqual(seqA);
    const c = new Rng(123, 1);
    expect(Array.from({ length: 8 }, () => c.u32())).not.toEqual(seqA);
  });

  it('float() is uniform on [0, 1): mean and variance within 5 sigma', () => {
    const r = new Rng(5);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const u = r.float();
      if (!(u >= 0 && u < 1)) outside++;
      s += u;
      s2 += u * u;
    }
    expect(outside).toBe(0);
    expect(Math.abs(s / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(s2 / n - 1 / 3)).toBeLessThan(5 * Math.sqrt((1 / 5 - 1 / 9) / n));
  });

  it('normal(): mean 0, variance 1 within 5 sigma', () => {
    const r = new Rng(6);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    expect(Math.abs(s / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
  });

  it('binomial: exact by chi-square, inversion and BTRS regimes alike', () => {
    const r = new Rng(7);
    for (const [n, p] of [
      [20, 0.3],
      [200, 0.02],
      [1000, 0.3],
      [5000, 0.5],
      [100, 0.93],
    ] as const) {
      const { chi2, dof } = chiSquare(r, n, p, 100_000);
      expect(dof).toBeGreaterThan(3);
      expect(chi2).toBeLessThan(dof + 5 * Math.sqrt(2 * dof));
    }
  });

  it('binomial at n = 6e7 (a 60 s MEASURE_COUNTS): mean and variance within 5 sigma, edge cases exact', () => {
    const r = new Rng(8);
    const n = 60_000_000;
    const p = 0.4123;
    const m = 20_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < m; i++) {
      const k = r.binomial(n, p);
      s += k;
      s2 += k * k;
    }
    const varTrue = n * p * (1 - p);
    const mean = s / m;
    expect(Math.abs(mean - n * p)).toBeLessThan(5 * Math.sqrt(varTrue / m));
    const v = s2 / m - mean * mean;
    expect(Math.abs(v / varTrue - 1)).toBeLessThan(5 * Math.sqrt(2 / m));
    expect(r.binomial(0, 0.5)).toBe(0);
    expect(r.binomial(10, 0)).toBe(0);
    expect(r.binomial(10, 1)).toBe(10);
    expect(() => r.binomial(-1, 0.5)).toThrow(RangeError);
    expect(() => r.binomial(5, 1.5)).toThrow(RangeError);
  });

  it('multinomial: counts sum to n; each marginal is Binomial(n, p_i) within 5 sigma', () => {
    const r = new Rng(9);
    const probs = [0.5, 0.2, 0.15, 0.1, 0.05, 0];
    const n = 1_000_000;
    const reps = 400;
    const sums = new Array(probs.length).fill(0);
    for (let i = 0; i < reps; i++) {
      const c = r.multinomial(n, probs);
      expect(c.reduce((a, b) => a + b, 0)).toBe(n);
      expect(c[5]).toBe(0);
      c.forEach((v, j) => {
        sums[j] += v;
      });
    }
    probs.forEach((p, j) => {
      if (p === 0) return;
      expect(Math.abs(sums[j] - reps * n * p)).toBeLessThan(5 * Math.sqrt(reps * n * p * (1 - p)));
    });
  });
});
