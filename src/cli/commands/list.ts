/**
 * `epqrng list [--json]`: the EPQ-1 chips on USB (vendor 0x1209, product
 * 0x0001: PROTOCOL 2), found by serialport's lister or, without udevadm,
 * from sysfs. A failure of both is exit 3 with one line; with --json stdout
 * still gets valid JSON (an empty array).
 */
import { listDevices } from '../../device/index.ts';
import type { CommandIo } from '../framework.ts';
import { parseCommandLine } from '../options.ts';

export const usage = `usage: epqrng list [--json]
  --json    print a JSON array of { path, serialNumber, manufacturer, byId } (always valid JSON:
            [] when none is found or the ports cannot be listed)`;

const specs = { json: { type: 'boolean' } } as const;

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  if (values.json) {
    // A script parses stdout: it gets JSON whatever happens; the error (exit 3) goes to stderr.
    const devices = await listDevices().catch((e: unknown) => {
      io.stdout.write('[]\n');
      throw e;
    });
    const rows = devices.map((d) => ({
      path: d.path,
      serialNumber: d.serialNumber ?? null,
      manufacturer: d.manufacturer ?? null,
      byId: d.byId ?? null,
    }));
    io.stdout.write(`${JSON.stringify(rows)}\n`);
    return 0;
  }
  const devices = await listDevices();
  if (devices.length === 0) {
    io.stderr.write('no EPQ-1 found on USB (try --simulate for the built-in simulator)\n');
    return 0;
  }
  for (const d of devices)
    io.stdout.write(`${d.path}\t${d.serialNumber ?? '-'}\t${d.manufacturer ?? '-'}\t${d.byId ?? '-'}\n`);
  return 0;
}
