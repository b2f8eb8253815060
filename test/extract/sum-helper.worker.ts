/**
 * A helper thread for test/extract/sum-ranges.test.ts: joins the posted sum (SumHelper, as the main thread does in
 * off-thread.ts assist) and runs its open ranges until told to stop, counting them.
 */
import { parentPort } from 'node:worker_threads';
import { SumHelper, type SumShare } from '../../src/extract/fft/sum-ranges.ts';

interface Start {
  share: SumShare;
  /** Int32 words: [0] stop flag, [1] ranges run here, [2 + kind] of them of each task kind (sum-ranges.ts). */
  state: SharedArrayBuffer;
}

let started = false;
// `on`, not `once`: the listener keeps this thread alive (a pending Atomics.waitAsync does not)
parentPort!.on('message', async ({ share, state }: Start) => {
  if (started) return;
  started = true;
  const words = new Int32Array(state);
  const helper = SumHelper.join(share);
  if (!helper) throw new Error('no kernels in the helper');
  const run = helper.ranges.run.bind(helper.ranges);
  helper.ranges.run = (kind: number, i: number): void => {
    Atomics.add(words, 2 + kind, 1);
    run(kind, i);
  };
  parentPort!.postMessage('ready');
  while (Atomics.load(words, 0) === 0) {
    if (helper.helpOne()) Atomics.add(words, 1, 1);
    else await helper.board.changed(20);
  }
  parentPort!.postMessage('stopped');
});
