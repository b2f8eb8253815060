/**
 * Each calibration step on its own, against a simulated chip (virtual clock).
 * The tests read the chip's hidden values to judge the results; the steps
 * see only the protocol. Tolerances: the where it sets one (rot 0.5
 * degrees, D 20 ps, P_pi 5%, sigma 15%), and every fitted value also within
 * 5 of its own reported standard deviations plus the model's known
 * first-order bias where one is stated.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CalibrationContext } from '../../src/calibrate/context.ts';
import { makePlan } from '../../src/calibrate/plan.ts';
import { DARK_REF_BIAS_MV, measureDarkCounts, darkRate } from '../../src/calibrate/steps/dark.ts';
import { measurePump } from '../../src/calibrate/steps/pump.ts';
import { scanDelay } from '../../src/calibrate/steps/delay.ts';
import { measureFringes } from '../../src/calibrate/steps/fringes.ts';
import { sweepBias } from '../../src/calibrate/steps/bias.ts';
import { chooseOperatingPoint, type ChipEstimates } from '../../src/calibrate/steps/operating-point.ts';
import { verifyRun } from '../../src/calibrate/steps/verify.ts';
import { g2FromTally } from '../../src/calibrate/tally.ts';
import { DeviceError } from '../../src/errors.ts';
import {
  darkClickProbability,
  darkRateHz,
  expectedS,
  idealSettings,
  drawHiddenParams,
  type HiddenParams,
} from '../../src/simulator/physics.ts';
import type { Quad } from '../../src/calibrate/click-model.ts';
import { openSimulated, type SimulatedDevice } from './sim.ts';

const plan = makePlan('normal');
const FACTORY_BIAS: Quad = [30000, 30000, 30000, 30000];
let open: SimulatedDevice[] = [];

async function chip(seed: number, hidden: Partial<HiddenParams> = {}, calibrated = false) {
  const sim = await openSimulated({ seed, calibrated, hidden });
  open.push(sim);
  return { ...sim, ctx: new CalibrationContext(sim.device), h: sim.chip.hidden };
}

afterEach(async () => {
  for (const s of open) await s.device.close();
  open = [];
});

describe('dark step', () => {
  it('recovers each detector dark curve with the pump off, and stops before the wide gates fill', async () => {
    const { ctx, h, device } = await chip(21);
    const r = await measureDarkCounts(ctx, plan, FACTORY_BIAS);
    for (let d = 0; d < 4; d++) {
      const c = r.curves[d]!;
      const trueRef = darkRateHz(h, d, DARK_REF_BIAS_MV);
      expect(Math.abs(c.refRatePerS.value - trueRef)).toBeLessThan(5 * c.refRatePerS.error);
      expect(Math.abs(c.refRatePerS.value / trueRef - 1)).toBeLessThan(0.15);
      expect(Math.abs(c.slopeMv.value - h.darkScaleMillivolts[d]!)).toBeLessThan(5 * c.slopeMv.error);
      expect(darkRate(c, 34000) / darkRateHz(h, d, 34000)).toBeCloseTo(1, 1);
    }
    // Only the last point may exceed the stop share.
    const over = r.points.map((p) => p.clicks.some((c) => c / p.trials > plan.darkMaxClickProbability));
    expect(over.slice(0, -1).every((o) => !o)).toBe(true);
    const status = await device.getStatus();
    expect(status.pump).toBe(0);
    expect(status.bias).toEqual(FACTORY_BIAS);
    expect(ctx.chipMs.before).toBe(r.points.length * plan.darkIntegrationMs);
  });
});

describe('pump step', () => {
  it('finds the pi pulse within 2% and its own 5 sigma', async () => {
    for (const seed of [22, 23]) {
      const { ctx, h } = await chip(seed);
      const r = await measurePump(ctx, plan, 1000);
      expect(Math.abs(r.piPulseMicrowatts.value / h.piPumpMicrowatts - 1)).toBeLessThan(0.02);
      expect(Math.abs(r.piPulseMicrowatts.value - h.piPumpMicrowatts)).toBeLessThan(
        5 * r.piPulseMicrowatts.error + 0.5,
      );
      expect(r.chi2 / r.dof).toBeLessThan(3);
    }
  });
});

describe('delay step', () => {
  it('finds D within 20 ps and sigma within 15% from an uncalibrated chip, at both ends of the D range', async () => {
    for (const [seed, D] of [
      [24, 2950],
      [25, -2900],
      [26, 130],
    ] as const) {
      const { ctx, h } = await chip(seed, { pathDelayPs: D });
      const r = await scanDelay(ctx, plan);
      expect(Math.abs(r.fit.pathDelayPs.value - h.pathDelayPs)).toBeLessThan(20);
      expect(Math.abs(r.fit.jitterPs.value / h.jitterPs - 1)).toBeLessThan(0.15);
      expect(Math.abs(r.fit.jitterPs.value - h.jitterPs)).toBeLessThan(5 * r.fit.jitterPs.error + 1);
    }
  });

  it('refuses with a named error when there are no coincidences at all (pump off)', async () => {
    const { ctx, device } = await chip(27);
    await device.setPump(0);
    const err = await scanDelay(ctx, plan).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as DeviceError).code).toBe('NO_COINCIDENCES');
    expect((err as DeviceError).message).toMatch(/^no coincidences between gate delays -4000 and 4000 ps/);
  });
});

describe('fringes step', () => {
  it('finds rot within 0.5 degrees (and 5 sigma) and V near the state visibility', async () => {
    for (const [seed, rot] of [
      [28, 19.7],
      [29, -18.2],
      [30, 0.4],
    ] as const) {
      const { ctx, h, device } = await chip(seed, { rotDegrees: rot });
      await device.setDelay(Math.round(h.pathDelayPs)); // the delay step's job, taken from the hidden value here
      const r = await measureFringes(ctx, plan);
      expect(Math.abs(r.rotDeg.value - h.rotDegrees)).toBeLessThan(0.5);
      expect(Math.abs(r.rotDeg.value - h.rotDegrees)).toBeLessThan(5 * r.rotDeg.error + 0.01);
      // The coincidence fringe is the state's V, washed out by multi-pair and dark coincidences by at most a few
      // percent.
      expect(r.visibility.value).toBeLessThanOrEqual(h.visibility + 5 * r.visibility.error);
      expect(r.visibility.value).toBeGreaterThan(h.visibility - 0.05);
    }
  });
});

describe('bias step', () => {
  it('recovers eta_max, U_bd and U_s of every detector from the Klyshko ratio', async () => {
    const { ctx, h, device } = await chip(31);
    const dark = await measureDarkCounts(ctx, plan, FACTORY_BIAS);
    await device.setPump(Math.round(h.piPumpMicrowatts));
    await device.setDelay(Math.round(h.pathDelayPs));
    await device.setWindow(plan.workingWindowPs);
    const r = await sweepBias(ctx, plan, {
      dark,
      rotDeg: h.rotDegrees,
      gateFraction: 1,
      g2: h.g2,
      brightness: h.bMax,
      windowPs: plan.workingWindowPs,
      heraldBiasMv: plan.heraldBiasMv,
    });
    for (let d = 0; d < 4; d++) {
      const c = r.curves[d]!;
      expect(Math.abs(c.etaMax.value - h.etaMax[d]!)).toBeLessThan(0.03);
      expect(Math.abs(c.breakdownMv.value - h.breakdownMillivolts[d]!)).toBeLessThan(300);
      expect(Math.abs(c.slopeMv.value / h.efficiencyScaleMillivolts[d]! - 1)).toBeLessThan(0.15);
      expect(c.darkAtBreakdownPerS / h.darkRateAtBreakdownHz[d]!).toBeGreaterThan(0.7);
      expect(c.darkAtBreakdownPerS / h.darkRateAtBreakdownHz[d]!).toBeLessThan(1.4);
    }
    // Every visited bias kept dark clicks under the plan's cap.
    for (const p of r.points) expect(p.biasMv).toBeLessThanOrEqual(Math.max(...plan.biasSweepMv));
  });
});

describe('operating-point step', () => {
  it('with exact estimates, chooses biases and window within 0.1% of the ideal S, for 10 devices', () => {
    for (let seed = 40; seed < 50; seed++) {
      const h = drawHiddenParams(seed);
      const est: ChipEstimates = {
        darkCurves: h.darkScaleMillivolts.map((ud, d) => ({
          refRatePerS: { value: darkRateHz(h, d, DARK_REF_BIAS_MV), error: 0 },
          slopeMv: { value: ud, error: 0 },
          chi2: 0,
          dof: 1,
        })),
        efficiencyCurves: h.etaMax.map((e, d) => ({
          etaMax: { value: e, error: 0 },
          breakdownMv: { value: h.breakdownMillivolts[d]!, error: 0 },
          slopeMv: { value: h.efficiencyScaleMillivolts[d]!, error: 0 },
          darkAtBreakdownPerS: h.darkRateAtBreakdownHz[d]!,
          chi2: 0,
          dof: 1,
        })),
        brightness: h.bMax,
        g2: h.g2,
        visibility: h.visibility,
        rotDeg: h.rotDegrees,
        pathDelayPs: h.pathDelayPs,
        jitterPs: h.jitterPs,
      };
      const ideal = idealSettings(h);
      const op = chooseOperatingPoint(est, ideal.delayPs, [40000, 40000, 40000, 40000], FACTORY_BIAS);
      const chosen = { ...ideal, biasMillivolts: op.biasMv, windowPs: op.windowPs };
      expect(expectedS(h, chosen)).toBeGreaterThan(0.999 * expectedS(h, ideal));
      expect(op.predictedS).toBeCloseTo(expectedS(h, chosen), 2);
    }
  });
});

describe('verification step', () => {
  it('measures S of a calibrated chip within 5 sigma of the closed form, and g2 from the double clicks', async () => {
    const { ctx, h, chip: c } = await chip(32, {}, true);
    const r = await verifyRun(ctx, 1_000_000);
    const s = idealSettings(h);
    expect(r.trials + r.lostTrials).toBe(1_000_000);
    expect(Math.abs(r.s - expectedS(h, s))).toBeLessThan(5 * r.sError);
    expect(r.bitsPerTrial).toBeGreaterThan(0.05);
    expect(r.settings.anglesCentideg).toEqual(s.anglesCentidegrees);
    expect(r.settings.uncalibrated).toBe(false);
    // Accidental doubles from dark counts at the chip's (high) biases are subtracted with the dark probabilities.
    const dark = [0, 1, 2, 3].map((d) => darkClickProbability(h, d, s.biasMillivolts[d]!, s.windowPs));
    const g2 = g2FromTally(r.tally, dark)!;
    expect(Math.abs(g2.value / h.g2 - 1)).toBeLessThan(0.15);
    expect(ctx.chipMs.before).toBeCloseTo(1000, 6);
    expect(c.clockMs).toBeGreaterThanOrEqual(1000);
  });

  it('counts trials the chip lost (GAP) as lost, never as performed', async () => {
    const sim = await openSimulated({ seed: 33, calibrated: true, faults: { overflowRate: 0.01 } });
    open.push(sim);
    const ctx = new CalibrationContext(sim.device);
    const r = await verifyRun(ctx, 1_000_000);
    expect(r.lostTrials).toBeGreaterThan(0);
    expect(r.trials + r.lostTrials).toBe(1_000_000);
    expect(r.tally.counts.flat().reduce((a, b) => a + b, 0)).toBe(r.trials);
  });

  it('refuses fewer than 10^6 trials (issue 4)', async () => {
    const { ctx } = await chip(34, {}, true);
    await expect(verifyRun(ctx, 999_999)).rejects.toThrow(/at least 1000000 trials/);
  });
});
