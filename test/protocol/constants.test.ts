/** Protocol facts defined once and read by device, certify and the simulator (PROTOCOL 2 and 4). */
import { describe, expect, it } from 'vitest';
import { FAULT_NAMES, Fault, faultNames } from '../../src/protocol/types.ts';
import { EPQ1_PRODUCT_ID, EPQ1_VENDOR_ID, USB_PRODUCT_ID, USB_VENDOR_ID } from '../../src/protocol/transport.ts';

describe('protocol constants', () => {
  it('names the PROTOCOL 4 STATUS fault bits by bit number, and unnamed bits as bitN', () => {
    expect(FAULT_NAMES).toEqual([
      'PUMP_UNLOCKED',
      'TEMPERATURE',
      'DETECTOR_LATCHED',
      'OVERFLOW',
      'SETTINGS_STARVED',
      'UNCALIBRATED',
      'SELF_TEST',
    ]);
    expect(faultNames(Fault.PUMP_UNLOCKED | Fault.UNCALIBRATED | Fault.SELF_TEST)).toEqual([
      'PUMP_UNLOCKED',
      'UNCALIBRATED',
      'SELF_TEST',
    ]);
    expect(faultNames((1 << 9) | Fault.OVERFLOW)).toEqual(['OVERFLOW', 'bit9']);
    expect(faultNames(0)).toEqual([]);
  });

  it('has the PROTOCOL 2 USB ids, as numbers and as listers spell them', () => {
    expect([EPQ1_VENDOR_ID, EPQ1_PRODUCT_ID]).toEqual([0x1209, 0x0001]);
    expect([USB_VENDOR_ID, USB_PRODUCT_ID]).toEqual(['1209', '0001']);
  });
});
