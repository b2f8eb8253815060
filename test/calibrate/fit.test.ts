/**
 * fitCurve: recovers known parameters, and its uncertainties are honest:
 * over many replicas of the same experiment (fixed seeds) the pulls
 * (estimate - truth) / error have a standard deviation near 1.
 */
import { describe, expect, it } from 'vitest';
import { fitCurve, invertMatrix } from '../../src/calibrate/fit.ts';
import { Rng } from '../../src/simulator/rng.ts';

describe('invertMatrix', () => {
  it('inverts a symmetric positive matrix and refuses a singular one', () => {
    const m = [
      [4, 1, 0.5],
      [1, 3, 0.2],
      [0.5, 0.2, 2],
    ];
    const inv = invertMatrix(m)!;
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const v = m[i]!.reduce((acc, x, k) => acc + x * inv[k]![j]!, 0);
        expect(v).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
    expect(
      invertMatrix([
        [1, 2],
        [2, 4],
      ]),
    ).toBeNull();
  });
});

describe('fitCurve', () => {
  const truth = [2.5, 0.8, 0.3]; // amplitude, rate, offset of a * exp(-k x) + c
  const model = (p: readonly number[], x: number) => p[0]! * Math.exp(-p[1]! * x) + p[2]!;
  const xs = Array.from({ length: 30 }, (_, i) => i * 0.2);
  const sigma = 0.02;

  function replica(rng: Rng) {
    const ys = xs.map((x) => model(truth, x) + sigma * rng.normal());
    return fitCurve({
      names: ['a', 'k', 'c'],
      xs,
      ys,
      sigmas: xs.map(() => sigma),
      model,
      initial: [1, 0.3, 0],
      steps: [1e-6, 1e-6, 1e-6],
    });
  }

  it('recovers the parameters from a poor start', () => {
    const fit = replica(new Rng(1, 0));
    fit.values.forEach((v, i) => {
      expect(Math.abs(v - truth[i]!)).toBeLessThan(5 * fit.errors[i]!);
    });
    expect(fit.dof).toBe(27);
  });

  it('reports uncertainties whose pulls have unit spread over 300 replicas', () => {
    const rng = new Rng(2, 0);
    const n = 300;
    const sumSq = [0, 0, 0];
    let chi2 = 0;
    for (let r = 0; r < n; r++) {
      const fit = replica(rng);
      fit.values.forEach((v, i) => {
        sumSq[i]! += ((v - truth[i]!) / fit.errors[i]!) ** 2;
      });
      chi2 += fit.chi2;
    }
    // The rms pull estimates 1 with relative standard error ~ 1/sqrt(2n) = 4%; allow 4 of those
    // (errors are scaled up by reduced chi^2 when it exceeds 1, which inflates them slightly).
    for (const s of sumSq) {
      const rms = Math.sqrt(s / n);
      expect(rms).toBeGreaterThan(1 - 4 / Math.sqrt(2 * n) - 0.05);
      expect(rms).toBeLessThan(1 + 4 / Math.sqrt(2 * n));
    }
    // Mean chi^2 is dof = 27 with standard error sqrt(2 * 27 / n) = 0.42.
    expect(Math.abs(chi2 / n - 27)).toBeLessThan(5 * Math.sqrt((2 * 27) / n));
  });

  it('refuses data that cannot determine the parameters', () => {
    expect(() =>
      fitCurve({
        names: ['a', 'b'],
        xs: [1, 2],
        ys: [1, 2],
        sigmas: [1, 1],
        model: (p, x) => p[0]! + p[1]! * x,
        initial: [0, 0],
        steps: [1e-3, 1e-3],
      }),
    ).toThrow(/2 points cannot determine 2 parameters/);
    expect(() =>
      fitCurve({
        names: ['a', 'b'],
        xs: [1, 1, 1],
        ys: [1, 2, 3],
        sigmas: [1, 1, 1],
        model: (p, x) => p[0]! + p[1]! * x,
        initial: [0, 0],
        steps: [1e-3, 1e-3],
      }),
    ).toThrow(/do not determine a, b/);
  });
});
