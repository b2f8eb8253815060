/**
 * The variance bound of the Dupuis-Fawzi second order (src/certify/bounds/dupuis-fawzi.ts
 * spotCheckDf19Pieces): the wins-only min-tradeoff function takes two values s/gamma
 * apart, so its variance under any distribution on {win, lose, bottom} is at
 * most (s/gamma)^2/4 (Popoviciu), s^2/4 with every trial a test round. Checked
 * over random distributions, and the check can fail: half the bound is exceeded.
 */
import { describe, expect, it } from 'vitest';
import { chshRate, chshRateSlope } from '../../src/certify/bounds.ts';
import { spotCheckDf19Pieces } from '../../src/certify/bounds/dupuis-fawzi.ts';
import { rng } from './helpers.ts';

describe('DF19 variance bound', () => {
  const maxVariance = (s: number, gamma: number, t: number): number => {
    const T0 = chshRate(t) - s * t;
    const f = [T0 + s / gamma, T0, T0];
    const r = rng(20261204);
    let worst = 0;
    for (let k = 0; k < 20_000; k++) {
      // random distributions, and the two-point ones that reach the maximum
      const u = k < 2 ? [0.5, 0.5 * k, 0.5 * (1 - k)] : [r(), r(), r()];
      const z = (u[0] ?? 0) + (u[1] ?? 0) + (u[2] ?? 0);
      const q = u.map((x) => x / z);
      const mean = q.reduce((a, p, i) => a + p * (f[i] ?? 0), 0);
      const second = q.reduce((a, p, i) => a + p * (f[i] ?? 0) ** 2, 0);
      worst = Math.max(worst, second - mean * mean);
    }
    return worst;
  };

  it('Var(f) <= min(s^2/gamma, (s/gamma)^2/4) under any distribution when gamma >= 1/4; s^2/4 at gamma = 1', () => {
    for (const t of [0.76, 0.8, 0.85]) {
      const s = chshRateSlope(t);
      expect(spotCheckDf19Pieces(s, 1).variance).toBeCloseTo((s * s) / 4, 12);
      for (const gamma of [0.25, 0.5, 1]) {
        const worst = maxVariance(s, gamma, t);
        const { variance } = spotCheckDf19Pieces(s, gamma);
        expect(worst).toBeLessThanOrEqual(variance * (1 + 1e-9));
        // the check can fail: a bound half as large is exceeded
        expect(worst).toBeGreaterThan(variance / 2);
      }
    }
  });
});
