/**
 * Test helper: a Device on an in-process simulated chip (virtual clock, so a
 * calibration's integrations take no wall time). `chip.hidden` is for the
 * tests' checks only; the calibration sees the Device.
 */
import { Device } from '../../src/device/index.ts';
import { createSimulatedPort, type ChipOptions, type SimulatedChip } from '../../src/simulator/index.ts';

export interface SimulatedDevice {
  device: Device;
  chip: SimulatedChip;
}

export async function openSimulated(opts: ChipOptions): Promise<SimulatedDevice> {
  const sim = createSimulatedPort({ clock: 'virtual', ...opts });
  const device = await Device.open({ path: sim.path, binding: sim.binding });
  return { device, chip: sim.chip };
}
