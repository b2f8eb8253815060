/**
 * PROTOCOL 4 STATUS fault bits as names, and the error a fatal one raises
 * (any bit but 3 OVERFLOW, 4 SETTINGS_STARVED, 5 UNCALIBRATED puts the chip
 * in state FAULT until RESET).
 */
import { DeviceError } from '../errors.ts';
import { FATAL_FAULTS, type StatusFrame } from '../protocol/types.ts';

/** PROTOCOL 4 STATUS: fault bit names, by bit. */
export const FAULT_NAMES: readonly string[] = [
  'PUMP_UNLOCKED',
  'TEMPERATURE',
  'DETECTOR_LATCHED',
  'OVERFLOW',
  'SETTINGS_STARVED',
  'UNCALIBRATED',
  'SELF_TEST',
];

/** The names of the set bits of a STATUS faults field. */
export function faultNames(faults: number): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if (faults & (1 << bit)) names.push(FAULT_NAMES[bit] ?? `bit${bit}`);
  }
  return names;
}

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
