import { describe, expect, it } from 'vitest';
import { findBySerial, isEpq1Port, listDevices, type PortLister } from '../../src/device/discovery.ts';
import { DeviceError, ExitCode } from '../../src/errors.ts';

const port = (path: string, vendorId?: string, productId?: string, serialNumber?: string) => ({
  path,
  vendorId,
  productId,
  serialNumber,
  manufacturer: vendorId ? 'EPQ' : undefined,
  pnpId: undefined,
  locationId: undefined,
});

const lister: PortLister = async () => [
  port('/dev/ttyS0'),
  port('/dev/ttyACM0', '1209', '0001', 'EPQ1-00C0FFEE'),
  port('/dev/ttyACM1', '0x1209', '0x0001', 'EPQ1-DEADBEEF'),
  port('/dev/ttyACM2', '2341', '0043', 'ARDUINO'), // another CDC-ACM device
  port('/dev/ttyACM3', '1209', '0002', 'OTHER'), // same vendor, other product (pid.codes is shared)
  port('/dev/ttyACM4', '1209', '1', 'EPQ1-0000ABCD'),
];

describe('discovery (PROTOCOL 2: vendor 0x1209, product 0x0001)', () => {
  it('keeps only EPQ-1 ports, ids compared as hex numbers whatever their spelling', async () => {
    const found = await listDevices(lister);
    expect(found.map((d) => d.path)).toEqual(['/dev/ttyACM0', '/dev/ttyACM1', '/dev/ttyACM4']);
    expect(found[0]).toEqual({ path: '/dev/ttyACM0', serialNumber: 'EPQ1-00C0FFEE', manufacturer: 'EPQ' });
    expect(isEpq1Port(port('x', 'ABCD', '0001'))).toBe(false);
    expect(isEpq1Port(port('x', '1209', 'zz'))).toBe(false);
  });

  it('finds by serial case-insensitively, and names what it found otherwise', async () => {
    expect((await findBySerial('epq1-deadbeef', lister)).path).toBe('/dev/ttyACM1');
    const err = await findBySerial('EPQ1-12345678', lister).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.exitCode).toBe(ExitCode.DEVICE);
    expect(err.message).toBe(
      'no EPQ-1 with serial EPQ1-12345678 found (found: EPQ1-00C0FFEE, EPQ1-DEADBEEF, EPQ1-0000ABCD)',
    );
  });

  it('turns a lister failure into a one-line DeviceError naming the cause', async () => {
    const failing: PortLister = async () => {
      throw new Error('spawn udevadm ENOENT');
    };
    const err = await listDevices(failing).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err.message).toBe('cannot list serial ports: spawn udevadm ENOENT; pass --port PATH');
    // the default lister on this machine: SerialPort.list() either works or fails the same way
    const real = await listDevices().then(
      (d) => ({ ok: true, d }),
      (e) => ({ ok: false, e }),
    );
    if (!real.ok) expect((real as { e: Error }).e.message).toMatch(/^cannot list serial ports: .+; pass --port PATH$/);
  });
});
