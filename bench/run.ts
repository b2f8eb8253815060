/**
 * `npm run bench`: runs every bench/*.bench.ts (each exports
 * `run(): Promise<Array<{ name: string; value: number; unit: string; target?: string }>>`)
 * and prints its figures with the machine they were measured on.
 * Usage: npm run bench [-- name-filter]
 */
import { readdirSync } from 'node:fs';
import { cpus, totalmem, platform, release } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import buildDistIfStale from '../test/build-dist.ts';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The acceptance target in words, e.g. ">= 5e6". */
  target?: string;
  /** Whether the figure meets its target (absent: no target). */
  ok?: boolean;
}

const here = dirname(fileURLToPath(import.meta.url));
// The benches measure the compiled package (dist/), as it ships: rebuilt first if a source is newer.
buildDistIfStale();
const filter = process.argv[2];
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => !filter || f.includes(filter))
  .sort();

const cpu = cpus()[0];
console.log(
  `machine: ${cpu?.model ?? 'unknown cpu'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()}, node ${process.version}`,
);
let failed = 0;
for (const f of files) {
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { run: () => Promise<Figure[]> };
  console.log(`\n# ${f}`);
  for (const fig of await mod.run()) {
    const verdict = fig.ok === undefined ? '' : fig.ok ? '  ok' : '  MISSED';
    if (fig.ok === false) failed++;
    const v = Math.abs(fig.value) >= 1e5 ? fig.value.toExponential(3) : fig.value.toPrecision(4);
    console.log(
      `${fig.name.padEnd(58)} ${v.padStart(11)} ${fig.unit}${fig.target ? `  (target ${fig.target})` : ''}${verdict}`,
    );
  }
}
console.log(`\n${failed === 0 ? 'all targets met' : `${failed} target(s) missed`}`);
process.exitCode = failed === 0 ? 0 : 1;
