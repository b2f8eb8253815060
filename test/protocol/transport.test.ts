/**
 * The port's one description (PROTOCOL 2): the open-option defaults are
 * serialport's own (checked against its mock binding, which fills them in
 * as bindings-cpp does), and the USB descriptors are PROTOCOL 2's.
 */
import { SerialPortMock } from 'serialport';
import type { OpenOptions } from '../../src/serialport-types.ts';
import { describe, expect, it } from 'vitest';
import { epq1PortInfo, SERIAL_OPEN_DEFAULTS, withOpenDefaults } from '../../src/protocol/transport.ts';

/** What serialport's mock binding reports as openOptions after open(options). */
async function serialportOpenOptions(options: OpenOptions): Promise<Required<OpenOptions>> {
  SerialPortMock.binding.createPort(options.path, { echo: false, record: false });
  const port = await SerialPortMock.binding.open(options);
  const opened = { ...port.openOptions };
  await port.close();
  return opened;
}

describe('withOpenDefaults', () => {
  it('fills in what serialport fills in when only path and baud rate are given', async () => {
    const options = { path: '/dev/ttyEPQTRANSPORT0', baudRate: 921600 };
    expect(withOpenDefaults(options)).toEqual(await serialportOpenOptions(options));
    expect(withOpenDefaults(options)).toEqual({ ...SERIAL_OPEN_DEFAULTS, ...options });
  });

  it("keeps the caller's values over the defaults, as serialport does", async () => {
    const options: OpenOptions = {
      path: '/dev/ttyEPQTRANSPORT1',
      baudRate: 115200,
      dataBits: 7,
      lock: false,
      stopBits: 2,
      parity: 'even',
      rtscts: true,
      xon: true,
      xoff: true,
      xany: true,
      hupcl: false,
    };
    const full = withOpenDefaults(options);
    expect(full).toEqual(await serialportOpenOptions(options));
    expect(full).toEqual(options);
  });

  it('returns a new object and leaves the defaults and the options untouched', () => {
    const options = { path: '/dev/x', baudRate: 9600 };
    const full = withOpenDefaults(options);
    full.dataBits = 5;
    expect(options).toEqual({ path: '/dev/x', baudRate: 9600 });
    expect(SERIAL_OPEN_DEFAULTS.dataBits).toBe(8);
    expect(withOpenDefaults(options).dataBits).toBe(8);
  });
});

describe('epq1PortInfo', () => {
  it('shows the PROTOCOL 2 USB descriptors at the given path', () => {
    expect(epq1PortInfo('/dev/ttyACM7', 'EPQ1-00C0FFEE')).toEqual({
      path: '/dev/ttyACM7',
      manufacturer: 'EPQ',
      serialNumber: 'EPQ1-00C0FFEE',
      pnpId: undefined,
      locationId: undefined,
      productId: '0001',
      vendorId: '1209',
    });
    expect(epq1PortInfo('rec.epqrec', undefined).serialNumber).toBeUndefined();
  });
});
