/**
 * What a chip says it can do (PROTOCOL 4 INFO capabilities and settings fifo), checked before it is asked to.
 */
import { DeviceError } from '../errors.ts';
import { Capability, type InfoFrame } from '../protocol/types.ts';

/**
 * The chip's host-settings FIFO (PROTOCOL 4 INFO settings fifo), checked
 * usable: capability bit 0 (host settings) set and a FIFO of at least one
 * trial. INFO is the chip's word: a chip without either is refused with a
 * DeviceError before any START.
 */
export function hostSettingsFifo(info: InfoFrame): number {
  const { capabilities, settingsFifo, serial } = info;
  // PROTOCOL 4 INFO: capabilities bit 0, host settings.
  if ((capabilities & Capability.HOST_SETTINGS) === 0) {
    throw new DeviceError(
      'UNSUPPORTED',
      `device ${serial} does not take host settings (INFO capabilities 0x${capabilities.toString(16)}, bit 0 clear); use the chip's internal settings`,
    );
  }
  if (!(settingsFifo >= 1)) {
    throw new DeviceError(
      'UNSUPPORTED',
      `device ${serial} reports a host-settings FIFO of ${settingsFifo} trials (INFO settings fifo): it cannot take host settings`,
    );
  }
  return settingsFifo;
}
