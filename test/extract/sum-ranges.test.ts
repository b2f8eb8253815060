/**
 * One block's hash on two threads (src/extract/fft/sum-ranges.ts): the worker's summed spectrum in shared
 * WebAssembly memory, its ranges claimed by the worker and by this thread (ToeplitzThread.assist).
 * - the two-thread sum gives the same bits as the one-thread sum on this thread and as the schoolbook product: top
 *   radix 3, 4 and 5, the inverse in one round or two, the one-stage and two-stage range loads, ragged last chunks,
 *   fewer output bits than the plan's rows;
 * - the task board: each task runs exactly once, whichever thread claims it; a round whose owner's task throws ends
 *   only after the helper's claimed task is done, and the board serves the next round; a helper's failure fails the
 *   owner's round;
 * - this thread turns its event loop between any two ranges it runs;
 * - the rounding check with a helper: the largest distance is the one-thread plan's, and a sum that fails the check
 *   falls back chunk by chunk to the same bits;
 * - a failure of this thread's share becomes the hash's error; terminating the worker mid-block ends the hash and
 *   the help, with no hang.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChunkedToeplitzPlan, chunkLayout } from '../../src/extract/chunked.ts';
import { Fft } from '../../src/extract/fft/fft.ts';
import { createMemory } from '../../src/extract/fft/simd.ts';
import { BOARD_BYTES, ROUND, SumRanges, TaskBoard } from '../../src/extract/fft/sum-ranges.ts';
import { bytesForBits } from '../../src/extract/naive.ts';
import { ToeplitzThread } from '../../src/extract/off-thread.ts';
import { toeplitzWords } from '../../src/extract/toeplitz.ts';
import { mulberry32 as prng } from '../prng.ts';

/** The task kind whose tasks throw in the helper worker (board-helper.worker.ts). */
const FAIL_KIND = 99;

function randomBits(rand: () => number, bits: number): Uint8Array {
  const out = new Uint8Array(bytesForBits(bits));
  for (let b = 0; b < out.length; b++) out[b] = Math.floor(rand() * 256);
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The first `bits` bits of buf, the rest of the last byte cleared (as the extractor reads an input). */
function prefix(buf: Uint8Array, bits: number): Uint8Array {
  const out = buf.slice(0, bytesForBits(bits));
  if (bits % 8) out[out.length - 1]! &= (1 << (bits % 8)) - 1;
  return out;
}

/** A worker for inputs of n bits and a random seed for m rows, and the random source that made the seed. */
function startThread(n: number, m: number, salt: number, maxFftSize?: number) {
  const rand = prng(salt);
  const seed = randomBits(rand, n + m - 1);
  return { rand, seed, thread: new ToeplitzThread(n, seed, maxFftSize) };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a block hashed on two threads', () => {
  it('gives the bits of the one-thread sum and of the schoolbook product (radix 3, 4, 5; ragged chunks)', async () => {
    // (n, plan rows m, output bits, transform bound) -> top radix, inverse rounds, chunks (chunkLayout)
    const cases = [
      { n: 1048872, m: 3000, out: 3000, maxFftSize: 2 ** 18 }, // 3 * 2^16: radix 3, two inverse rounds, 3 chunks
      { n: 1048872, m: 3000, out: 2711, maxFftSize: 5 * 2 ** 16 }, // 5 * 2^16: radix 5, two rounds, 2 chunks
      { n: 786437, m: 4000, out: 4000, maxFftSize: 2 ** 18 }, // 2^18: radix 4, two rounds, 2 chunks
      { n: 1048872, m: 3000, out: 2999, maxFftSize: 2 ** 17 }, // 2^17: radix 4, one round, 5 chunks
      { n: 300001, m: 2000, out: 1999, maxFftSize: 81920 }, // 5 * 2^14: radix 5, one round
      { n: 1003, m: 20, out: 17, maxFftSize: 80 }, // 5 * 16: three stages, one-stage range loads
      { n: 999, m: 24, out: 24, maxFftSize: 48 }, // 3 * 16: radix 3, one-stage range loads
    ];
    const seen = { radix: new Set<number>(), deep: 0, shallow: 0, ragged: 0, oneStage: 0 };
    let helped = 0;
    for (const [k, c] of cases.entries()) {
      const { rand, seed, thread } = startThread(c.n, c.m, 0x5a0 + k, c.maxFftSize);
      const layout = chunkLayout(c.n, c.m, c.maxFftSize);
      expect(layout.chunks, `case ${k}`).toBeGreaterThan(1);
      const radices = Fft.radices(layout.fftSize);
      seen.radix.add(radices[0]!);
      if (layout.fftSize / radices[0]! > 2 ** 15) seen.deep++;
      else seen.shallow++;
      if (radices.length < 4) seen.oneStage++;
      if (c.n % layout.chunkBits !== 0) seen.ragged++;
      try {
        for (let rep = 0; rep < 3; rep++) {
          const x = randomBits(rand, c.n);
          const before = thread.helped;
          const hashed = thread.hash(c.m, x, c.out);
          await thread.assist(hashed);
          const got = hex(await hashed);
          helped += thread.helped - before;
          const one = new ChunkedToeplitzPlan(c.n, c.m, seed, { maxFftSize: c.maxFftSize });
          expect(got, `case ${k} rep ${rep}: one thread`).toBe(hex(one.hash(x, c.out)));
          expect(got, `case ${k} rep ${rep}: schoolbook`).toBe(
            hex(toeplitzWords(prefix(x, c.n), c.n, c.out, prefix(seed, c.n + c.out - 1))),
          );
        }
      } finally {
        await thread.close();
      }
    }
    expect([...seen.radix].sort()).toEqual([3, 4, 5]);
    expect(seen.deep).toBeGreaterThan(0);
    expect(seen.shallow).toBeGreaterThan(0);
    expect(seen.ragged).toBeGreaterThan(0);
    expect(seen.oneStage).toBeGreaterThan(0);
    // this thread did run ranges: the comparison above covered the two-thread path, not only the worker alone
    expect(helped).toBeGreaterThan(0);
  }, 120_000);

  it('returns to the event loop after each range it runs, not after its whole share', async () => {
    const n = 2 ** 23;
    const m = 1_485_000;
    const { rand, thread } = startThread(n, m, 0x100f);
    try {
      thread.warm(m);
      await thread.hash(m, randomBits(rand, n), m); // plan made, kernels tiered up
      // a chain of event-loop turns (one setImmediate re-queued at each), and the longest time between two
      let turns = 0;
      let longest = 0;
      let last = performance.now();
      let running = true;
      const turn = (): void => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        turns++;
        if (running) setImmediate(turn);
      };
      setImmediate(turn);
      // the turn count at the start of each range this thread runs
      const at: number[] = [];
      const run = SumRanges.prototype.run;
      vi.spyOn(SumRanges.prototype, 'run').mockImplementation(function (this: SumRanges, kind: number, i: number) {
        at.push(turns);
        run.call(this, kind, i);
      });
      const before = thread.helped;
      const t0 = performance.now();
      const hashed = thread.hash(m, randomBits(rand, n), m);
      await thread.assist(hashed);
      await hashed;
      running = false;
      const helped = thread.helped - before;
      expect(helped).toBeGreaterThan(10);
      expect(at.length).toBe(helped);
      // a turn of the loop between any two ranges (a range is a few ms at this size: timers and port reads wait no
      // longer than that)
      const together = at.filter((t, k) => k > 0 && t === at[k - 1]).length;
      const took = (performance.now() - t0).toFixed(0);
      expect(together, `back to back (longest turn ${longest.toFixed(1)} ms of ${took} ms): ${at.join(' ')}`).toBe(0);
    } finally {
      await thread.close();
    }
  }, 60_000);

  it("turns a failure of this thread's share into the hash's error, and ends cleanly", async () => {
    const n = 2 ** 22;
    const m = 20000;
    const { rand, thread } = startThread(n, m, 0xfa11, 2 ** 18);
    // this thread's ranges throw (the worker runs its own module instance: its ranges are unaffected)
    const run = vi.spyOn(SumRanges.prototype, 'run').mockImplementation(() => {
      throw new Error('range kernel fault');
    });
    try {
      const hashed = thread.hash(m, randomBits(rand, n), m);
      hashed.catch(() => undefined);
      await thread.assist(hashed);
      expect(run).toHaveBeenCalled();
      await expect(hashed).rejects.toThrow('extract helper: range kernel fault');
      // the run's error stays: the next block is refused, not hashed by a worker whose round failed
      await expect(thread.hash(m, randomBits(rand, n), m)).rejects.toThrow('extract helper: range kernel fault');
    } finally {
      await thread.close();
    }
  }, 60_000);

  it('ends the hash and the help when the worker is terminated mid-block', async () => {
    const n = 2 ** 23;
    const m = 1_485_000;
    const { rand, thread } = startThread(n, m, 0x7e5);
    thread.warm(m);
    const hashed = thread.hash(m, randomBits(rand, n), m);
    hashed.catch(() => undefined);
    const helping = thread.assist(hashed);
    // terminate once this thread has run a range of the block (the worker is inside a round)
    const t0 = Date.now();
    while (thread.helped === 0 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 1));
    expect(thread.helped).toBeGreaterThan(0);
    await thread.close();
    await expect(hashed).rejects.toThrow(/extract worker (closed|exited)/);
    await helping;
    const after = thread.helped;
    await new Promise((r) => setTimeout(r, 50));
    expect(thread.helped).toBe(after);
  }, 60_000);
});

/** A helper worker (board-helper.worker.ts or sum-helper.worker.ts), started through tsx as off-thread.ts does. */
function startHelper(file = './board-helper.worker.ts'): Worker {
  const tsxApi = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const entry = new URL(file, import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true });
}

/** Blocks this thread for about `ms` (the owner's task, as the worker's ranges block it). */
function work(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('the rounding check with a helper', () => {
  it('takes the largest distance over both threads, and its exact fallback gives the same bits', async () => {
    // this thread owns each plan's sum (its rounds block it); a worker helps each (sum-helper.worker.ts)
    const n = 786437;
    const m = 4000;
    const maxFftSize = 2 ** 18;
    const rand = prng(0xc0de);
    const seed = randomBits(rand, n + m - 1);
    const x = randomBits(rand, n);
    const want = hex(toeplitzWords(prefix(x, n), n, m, prefix(seed, n + m - 1)));
    const alone = new ChunkedToeplitzPlan(n, m, seed, { maxFftSize });
    expect(hex(alone.hash(x))).toBe(want);
    expect(alone.stats.maxRoundingError).toBeGreaterThan(0);
    const helpers: Array<{ worker: Worker; state: Int32Array }> = [];
    try {
      // tolerance 0.25 (the default), and one no product meets: the sum fails its check, every chunk then fails too
      // and is recomputed exactly
      for (const roundingTolerance of [0.25, 1e-12]) {
        const plan = new ChunkedToeplitzPlan(n, m, seed, { maxFftSize, shareable: true, roundingTolerance });
        plan.prepare();
        const worker = startHelper('./sum-helper.worker.ts');
        const state = new Int32Array(new SharedArrayBuffer(4 * 8));
        helpers.push({ worker, state });
        const ready = new Promise((resolve) => worker.once('message', resolve));
        worker.postMessage({ share: plan.share, state: state.buffer });
        await ready;
        // until the helper has run spans of the rounding pass (its largest distance then counts); a loaded machine
        // may keep the helper off the core for many blocks: bounded by time, not by a count
        const deadline = Date.now() + 30_000;
        while (Atomics.load(state, 2 + ROUND) === 0 && Date.now() < deadline) {
          const before = plan.stats.fallbacks; // a count over the plan's hashes
          expect(hex(plan.hash(x)), `tolerance ${roundingTolerance}`).toBe(want);
          if (roundingTolerance === 0.25) {
            expect(plan.stats.fallbacks).toBe(0);
            expect(plan.stats.maxRoundingError).toBe(alone.stats.maxRoundingError);
          } else expect(plan.stats.fallbacks - before).toBe(plan.chunks);
          await new Promise((r) => setTimeout(r, 5));
        }
        expect(
          Atomics.load(state, 2 + ROUND),
          `tolerance ${roundingTolerance}: rounding spans on the helper`,
        ).toBeGreaterThan(0);
      }
    } finally {
      for (const { worker, state } of helpers) {
        const stopped = new Promise((resolve) => worker.once('message', resolve));
        Atomics.store(state, 0, 1);
        await stopped;
        await worker.terminate();
      }
    }
  }, 90_000);
});

describe('the task board', () => {
  it('runs each task once whichever thread claims it; an owner error waits for the helper; a helper error fails', async () => {
    const memory = createMemory(BOARD_BYTES);
    const board = new TaskBoard(memory, 0);
    const state = new Int32Array(new SharedArrayBuffer(4 * 34));
    const helper = startHelper();
    const message = () => new Promise((resolve) => helper.once('message', resolve));
    try {
      const ready = message();
      helper.postMessage({ memory, board: 0, state: state.buffer });
      await ready;
      const ran = () => Array.from(state.subarray(2));
      // ran[i]: 1 if the owner ran task i, 2 if the helper did; the helper leaves each round's last task
      let byHelper = 0;
      for (let round = 0; round < 20; round++) {
        state.fill(0, 2);
        board.round(1, 32, (i) => {
          work(2);
          state[2 + i]! += 1;
        });
        expect(
          ran().every((v) => v === 1 || v === 2),
          `round ${round}: ${ran()}`,
        ).toBe(true);
        byHelper += ran().filter((v) => v === 2).length;
      }
      expect(byHelper).toBeGreaterThan(0);
      // the owner's own task throws: the round ends with that error, after the helper's claimed task is done
      state.fill(0, 2);
      expect(() =>
        board.round(1, 32, (i) => {
          work(2);
          if (i >= 4) throw new Error('owner task failed');
          state[2 + i]! += 1;
        }),
      ).toThrow('owner task failed');
      expect(Atomics.load(state, 1), 'a helper task still running after the round ended').toBe(0);
      expect(ran().every((v) => v <= 2)).toBe(true);
      // the board serves the next round
      state.fill(0, 2);
      board.round(1, 8, (i) => {
        work(2);
        state[2 + i]! += 1;
      });
      expect(
        ran()
          .slice(0, 8)
          .every((v) => v === 1 || v === 2),
      ).toBe(true);
      // a helper's task fails: the owner's round fails
      expect(() => board.round(FAIL_KIND, 32, () => work(2))).toThrow(/helper thread failed/);
      // the claim word holds a round's count in 8 bits: a larger round is refused, not wrapped
      expect(() => board.round(1, 256, () => undefined)).toThrow('task board: 256 tasks, at most 255');
    } finally {
      const stopped = message();
      Atomics.store(state, 0, 1);
      board.wake();
      await stopped;
      await helper.terminate();
    }
  }, 60_000);
});
