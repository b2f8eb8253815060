/**
 * Calibration figures (issue 4): chip time per calibration (target <= 120 s;
 * --quick less), wall time against the virtual-clock simulator, and the
 * accuracy reached over a few random uncalibrated chips (fixed seeds).
 */
import type { Figure } from './run.ts';
import { Device } from '../src/device/index.ts';
import { createSimulatedPort } from '../src/simulator/index.ts';
import { expectedS, idealSettings } from '../src/simulator/physics.ts';
import { calibrate } from '../src/calibrate/procedure.ts';
import { makePlan, plannedChipTimeMs } from '../src/calibrate/plan.ts';

const CHIPS = 6;

export async function run(): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const mode of ['normal', 'quick'] as const) {
    let chipMax = 0;
    let wallSum = 0;
    let rot = 0;
    let delay = 0;
    let pi = 0;
    let jitter = 0;
    let ratio = Infinity;
    for (let i = 0; i < CHIPS; i++) {
      const sim = createSimulatedPort({ seed: 9000 + i, calibrated: false, clock: 'virtual' });
      const device = await Device.open({ path: sim.path, binding: sim.binding });
      const t0 = performance.now();
      const p = await calibrate(device, { plan: makePlan(mode) });
      wallSum += performance.now() - t0;
      await device.close();
      const h = sim.chip.hidden;
      const e = p.estimates;
      chipMax = Math.max(chipMax, p.chipTimeMs.total);
      rot = Math.max(rot, Math.abs(e.rotDeg.value - h.rotDegrees));
      delay = Math.max(delay, Math.abs(e.pathDelayPs.value - h.pathDelayPs));
      pi = Math.max(pi, Math.abs(e.piPulseMicrowatts.value / h.piPumpMicrowatts - 1) * 100);
      jitter = Math.max(jitter, Math.abs(e.jitterPs.value / h.jitterPs - 1) * 100);
      const s = {
        anglesCentidegrees: p.settings.anglesCentideg,
        windowPs: p.settings.windowPs,
        delayPs: p.settings.delayPs,
        pumpMicrowatts: p.settings.pumpMicrowatts,
        biasMillivolts: p.settings.biasMv,
      };
      ratio = Math.min(ratio, expectedS(h, s) / expectedS(h, idealSettings(h)));
    }
    const f = (name: string, value: number, unit: string, target?: string, ok?: boolean): Figure => ({
      name: `calibrate ${mode}: ${name}`,
      value,
      unit,
      ...(target ? { target, ok } : {}),
    });
    figures.push(
      f('planned chip time (upper bound)', plannedChipTimeMs(makePlan(mode)) / 1000, 's'),
      f(
        `chip time, max over ${CHIPS} chips`,
        chipMax / 1000,
        's',
        mode === 'normal' ? '<= 120' : '<= 60',
        mode === 'normal' ? chipMax <= 120_000 : chipMax <= 60_000,
      ),
      f('wall time per calibration (virtual clock)', wallSum / CHIPS / 1000, 's'),
      f('max |rot error|', rot, 'deg', '<= 0.5', rot <= 0.5),
      f('max |D error|', delay, 'ps', '<= 20', delay <= 20),
      f('max |P_pi error|', pi, '%', '<= 5', pi <= 5),
      f('max |sigma error|', jitter, '%', '<= 15', jitter <= 15),
      f('min S / S(ideal settings)', ratio, '', '>= 0.97', ratio >= 0.97),
    );
  }
  return figures;
}
