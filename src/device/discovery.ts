/**
 * Finding EPQ-1 chips among the host's serial ports (PROTOCOL 2: USB CDC-ACM,
 * vendor id 0x1209, product id 0x0001, serial `EPQ1-` + 8 hex digits).
 *
 * The port lister is injectable (as node-serialport's `linuxList(spawnCmd)`),
 * so discovery is testable without udev. The default one wraps
 * `SerialPort.list()` and, when that fails (on Linux without udevadm:
 * `spawn udevadm ENOENT`), reads sysfs itself (sysfs.ts); when both fail, a
 * one-line DeviceError tells the user how to go on without discovery.
 */
import { SerialPort } from 'serialport';
import type { PortInfo } from '../serialport-types.ts';
import { DeviceError } from '../errors.ts';
import { EPQ1_PRODUCT_ID, EPQ1_VENDOR_ID } from '../protocol/transport.ts';
import { listFromSysfs } from './sysfs.ts';

export { EPQ1_PRODUCT_ID, EPQ1_VENDOR_ID } from '../protocol/transport.ts';

/** Lists the host's serial ports (the shape of `SerialPort.list()`). */
export type PortLister = () => Promise<PortInfo[]>;

/** One EPQ-1 found on the host. */
export interface DiscoveredDevice {
  path: string;
  serialNumber: string | undefined;
  manufacturer: string | undefined;
  /** The stable name udev gives it (/dev/serial/by-id/...), when known. */
  byId?: string;
}

/** `primary`, or sysfs when it fails (a lister failure is reported only when sysfs cannot be read either). */
export function withSysfsFallback(primary: PortLister, sysfs: () => PortInfo[] = () => listFromSysfs()): PortLister {
  return async () => {
    try {
      return await primary();
    } catch (e) {
      try {
        return sysfs();
      } catch {
        throw e;
      }
    }
  };
}

/** Without EPQRNG_SYSFS_ROOT: SerialPort.list(), sysfs when it fails; with it: that (fake) sysfs tree only. */
export const defaultLister: PortLister = async () =>
  process.env.EPQRNG_SYSFS_ROOT ? listFromSysfs() : withSysfsFallback(() => SerialPort.list())();

/** A USB id as listers report it ('1209', '0x1209', 'ABCD', or undefined) as a number. */
function parseUsbId(id: string | undefined): number | undefined {
  if (id === undefined) return undefined;
  const hex = id.trim().toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{1,4}$/.test(hex)) return undefined;
  return parseInt(hex, 16);
}

/** Whether a port is an EPQ-1 by its USB ids (PROTOCOL 2; ids compared as numbers, so case-insensitively). */
export function isEpq1Port(port: PortInfo): boolean {
  return parseUsbId(port.vendorId) === EPQ1_VENDOR_ID && parseUsbId(port.productId) === EPQ1_PRODUCT_ID;
}

/** Every EPQ-1 on the host. A lister failure is a DeviceError (exit 3) naming the cause. */
export async function listDevices(lister: PortLister = defaultLister): Promise<DiscoveredDevice[]> {
  let ports: PortInfo[];
  try {
    ports = await lister();
  } catch (e) {
    const cause = e instanceof Error ? e.message : String(e);
    throw new DeviceError('LIST_FAILED', `cannot list serial ports: ${oneLine(cause)}; pass --port PATH`, { cause: e });
  }
  return ports.filter(isEpq1Port).map((p) => {
    const d: DiscoveredDevice = { path: p.path, serialNumber: p.serialNumber, manufacturer: p.manufacturer };
    // Linux listers (serialport's and sysfs.ts) give the by-id link's name as pnpId.
    if (p.pnpId) d.byId = p.pnpId.startsWith('/') ? p.pnpId : `/dev/serial/by-id/${p.pnpId}`;
    return d;
  });
}

/** The EPQ-1 with this USB serial number (compared case-insensitively), or a DeviceError naming what was found. */
export async function findBySerial(serial: string, lister: PortLister = defaultLister): Promise<DiscoveredDevice> {
  const devices = await listDevices(lister);
  const want = serial.trim().toUpperCase();
  const hit = devices.find((d) => d.serialNumber?.trim().toUpperCase() === want);
  if (hit) return hit;
  const found = devices.map((d) => d.serialNumber ?? `(no serial) at ${d.path}`);
  throw new DeviceError(
    'NOT_FOUND',
    `no EPQ-1 with serial ${serial} found${found.length ? ` (found: ${found.join(', ')})` : ' (no EPQ-1 connected)'}`,
  );
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
