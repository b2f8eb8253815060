/**
 * The calibration's own closed forms (models.ts, click-model.ts) against the
 * simulator's independent implementation of PROTOCOL 7 (tests may use it):
 * same gate share, same efficiencies, same S for random devices and settings.
 */
import { describe, expect, it } from 'vitest';
import {
  gateFraction,
  efficiencyAtBias,
  darkRateAtBias,
  darkClickProbability,
  rabiBrightness,
} from '../../src/calibrate/models.ts';
import {
  chshValue,
  expectedCountsPerTrial,
  pironioBitsPerTrial,
  type ClickModel,
  type Quad,
} from '../../src/calibrate/click-model.ts';
import { chshAnglesCentideg, toCentidegrees, wrapHalfTurnDeg } from '../../src/calibrate/angles.ts';
import {
  brightness,
  clickDistribution,
  darkClickProbability as simDark,
  darkRateHz,
  detectorEfficiency,
  drawHiddenParams,
  expectedS,
  gateProbability,
  trialModel,
  type ChipSettings,
  type HiddenParams,
} from '../../src/simulator/physics.ts';
import { Rng } from '../../src/simulator/rng.ts';

function modelOf(h: HiddenParams, s: ChipSettings): ClickModel {
  return {
    brightness: brightness(h, s.pumpMicrowatts),
    g2: h.g2,
    visibility: h.visibility,
    rotDeg: h.rotDegrees,
    efficiency: [0, 1, 2, 3].map((d) => detectorEfficiency(h, d, s.biasMillivolts[d]!)) as Quad,
    gateFraction: gateProbability(h, s.windowPs, s.delayPs),
    darkProbability: [0, 1, 2, 3].map((d) => simDark(h, d, s.biasMillivolts[d]!, s.windowPs)) as Quad,
  };
}

function randomSettings(rng: Rng, h: HiddenParams): ChipSettings {
  const u = (a: number, b: number) => a + (b - a) * rng.float();
  return {
    anglesCentidegrees: [0, 1, 2, 3].map(() => Math.floor(u(0, 18000))) as Quad,
    windowPs: Math.round(u(100, 3000)),
    delayPs: Math.round(h.pathDelayPs + u(-300, 300)),
    pumpMicrowatts: Math.round(u(50, 600)),
    biasMillivolts: [0, 1, 2, 3].map(() => Math.round(u(24000, 37000))) as Quad,
  };
}

describe('section 7 curves', () => {
  it('gate share, efficiency, dark rate and brightness match the simulator for 200 random devices', () => {
    const rng = new Rng(11, 0);
    for (let seed = 0; seed < 200; seed++) {
      const h = drawHiddenParams(seed);
      const s = randomSettings(rng, h);
      expect(gateFraction(s.delayPs, h.pathDelayPs, h.jitterPs, s.windowPs)).toBeCloseTo(
        gateProbability(h, s.windowPs, s.delayPs),
        6,
      );
      expect(rabiBrightness(s.pumpMicrowatts, h.bMax, h.piPumpMicrowatts)).toBeCloseTo(
        brightness(h, s.pumpMicrowatts),
        12,
      );
      for (let d = 0; d < 4; d++) {
        const u = s.biasMillivolts[d]!;
        expect(
          efficiencyAtBias(u, h.etaMax[d]!, h.breakdownMillivolts[d]!, h.efficiencyScaleMillivolts[d]!),
        ).toBeCloseTo(detectorEfficiency(h, d, u), 12);
        // R_ref at U_ref = U_bd is R0 (PROTOCOL 7).
        const rate = darkRateAtBias(
          u,
          h.darkRateAtBreakdownHz[d]!,
          h.breakdownMillivolts[d]!,
          h.darkScaleMillivolts[d]!,
        );
        expect(rate / darkRateHz(h, d, u)).toBeCloseTo(1, 10);
        expect(darkClickProbability(rate, s.windowPs)).toBeCloseTo(simDark(h, d, u, s.windowPs), 12);
      }
    }
  });
});

describe('click model', () => {
  it('singles and coincidences match the simulator click distribution', () => {
    const rng = new Rng(12, 0);
    for (let seed = 0; seed < 50; seed++) {
      const h = drawHiddenParams(seed);
      const s = randomSettings(rng, h);
      const alpha = rng.float() * 180;
      const beta = rng.float() * 180;
      const dist = clickDistribution(trialModel(h, s), alpha, beta);
      const bits = [0x04, 0x08, 0x01, 0x02];
      const singles = bits.map((b) => [...dist].reduce((acc, p, pat) => acc + (pat & b ? p : 0), 0));
      const pairs = [
        [0x04, 0x01],
        [0x04, 0x02],
        [0x08, 0x01],
        [0x08, 0x02],
      ];
      const coinc = (pairs as [number, number][]).map(([a, b]) =>
        [...dist].reduce((acc, p, pat) => acc + (pat & a && pat & b ? p : 0), 0),
      );
      const mine = expectedCountsPerTrial(modelOf(h, s), alpha, beta);
      for (const [i, v] of mine.singles.entries()) expect(v).toBeCloseTo(singles[i]!, 12);
      for (const [i, v] of mine.coincidences.entries()) expect(v).toBeCloseTo(coinc[i]!, 12);
    }
  });

  it('S matches the simulator expectedS for 200 random devices and settings', () => {
    const rng = new Rng(13, 0);
    for (let seed = 0; seed < 200; seed++) {
      const h = drawHiddenParams(seed);
      const s = randomSettings(rng, h);
      const angles = s.anglesCentidegrees.map((c) => c / 100) as Quad;
      expect(chshValue(modelOf(h, s), angles)).toBeCloseTo(expectedS(h, s), 10);
    }
  });

  it('Pironio bound: 0 at S <= 2, 1 at 2 sqrt 2, and log2-exact in between', () => {
    expect(pironioBitsPerTrial(2)).toBe(0);
    expect(pironioBitsPerTrial(1.5)).toBe(0);
    expect(pironioBitsPerTrial(2 * Math.SQRT2)).toBeCloseTo(1, 12);
    // S = 2.4: 1 - log2(1 + sqrt(2 - 1.44)) = 1 - log2(1.748331...)
    expect(pironioBitsPerTrial(2.4)).toBeCloseTo(1 - Math.log2(1 + Math.sqrt(0.56)), 12);
  });
});

describe('angles', () => {
  it('wrap into 0..17999 centidegrees and (-90, 90] degrees', () => {
    expect(toCentidegrees(-1)).toBe(17900);
    expect(toCentidegrees(180)).toBe(0);
    expect(toCentidegrees(179.994)).toBe(17999);
    expect(toCentidegrees(359.5)).toBe(17950);
    expect(wrapHalfTurnDeg(100)).toBe(-80);
    expect(wrapHalfTurnDeg(-90)).toBe(90);
  });

  it('compensated CHSH angles restore the rot = 0 optimum for any rot', () => {
    for (let rot = -20; rot <= 20; rot += 0.37) {
      const h = drawHiddenParams(5, { rotDegrees: rot });
      const flat = drawHiddenParams(5, { rotDegrees: 0 });
      const base: ChipSettings = {
        anglesCentidegrees: [0, 4500, 2250, 15750],
        windowPs: 1000,
        delayPs: Math.round(h.pathDelayPs),
        pumpMicrowatts: 300,
        biasMillivolts: [30000, 30000, 30000, 30000],
      };
      const compensated = { ...base, anglesCentidegrees: chshAnglesCentideg(rot) };
      // Within the centidegree rounding: |dS| <= 4 * 2 * 0.005 deg in rad * sqrt2-ish slope.
      expect(Math.abs(expectedS(h, compensated) - expectedS(flat, base))).toBeLessThan(1e-3);
    }
  });
});
