/**
 * PROTOCOL 4 STATUS fault bits as names, and the error a fatal one raises
 * (any bit but 3 OVERFLOW, 4 SETTINGS_STARVED, 5 UNCALIBRATED puts the chip
 * in state FAULT until RESET).
 */
import { DeviceError } from '../errors.ts';
import { FATAL_FAULTS, faultNames, type StatusFrame } from '../protocol/types.ts';

export { FAULT_NAMES, faultNames } from '../protocol/types.ts';

/** A STATUS reported a fatal fault (PROTOCOL 4 STATUS: the chip is in state FAULT until RESET). */
export class DeviceFaultError extends DeviceError {
  constructor(
    readonly faults: number,
    readonly status: StatusFrame,
  ) {
    super(
      'DEVICE_FAULT',
      `device fault: ${faultNames(faults & FATAL_FAULTS).join(', ')} (faults 0x${faults.toString(16).padStart(8, '0')}); the chip stopped, send RESET`,
      {
        detail: { faults, names: faultNames(faults) },
      },
    );
  }
}
