/**
 * The CLI as shipped: `node bin/epqrng.js` (compiled dist/, no loader), each
 * run in a process of its own, measured from outside (wall time, peak RSS as
 * the child's VmHWM: lib/shipped.ts).
 *
 * - start-up: `epqrng --help` and `--version` against `node -e 0`, best of
 *   STARTS runs each (target: at most 6 times node's own start-up);
 * - replay: `epqrng replay FILE --out /dev/null` of a 2^24-trial recording
 *   with the default options (certify, then extract every 2^22-trial block),
 *   best rate and worst peak RSS of RUNS runs;
 * - stream: `epqrng stream --simulate -n 1M -o /dev/null`, one run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.ts';
import { bin, root, runShipped, type ShippedRun } from './lib/shipped.ts';
import { makeRecording, TRIALS } from './replay.bench.ts';

const STARTS = 15;
const RUNS = 3;

/** Best wall time (ms) of `node <args>` over STARTS runs. */
function bestStartMs(args: string[]): number {
  let best = Infinity;
  for (let i = 0; i < STARTS; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'ignore' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}`);
    best = Math.min(best, ms);
  }
  return best;
}

function startup(): Figure[] {
  const node = bestStartMs(['-e', '0']);
  const help = bestStartMs([bin, '--help']);
  const version = bestStartMs([bin, '--version']);
  return [
    { name: 'start-up: node -e 0', value: node, unit: `ms (best of ${STARTS})` },
    { name: 'start-up: epqrng --help', value: help, unit: `ms (best of ${STARTS})` },
    {
      name: 'start-up: epqrng --help / node -e 0',
      value: help / node,
      unit: 'x',
      target: '<= 6',
      ok: help / node <= 6,
    },
    {
      name: 'start-up: epqrng --version / node -e 0',
      value: version / node,
      unit: 'x',
      target: '<= 6',
      ok: version / node <= 6,
    },
  ];
}

function check(r: ShippedRun, what: string): ShippedRun {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr}`);
  return r;
}

async function replay(file: string): Promise<Figure[]> {
  let best: ShippedRun | undefined;
  let peak = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = check(await runShipped(['replay', file, '--out', '/dev/null']), 'epqrng replay');
    peak = Math.max(peak, r.peakRssMB);
    if (!best || r.seconds < best.seconds) best = r;
  }
  // Every trial of the recording is in a certified block (4 blocks of 2^22); the process's whole life is timed.
  const rate = TRIALS / best!.seconds;
  return [
    {
      name: 'epqrng replay FILE --out /dev/null (as shipped): rate',
      value: rate,
      unit: `trials/s (best of ${RUNS}, whole process)`,
      target: '>= 2.5e7',
      ok: rate >= 25e6,
    },
    {
      name: 'epqrng replay (as shipped): the same per CPU second',
      value: TRIALS / best!.cpuSeconds,
      unit: 'trials/CPU-s',
    },
    {
      name: 'epqrng replay (as shipped): peak RSS (VmHWM)',
      value: peak,
      unit: `MB (worst of ${RUNS})`,
      target: '< 150',
      ok: peak < 150,
    },
  ];
}

async function stream(): Promise<Figure[]> {
  const r = check(await runShipped(['stream', '--simulate', '-n', '1M', '-o', '/dev/null']), 'epqrng stream');
  return [
    {
      name: 'epqrng stream --simulate -n 1M (as shipped): wall clock',
      value: r.seconds,
      unit: 's (chip simulated in process)',
    },
    { name: 'epqrng stream --simulate -n 1M (as shipped): peak RSS', value: r.peakRssMB, unit: 'MB (VmHWM)' },
  ];
}

export async function run(): Promise<Figure[]> {
  const figures: Figure[] = [{ name: 'cli: load average (1 min) at the start', value: loadavg()[0]!, unit: '' }];
  figures.push(...startup());
  const dir = mkdtempSync(join(tmpdir(), 'epq-cli-bench-'));
  try {
    const file = join(dir, 'bench.epqrec');
    await makeRecording(file);
    figures.push(...(await replay(file)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  figures.push(...(await stream()));
  figures.push({ name: 'cli: load average (1 min) at the end', value: loadavg()[0]!, unit: '' });
  return figures;
}
