/**
 * `epqrng install-linux [--prefix DIR] [--write]`: the udev rule, the
 * systemd template unit epqrng@.service, its settings file and the rngd
 * drop-in (linux-files.ts). A dry run by default: it prints what it would
 * write, and where; --write writes (as root for the default prefix /).
 */
import { InputError } from '../../errors.ts';
import type { CommandIo } from '../framework.ts';
import { linuxFiles, writeLinuxFiles } from '../linux-files.ts';
import { parseCommandLine, pathValue, validateOption } from '../options.ts';

export const usage = `usage: epqrng install-linux [--prefix DIR] [--write] [--epqrng PATH] [--rngd PATH]
  --prefix DIR    install under DIR (default /): DIR/etc/udev/rules.d/60-epq1.rules,
                  DIR/etc/systemd/system/epqrng@.service, .../rngd.service.d/epqrng.conf,
                  DIR/etc/default/epqrng
  --write         write the files (without it: print what would be written)
  --epqrng PATH   the epqrng command the unit runs (default /usr/local/bin/epqrng)
  --rngd PATH     rngd (default /usr/sbin/rngd)
then: udevadm control --reload; systemctl daemon-reload; replug the chip`;

const specs = {
  prefix: { type: 'string' },
  write: { type: 'boolean' },
  epqrng: { type: 'string' },
  rngd: { type: 'string' },
} as const;

export async function run(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parseCommandLine(argv, specs);
  const prefix = validateOption('prefix', pathValue, values.prefix ?? '/');
  const epqrng = validateOption('epqrng', pathValue, values.epqrng ?? '/usr/local/bin/epqrng');
  const rngd = validateOption('rngd', pathValue, values.rngd ?? '/usr/sbin/rngd');
  const files = linuxFiles({ prefix, epqrng, rngd });
  if (!values.write) {
    for (const f of files) io.stdout.write(`# would write ${f.path}\n${f.content}\n`);
    io.stdout.write('# dry run: nothing written (pass --write)\n');
    return 0;
  }
  try {
    writeLinuxFiles(files);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new InputError('INSTALL_FAILED', `cannot write under ${prefix}: ${why} (root needed for /?)`, { cause: e });
  }
  for (const f of files) io.stdout.write(`wrote ${f.path}\n`);
  io.stdout.write('next: udevadm control --reload; systemctl daemon-reload; replug the chip\n');
  return 0;
}
