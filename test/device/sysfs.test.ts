/**
 * Discovery without udevadm: a fake sysfs tree (tty class links to USB
 * interfaces, descriptors in the USB device directory, /dev/serial/by-id
 * links), read by sysfs.ts, through the library and through `epqrng list`
 * with no udevadm on PATH.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findBySerial, listDevices, listFromSysfs, withSysfsFallback } from '../../src/device/index.ts';
import { epqrng } from '../cli/run-cli.ts';

interface FakeUsbTty {
  tty: string;
  vendor: string;
  product: string;
  serial?: string;
  manufacturer?: string;
  byId?: string;
}

/** A fake root with sys/ and dev/ as Linux lays them out. */
function fakeSysfs(ttys: FakeUsbTty[], extra: (root: string) => void = () => undefined): string {
  const root = mkdtempSync(join(tmpdir(), 'epqrng-sysfs-'));
  const cls = join(root, 'sys', 'class', 'tty');
  mkdirSync(cls, { recursive: true });
  mkdirSync(join(root, 'dev', 'serial', 'by-id'), { recursive: true });
  ttys.forEach((t, i) => {
    const usb = join(root, 'sys', 'devices', 'pci0000:00', '0000:00:14.0', 'usb1', `1-${i + 1}`);
    const iface = join(usb, `1-${i + 1}:1.0`);
    mkdirSync(join(iface, 'tty', t.tty), { recursive: true });
    writeFileSync(join(usb, 'idVendor'), `${t.vendor}\n`);
    writeFileSync(join(usb, 'idProduct'), `${t.product}\n`);
    if (t.serial) writeFileSync(join(usb, 'serial'), `${t.serial}\n`);
    if (t.manufacturer) writeFileSync(join(usb, 'manufacturer'), `${t.manufacturer}\n`);
    mkdirSync(join(cls, t.tty));
    symlinkSync(iface, join(cls, t.tty, 'device'));
    writeFileSync(join(root, 'dev', t.tty), '');
    if (t.byId) symlinkSync(`../../${t.tty}`, join(root, 'dev', 'serial', 'by-id', t.byId));
  });
  // a virtual tty (no device link) and a platform serial port (no USB descriptors)
  mkdirSync(join(cls, 'tty0'));
  const platform = join(root, 'sys', 'devices', 'platform', 'serial8250', 'tty', 'ttyS0');
  mkdirSync(platform, { recursive: true });
  mkdirSync(join(cls, 'ttyS0'));
  symlinkSync(dirname(dirname(platform)), join(cls, 'ttyS0', 'device'));
  extra(root);
  return root;
}

const EPQ_BY_ID = 'usb-EPQ_EPQ-1_Entangled-Photon_QRNG_EPQ1-00C0FFEE-if00';
const tree = () =>
  fakeSysfs([
    { tty: 'ttyACM0', vendor: '1209', product: '0001', serial: 'EPQ1-00C0FFEE', manufacturer: 'EPQ', byId: EPQ_BY_ID },
    { tty: 'ttyACM1', vendor: '2341', product: '0043', serial: 'ARDUINO1', manufacturer: 'Arduino' },
    { tty: 'ttyACM2', vendor: '1209', product: '0001', serial: 'EPQ1-DEADBEEF', manufacturer: 'EPQ' },
  ]);

describe('sysfs discovery (no udevadm)', () => {
  it('lists USB ttys with their descriptors and by-id names, skipping virtual and platform ttys', () => {
    const root = tree();
    const ports = listFromSysfs(root);
    expect(ports.map((p) => p.path)).toEqual(['ttyACM0', 'ttyACM1', 'ttyACM2'].map((t) => join(root, 'dev', t)));
    expect(ports[0]).toEqual({
      path: join(root, 'dev', 'ttyACM0'),
      manufacturer: 'EPQ',
      serialNumber: 'EPQ1-00C0FFEE',
      pnpId: EPQ_BY_ID,
      locationId: undefined,
      vendorId: '1209',
      productId: '0001',
    });
  });

  it('finds EPQ-1 chips (PROTOCOL 2 ids) and one by serial through the fallback when the lister fails', async () => {
    const root = tree();
    const lister = withSysfsFallback(
      async () => {
        throw new Error('spawn udevadm ENOENT');
      },
      () => listFromSysfs(root),
    );
    const found = await listDevices(lister);
    expect(found.map((d) => d.serialNumber)).toEqual(['EPQ1-00C0FFEE', 'EPQ1-DEADBEEF']);
    expect(found[0]!.byId).toBe(`/dev/serial/by-id/${EPQ_BY_ID}`);
    expect((await findBySerial('EPQ1-DEADBEEF', lister)).path).toBe(join(root, 'dev', 'ttyACM2'));
  });

  it('reports the lister failure when sysfs cannot be read either', async () => {
    const lister = withSysfsFallback(
      async () => {
        throw new Error('spawn udevadm ENOENT');
      },
      () => listFromSysfs('/nonexistent-root'),
    );
    await expect(listDevices(lister)).rejects.toThrow(
      'cannot list serial ports: spawn udevadm ENOENT; pass --port PATH',
    );
  });
});

describe('epqrng list on a fake sysfs tree with no udevadm on PATH', () => {
  const env = (root: string) => ({ EPQRNG_SYSFS_ROOT: root, PATH: dirname(process.execPath) });

  it('list --json: the EPQ-1 chips, valid JSON', async () => {
    const root = tree();
    const r = await epqrng(['list', '--json'], env(root));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      {
        path: join(root, 'dev', 'ttyACM0'),
        serialNumber: 'EPQ1-00C0FFEE',
        manufacturer: 'EPQ',
        byId: `/dev/serial/by-id/${EPQ_BY_ID}`,
      },
      { path: join(root, 'dev', 'ttyACM2'), serialNumber: 'EPQ1-DEADBEEF', manufacturer: 'EPQ', byId: null },
    ]);
  });

  it('list: one line per chip; none found: [] for --json', async () => {
    const r = await epqrng(['list'], env(tree()));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
    expect(r.stdout).toMatch(/ttyACM0\tEPQ1-00C0FFEE\tEPQ\t\/dev\/serial\/by-id\/usb-EPQ/);
    const empty = await epqrng(['list', '--json'], env(fakeSysfs([])));
    expect(empty.code).toBe(0);
    expect(JSON.parse(empty.stdout)).toEqual([]);
  });

  it('list --json when nothing can be listed: still valid JSON on stdout, one line on stderr, exit 3', async () => {
    const r = await epqrng(['list', '--json'], env('/nonexistent-root'));
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual([]);
    expect(r.stderr).toMatch(/^epqrng: cannot list serial ports: .+; pass --port PATH\n$/);
  });
});
