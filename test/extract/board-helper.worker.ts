/**
 * A helper thread for test/extract/sum-ranges.test.ts: joins a TaskBoard in the posted shared memory and helps until
 * told to stop. Its tasks record which thread ran them (ran[i] += 2: the owner adds 1), take about 2 ms, and throw
 * for kind FAIL_KIND. It counts the tasks it is running (busy) so the test can see none is left when a round ends.
 */
import { parentPort } from 'node:worker_threads';
import { TaskBoard } from '../../src/extract/fft/sum-ranges.ts';
import type { WasmMemory } from '../../src/extract/fft/simd.ts';

/** Tasks of this kind throw (sum-ranges.test.ts). */
const FAIL_KIND = 99;

interface Start {
  memory: WasmMemory;
  board: number;
  /** Int32 words: [0] stop flag, [1] busy, [2 ..] ran counts per task index. */
  state: SharedArrayBuffer;
}

let started = false;
// `on`, not `once`: the listener keeps this thread alive (a pending Atomics.waitAsync does not)
parentPort!.on('message', async ({ memory, board: offset, state }: Start) => {
  if (started) return;
  started = true;
  const board = new TaskBoard(memory, offset);
  const words = new Int32Array(state);
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  const ranges = {
    run(kind: number, i: number): void {
      Atomics.add(words, 1, 1);
      try {
        Atomics.wait(sleep, 0, 0, 2); // about 2 ms of "work"
        if (kind === FAIL_KIND) throw new Error(`helper task ${i} failed`);
        Atomics.add(words, 2 + i, 2);
      } finally {
        Atomics.sub(words, 1, 1);
      }
    },
  };
  parentPort!.postMessage('ready');
  while (Atomics.load(words, 0) === 0) {
    try {
      if (!board.helpOne(ranges)) await board.changed(20);
    } catch {
      // reported to the owner through the board (its round fails); keep helping
    }
  }
  parentPort!.postMessage('stopped');
});
