/**
 * The whole certified pipeline: decode, account, estimate,
 * bound, health, extract over an in-memory capture of a calibrated chip, at
 * the default settings (quantum adversary, eps 2^-64, blocks of 2^22
 * trials, 2 extractor input bits per trial). Targets: >= 10 M trials/s on
 * one core (aim 25 M), peak RSS under 150 MB whatever the capture length.
 * Each measurement runs in its own process (bench/lib/pipeline-child.mjs); the 2- and 8-block figures are the
 * median of 3 runs (beside the slowest and fastest), since one run on this 2-core machine moves by +-15%.
 *
 * Two threads, as shipped: at the default block size extraction runs on the
 * worker (src/extract/off-thread.ts), one block while the main thread
 * certifies the next, and the worker builds its plan while the first block
 * is certified. The rate with a target is trials per CPU second of the whole
 * process (both threads, GC and compiler threads included, so it is if
 * anything low); the wall-clock rate is printed beside it because the
 * machine is shared. The 2-block figure shows what start-up still costs.
 *
 * Memory: the child runs the compiled package (dist/) with plain node, as
 * `epqrng` itself runs. The RSS figure with a target is the peak net of the
 * capture held in memory.
 * Runs at two capture lengths show it does not grow with the capture, a run
 * at the former transform bound (2^20 points) what the default bound (3 *
 * 2^19) gains, and a run with the whole block in one FFT (no chunking,
 * stream.ts maxFftSize) what the chunked hash trades.
 */
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Figure } from './run.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
interface Child {
  blocks: number;
  trials: number;
  captureBytes: number;
  seconds: number;
  trialsPerSecond: number;
  cpuSeconds: number;
  trialsPerCpuSecond: number;
  rssBeforeBytes: number;
  bytesOut: number;
  maxRssBytes: number;
}

function measure(runner: string[], blocks: number, extra: string[] = []): Child {
  const out = execFileSync(process.execPath, [...runner, String(blocks), ...extra], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Child;
}

/** Runs of the target figures: one run on a shared 2-core machine moves by +-15%, the median of 3 much less. */
const RUNS = 3;

/**
 * RUNS measurements: the run of median CPU (its rates are reported), the slowest and fastest rate per CPU second,
 * and the worst peak RSS net of the capture over all runs (the memory target holds for every run, not the median).
 */
function measureRuns(runner: string[], blocks: number): { r: Child; lo: number; hi: number; worstNet: number } {
  const runs = Array.from({ length: RUNS }, () => measure(runner, blocks)).sort((a, b) => a.cpuSeconds - b.cpuSeconds);
  const rates = runs.map((x) => x.trialsPerCpuSecond);
  const worstNet = Math.max(...runs.map((x) => x.maxRssBytes - x.captureBytes));
  return { r: runs[RUNS >> 1]!, lo: Math.min(...rates), hi: Math.max(...rates), worstNet };
}

export async function run(): Promise<Figure[]> {
  const MB = 2 ** 20;
  const figures: Figure[] = [];
  const main = ['bench/lib/pipeline-child.mjs'];
  const how = 'compiled';
  figures.push({ name: 'pipeline: load average (1 min) at the start', value: loadavg()[0]!, unit: '' });
  for (const blocks of [2, 8]) {
    const { r, lo, hi, worstNet } = measureRuns(main, blocks);
    const net = worstNet / MB;
    const label = `pipeline ${blocks} blocks (${(r.trials / 1e6).toFixed(1)} M trials, ${how})`;
    figures.push(
      {
        name: `${label}: per CPU second, median of ${RUNS} runs`,
        value: r.trialsPerCpuSecond,
        unit: 'trials/s',
        target: '>= 1e7 (aim 2.5e7)',
        ok: r.trialsPerCpuSecond >= 1e7,
      },
      { name: `${label}: per CPU second, slowest of ${RUNS} runs`, value: lo, unit: 'trials/s' },
      { name: `${label}: per CPU second, fastest of ${RUNS} runs`, value: hi, unit: 'trials/s' },
      { name: `${label}: wall clock`, value: r.trialsPerSecond, unit: 'trials/s' },
      { name: `${label}: certified output`, value: r.bytesOut, unit: 'bytes' },
      { name: `${label}: peak RSS before the pipeline (loader, capture)`, value: r.rssBeforeBytes / MB, unit: 'MB' },
      {
        name: `${label}: peak RSS incl. ${(r.captureBytes / MB).toFixed(0)} MB capture`,
        value: r.maxRssBytes / MB,
        unit: 'MB',
      },
      {
        name: `${label}: peak RSS net of the capture, worst of ${RUNS} runs`,
        value: net,
        unit: 'MB',
        target: '< 150',
        ok: net < 150,
      },
    );
  }
  // the former transform bound, 2^20 points (14 column chunks per block instead of 6; 11 MB less WebAssembly memory)
  const small = measure(main, 8, ['--max-fft', String(2 ** 20)]);
  figures.push(
    {
      name: `pipeline 8 blocks, transform bound 2^20 (${how}): per CPU second`,
      value: small.trialsPerCpuSecond,
      unit: 'trials/s',
    },
    {
      name: 'pipeline 8 blocks, transform bound 2^20: peak RSS net of the capture',
      value: (small.maxRssBytes - small.captureBytes) / MB,
      unit: 'MB',
    },
  );
  // the whole block's product in one transform: faster per block, its memory grows with n + m
  const whole = measure(main, 2, ['--max-fft', String(2 ** 23)]);
  figures.push(
    {
      name: `pipeline 2 blocks, one FFT per block (${how}): per CPU second`,
      value: whole.trialsPerCpuSecond,
      unit: 'trials/s',
    },
    {
      name: `pipeline 2 blocks, one FFT per block: peak RSS net of the capture`,
      value: (whole.maxRssBytes - whole.captureBytes) / MB,
      unit: 'MB',
    },
    { name: 'pipeline: load average (1 min) at the end', value: loadavg()[0]!, unit: '' },
  );
  return figures;
}
