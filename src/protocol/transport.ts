/**
 * The EPQ-1 as a serial port (PROTOCOL 2: USB CDC-ACM), for the bindings that stand in for the chip
 * (src/simulator/binding.ts plays a simulated chip, src/record/replay-binding.ts a recording). Both sit beside the
 * data flow and may import protocol, and only protocol; so this one description of the port lives here rather than in
 * either of them. More in README.md (transport.ts).
 */
import type { OpenOptions, PortInfo } from '../serialport-types.ts';

/** PROTOCOL 2: the EPQ-1's USB vendor and product ids. */
export const EPQ1_VENDOR_ID = 0x1209;
export const EPQ1_PRODUCT_ID = 0x0001;

/** The same ids as serialport's listers report them (4 hex digits without 0x). */
export const USB_VENDOR_ID = EPQ1_VENDOR_ID.toString(16).padStart(4, '0');
export const USB_PRODUCT_ID = EPQ1_PRODUCT_ID.toString(16).padStart(4, '0');
export const USB_MANUFACTURER = 'EPQ';

/**
 * serialport's open-option defaults (8 data bits, 1 stop bit, no parity, no
 * flow control, exclusive lock, hang up on close). PROTOCOL 2: the chip is
 * a CDC-ACM device and ignores them, as it ignores the baud rate; they are
 * what a host's port reports after open.
 */
export const SERIAL_OPEN_DEFAULTS = {
  dataBits: 8,
  lock: true,
  stopBits: 1,
  parity: 'none',
  rtscts: false,
  xon: false,
  xoff: false,
  xany: false,
  hupcl: true,
} as const satisfies Omit<Required<OpenOptions>, 'path' | 'baudRate'>;

/** The options a binding's open() was given, completed with serialport's defaults (the caller's values win). */
export function withOpenDefaults(options: OpenOptions): Required<OpenOptions> {
  return { ...SERIAL_OPEN_DEFAULTS, ...options } as Required<OpenOptions>;
}

/** The port at `path` as serialport's list() shows an EPQ-1 (PROTOCOL 2 descriptors). */
export function epq1PortInfo(path: string, serialNumber: string | undefined): PortInfo {
  return {
    path,
    manufacturer: USB_MANUFACTURER,
    serialNumber,
    pnpId: undefined,
    locationId: undefined,
    productId: USB_PRODUCT_ID,
    vendorId: USB_VENDOR_ID,
  };
}
