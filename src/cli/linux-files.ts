/**
 * The Linux integration files shipped in the package's `linux/` folder, as
 * `epqrng install-linux` writes them: where each goes under a prefix, and
 * the placeholders it fills (@EPQRNG@: the epqrng command, @RNGD@: rngd).
 *
 *   linux/60-epq1.rules          -> etc/udev/rules.d/60-epq1.rules
 *   linux/epqrng@.service        -> etc/systemd/system/epqrng@.service
 *   linux/rngd.service.d/epqrng.conf -> etc/systemd/system/rngd.service.d/epqrng.conf
 *   linux/epqrng.default         -> etc/default/epqrng
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's linux/ folder. */
export const LINUX_DIR = fileURLToPath(new URL('../../linux/', import.meta.url));

export const LINUX_FILES: readonly { source: string; target: string }[] = [
  { source: '60-epq1.rules', target: 'etc/udev/rules.d/60-epq1.rules' },
  { source: 'epqrng@.service', target: 'etc/systemd/system/epqrng@.service' },
  { source: 'rngd.service.d/epqrng.conf', target: 'etc/systemd/system/rngd.service.d/epqrng.conf' },
  { source: 'epqrng.default', target: 'etc/default/epqrng' },
];

export interface LinuxFile {
  /** Where it goes (prefix + target). */
  path: string;
  content: string;
}

/** The files with their placeholders filled, at their places under `prefix`. */
export function linuxFiles({ prefix, epqrng, rngd }: { prefix: string; epqrng: string; rngd: string }): LinuxFile[] {
  return LINUX_FILES.map(({ source, target }) => ({
    path: join(prefix, target),
    content: readFileSync(join(LINUX_DIR, source), 'utf8').replaceAll('@EPQRNG@', epqrng).replaceAll('@RNGD@', rngd),
  }));
}

/** Writes the files (creating their directories). */
export function writeLinuxFiles(files: readonly LinuxFile[]): void {
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.content);
  }
}
