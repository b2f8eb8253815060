/**
 * The shared maths against values computed independently: erfc against the
 * C library's erfc (as Python's math.erfc prints it) and its identities, the
 * chi-square (3 dof) quantiles of standard tables, and the integer
 * golden-section maximiser against an exhaustive search.
 */
import { describe, expect, it } from 'vitest';
import {
  chiSquare3Critical,
  chiSquare3Survival,
  erfc,
  maximiseInteger,
  normalCdf,
  normalUpperTail,
} from '../../src/math/index.ts';

describe('erfc', () => {
  it('matches tabulated values on both branches (series below 3, continued fraction above)', () => {
    const table: Array<[number, number]> = [
      [0, 1],
      [0.5, 0.4795001221869535],
      [1, 0.15729920705028513],
      [2, 0.004677734981047265],
      [2.9, 4.109787809945886e-5],
      [3.1, 1.1648657367199589e-5],
      [5, 1.5374597944280351e-12],
      [10, 2.088487583762545e-45],
    ];
    for (const [x, v] of table) {
      // Below 3, erfc = 1 - erf: absolute error about 1e-16, so relative error grows as erfc falls.
      expect(Math.abs(erfc(x) - v), `erfc(${x})`).toBeLessThan(1e-15);
      if (x <= 1 || x >= 3) expect(Math.abs(erfc(x) - v) / v, `erfc(${x}) relative`).toBeLessThan(1e-13);
    }
  });

  it('is 2 - erfc(-x) for negative x, and 0 far out', () => {
    for (const x of [0.1, 1.7, 4.2]) expect(erfc(-x)).toBeCloseTo(2 - erfc(x), 15);
    expect(erfc(30)).toBe(0);
    expect(Number.isNaN(erfc(Number.NaN))).toBe(true);
  });

  it('gives Phi and Q that add to one, Phi(0) = 1/2, Q(1.959963984540054) = 0.025', () => {
    expect(normalCdf(0)).toBe(0.5);
    for (const z of [-3, -0.4, 1.2, 5]) expect(normalCdf(z) + normalUpperTail(z)).toBeCloseTo(1, 15);
    expect(normalUpperTail(1.959963984540054)).toBeCloseTo(0.025, 15);
  });
});

describe('chi-square, 3 degrees of freedom', () => {
  it('has the tabulated critical values and its survival there is alpha', () => {
    expect(chiSquare3Critical(0.05)).toBeCloseTo(7.814727903251178, 9);
    expect(chiSquare3Critical(0.001)).toBeCloseTo(16.26623619623813, 9);
    for (const alpha of [0.05, 1e-3, 2 ** -20, 2 ** -40])
      expect(chiSquare3Survival(chiSquare3Critical(alpha)) / alpha).toBeCloseTo(1, 9);
    expect(chiSquare3Survival(0)).toBe(1);
  });
});

describe('maximiseInteger', () => {
  const brute = (f: (v: number) => number, lo: number, hi: number) => {
    let best = lo;
    for (let v = lo + 1; v <= hi; v++) if (f(v) > f(best)) best = v;
    return best;
  };

  it('finds the exact maximiser of unimodal functions, whatever the scan width', () => {
    for (let peak = -50; peak <= 1050; peak += 37) {
      const f = (v: number) => -Math.abs(v - peak) - 1e-3 * (v - peak) ** 2;
      for (const width of [3, 8]) {
        expect(maximiseInteger(f, 0, 1000, width)).toBe(brute(f, 0, 1000));
      }
    }
  });

  it('rounds the bounds inwards and handles intervals narrower than the scan', () => {
    const f = (v: number) => -((v - 2.4) ** 2);
    expect(maximiseInteger(f, 0.5, 4.5)).toBe(2);
    expect(maximiseInteger(f, 3, 3)).toBe(3);
    expect(maximiseInteger((v) => v, 0, 4)).toBe(4);
  });
});
