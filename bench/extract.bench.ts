/**
 * Toeplitz extractor speed (issue 3 acceptance): n = 2^20 and 2^24 input
 * bits, m = n/4 output bits, targets < 0.1 s and < 2 s on one core. Then the
 * pipeline's block hash under each transform bound (blockHashFigures).
 *
 * "one-shot" is toeplitzHash(input, n, m, seed): seed transform, input
 * transform, product, inverse, rounding, checks. Its first call also builds
 * the transform tables ("cold"); the median is over the calls after it.
 * "per block" is ToeplitzPlan.hash for a seed already transformed, what the
 * stream pays per block. Wall-clock medians are the figures with targets;
 * CPU-time medians are printed beside them because the machine is shared.
 */
import { randomBytes } from 'node:crypto';
import type { Figure } from './run.ts';
import { bytesForBits } from '../src/extract/naive.ts';
import { toeplitzHash, ToeplitzPlan, releaseToeplitzCaches } from '../src/extract/toeplitz.ts';
import { ChunkedToeplitzPlan, chunkLayout, DEFAULT_MAX_FFT_SIZE } from '../src/extract/chunked.ts';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Wall and CPU milliseconds of one call. */
function timed(f: () => void): [number, number] {
  const c0 = cpuMs();
  const t0 = performance.now();
  f();
  return [performance.now() - t0, cpuMs() - c0];
}

export async function run(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const cases = [
    { lg: 20, runs: 9, targetS: 0.1 },
    { lg: 24, runs: 4, targetS: 2 },
  ];
  for (const { lg, runs, targetS } of cases) {
    const n = 2 ** lg;
    const m = n / 4;
    const input = randomBytes(bytesForBits(n));
    const seed = randomBytes(bytesForBits(n + m - 1));
    releaseToeplitzCaches();
    let oneShot: Uint8Array = new Uint8Array(0);
    const [coldMs] = timed(() => {
      oneShot = toeplitzHash(input, n, m, seed);
    });
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < runs; r++) {
      const [w, c] = timed(() => toeplitzHash(input, n, m, seed));
      wall.push(w);
      cpu.push(c);
    }
    releaseToeplitzCaches(); // one transform memory at a time: the peak RSS is then one plan's
    const plan = new ToeplitzPlan(n, m, seed);
    const first = plan.hash(input); // transforms the seed
    const blockWall: number[] = [];
    const blockCpu: number[] = [];
    for (let r = 0; r < runs; r++) {
      const [w, c] = timed(() => plan.hash(input));
      blockWall.push(w);
      blockCpu.push(c);
    }
    if (Buffer.compare(first, oneShot) !== 0) throw new Error(`plan and one-shot disagree at n = 2^${lg}`);
    releaseToeplitzCaches();
    const oneShotS = median(wall) / 1000;
    figures.push(
      {
        name: `toeplitz n=2^${lg} m=n/4 one-shot, median wall`,
        value: oneShotS,
        unit: 's',
        target: `< ${targetS}`,
        ok: oneShotS < targetS,
      },
      { name: `toeplitz n=2^${lg} m=n/4 one-shot, median CPU`, value: median(cpu) / 1000, unit: 's' },
      { name: `toeplitz n=2^${lg} m=n/4 one-shot, cold first call (tables)`, value: coldMs / 1000, unit: 's' },
      {
        name: `toeplitz n=2^${lg} m=n/4 per block with a plan, median wall`,
        value: median(blockWall) / 1000,
        unit: 's',
      },
      { name: `toeplitz n=2^${lg} m=n/4 per block with a plan, median CPU`, value: median(blockCpu) / 1000, unit: 's' },
      {
        name: `toeplitz n=2^${lg} rounding error (max distance to integer)`,
        value: plan.stats.maxRoundingError,
        unit: '',
        target: '<= 0.25',
        ok: plan.stats.maxRoundingError <= 0.25,
      },
      { name: `toeplitz n=2^${lg} WebAssembly SIMD kernels in use`, value: plan.simd ? 1 : 0, unit: '(1 = yes)' },
    );
  }
  // resourceUsage().maxRSS is in KiB: the peak of this whole bench process
  figures.push({
    name: 'peak RSS of the bench process (after the one-shot and plan figures)',
    value: process.resourceUsage().maxRSS / 1024,
    unit: 'MiB',
  });
  figures.push(...blockHashFigures());
  return figures;
}

/**
 * The pipeline's hash of one 2^22-trial block (n = 2^23 input bits, m = 1.485e6: what the calibrated simulated chip
 * certifies per block at the defaults) by ChunkedToeplitzPlan under each transform bound: time per block (steady
 * state, the seed slices transformed again in every block, as the worker does), column chunks, and the WebAssembly
 * memory the plan holds (what the bound costs; chunked.ts DEFAULT_MAX_FFT_SIZE).
 */
function blockHashFigures(): Figure[] {
  const figures: Figure[] = [];
  const n = 2 ** 23;
  const m = 1_485_000;
  const input = randomBytes(bytesForBits(n));
  const seed = randomBytes(bytesForBits(n + m - 1));
  let reference: Uint8Array | undefined;
  for (const [label, bound] of [
    ['2^20', 2 ** 20],
    ['5*2^18', 5 * 2 ** 18],
    ['3*2^19', 3 * 2 ** 19],
    ['2^21', 2 ** 21],
  ] as const) {
    const plan = new ChunkedToeplitzPlan(n, m, seed, { maxFftSize: bound, borrowSeed: true });
    const out = plan.hash(input); // makes the tables; the kernels warm up
    reference ??= out;
    if (Buffer.compare(out, reference) !== 0) throw new Error(`the block hash under bound ${label} differs`);
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < 5; r++) {
      const [w, c] = timed(() => plan.hash(input));
      wall.push(w);
      cpu.push(c);
    }
    const name = `block hash n=2^23 m=1.485e6, transform bound ${label}${bound === DEFAULT_MAX_FFT_SIZE ? ' (default)' : ''}`;
    figures.push(
      { name: `${name}: median wall`, value: median(wall) / 1000, unit: 's' },
      { name: `${name}: median CPU`, value: median(cpu) / 1000, unit: 's' },
      { name: `${name}: column chunks`, value: chunkLayout(n, m, bound).chunks, unit: '' },
      { name: `${name}: WebAssembly memory`, value: plan.transformBytes / 2 ** 20, unit: 'MiB' },
      {
        name: `${name}: rounding error`,
        value: plan.stats.maxRoundingError,
        unit: '',
        target: '<= 0.25',
        ok: plan.stats.maxRoundingError <= 0.25,
      },
    );
  }
  return figures;
}
