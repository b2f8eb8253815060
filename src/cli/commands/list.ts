/**
 * `epqrng list [--json]`: the EPQ-1 chips on USB (vendor 0x1209, product
 * 0x0001: PROTOCOL 2). A port lister failure is exit 3 with one line.
 */
import { listDevices } from '../../device/index.ts';
import type { CommandIo } from '../framework.ts';
import { parseCommandLine } from '../options.ts';

export const usage = `usage: epqrng list [--json]
  --json    print a JSON array of { path, serialNumber, manufacturer }`;

const specs = { json: { type: 'boolean' } } as const;

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  const devices = await listDevices();
  if (values.json) {
    io.stdout.write(
      `${JSON.stringify(
        devices.map((d) => ({
          path: d.path,
          serialNumber: d.serialNumber ?? null,
          manufacturer: d.manufacturer ?? null,
        })),
      )}\n`,
    );
    return 0;
  }
  if (devices.length === 0) {
    io.stderr.write('no EPQ-1 found on USB (try --simulate for the built-in simulator)\n');
    return 0;
  }
  for (const d of devices) io.stdout.write(`${d.path}\t${d.serialNumber ?? '-'}\t${d.manufacturer ?? '-'}\n`);
  return 0;
}
