/**
 * Serial port discovery straight from sysfs, for hosts without udevadm
 * (which serialport's Linux lister spawns): every /sys/class/tty/NAME whose
 * `device` link leads to a USB interface, with the USB device's descriptors
 * (PROTOCOL 2: idVendor, idProduct, serial, manufacturer) read from the
 * interface's parent directory, and the stable /dev/serial/by-id name that
 * points at /dev/NAME, when there is one.
 *
 *   /sys/class/tty/ttyACM0/device -> .../usb1/1-1/1-1:1.0   (the interface)
 *   .../usb1/1-1/{idVendor,idProduct,serial,manufacturer}      (the device)
 *   /dev/serial/by-id/usb-EPQ_EPQ-1_..._EPQ1-00C0FFEE-if00 -> ../../ttyACM0
 *
 * `root` prefixes both /sys and /dev, so a test (or EPQRNG_SYSFS_ROOT) can
 * point it at a fake tree.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { PortInfo } from '../serialport-types.ts';

/** How far above the tty's `device` directory the USB device's descriptors may be (interface, then device). */
const MAX_LEVELS_UP = 3;

function readAttr(dir: string, name: string): string | undefined {
  try {
    const v = readFileSync(join(dir, name), 'utf8').trim();
    return v.length > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The USB device directory above a tty's device directory (the first with idVendor), if it is a USB port. */
function usbDeviceDir(ttyDeviceDir: string): string | undefined {
  let dir = ttyDeviceDir;
  for (let i = 0; i <= MAX_LEVELS_UP; i++) {
    if (existsSync(join(dir, 'idVendor'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** tty name -> its /dev/serial/by-id link. */
function byIdLinks(devRoot: string): Map<string, string> {
  const links = new Map<string, string>();
  const dir = join(devRoot, 'serial', 'by-id');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return links;
  }
  for (const name of names) {
    try {
      links.set(basename(readlinkSync(join(dir, name))), join(dir, name));
    } catch {
      // not a link: skip
    }
  }
  return links;
}

/** The USB serial ports sysfs knows, in the shape of `SerialPort.list()`. Throws when sysfs has no tty class. */
export function listFromSysfs(root = process.env.EPQRNG_SYSFS_ROOT ?? '/'): PortInfo[] {
  const ttyClass = join(root, 'sys', 'class', 'tty');
  const devRoot = join(root, 'dev');
  const byId = byIdLinks(devRoot);
  const ports: PortInfo[] = [];
  for (const name of readdirSync(ttyClass).sort()) {
    let deviceDir: string;
    try {
      deviceDir = realpathSync(join(ttyClass, name, 'device'));
    } catch {
      continue; // a virtual tty (no device)
    }
    const usb = usbDeviceDir(deviceDir);
    if (!usb) continue;
    ports.push({
      path: join(devRoot, name),
      manufacturer: readAttr(usb, 'manufacturer'),
      serialNumber: readAttr(usb, 'serial'),
      pnpId: byId.has(name) ? basename(byId.get(name)!) : undefined,
      locationId: undefined,
      vendorId: readAttr(usb, 'idVendor'),
      productId: readAttr(usb, 'idProduct'),
    });
  }
  return ports;
}
