/**
 * `applyProfile`: puts a saved profile's settings in force on a chip (PROTOCOL
 * 5 SET_ANGLES, SET_WINDOW, SET_DELAY, SET_PUMP, SET_BIAS), and with `save`
 * stores them (SAVE_CALIBRATION). The profile has been validated against its
 * schema by loadProfile; the chip must belong to it (same serial) unless the
 * caller says otherwise. A running chip is stopped only with `forceStop`.
 */
import { DeviceError, InputError } from '../errors.ts';
import { DeviceState } from '../protocol/types.ts';
import type { CalibrationPort } from './port.ts';
import type { CalibrationProfile } from './profile.ts';

export interface ApplyOptions {
  save?: boolean;
  forceStop?: boolean;
  /** Apply a profile measured on another chip (its hidden values differ: rarely what you want). */
  anyDevice?: boolean;
}

export async function applyProfile(
  port: CalibrationPort,
  profile: CalibrationProfile,
  opts: ApplyOptions = {},
): Promise<void> {
  const info = await port.getInfo();
  // A profile of another chip is a bad profile for this one (exit 2, as `calibrate --help` says), not a device error.
  if (!opts.anyDevice && info.serial !== profile.device.serial) {
    throw new InputError(
      'PROFILE_MISMATCH',
      `profile was measured on ${profile.device.serial}, this chip is ${info.serial}`,
    );
  }
  const status = await port.getStatus();
  if (
    status.state === DeviceState.RUNNING ||
    status.state === DeviceState.MEASURING ||
    status.state === DeviceState.FAULT
  ) {
    if (!opts.forceStop)
      throw new DeviceError(
        'DEVICE_BUSY',
        `the chip is ${status.state === DeviceState.FAULT ? 'in FAULT' : 'busy'}: stop it first, or pass --force-stop`,
      );
    await port.reset(); // PROTOCOL 5 RESET: stop, clear faults
  }
  const s = profile.settings;
  await port.setAngles(s.anglesCentideg);
  await port.setWindow(s.windowPs);
  await port.setDelay(s.delayPs);
  await port.setPump(s.pumpMicrowatts);
  for (let d = 0; d < 4; d++) await port.setBias(d, s.biasMv[d]!);
  if (opts.save) await port.saveCalibration();
}
