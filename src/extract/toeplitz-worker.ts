/**
 * The worker side of ToeplitzThread (off-thread.ts): holds one plan (the
 * main thread's ChunkedToeplitzPlan: the same bytes within the same memory
 * bound) and hashes the inputs it is sent. Messages:
 *   { id, n, m, maxFftSize, seed?, input, outputBits }  -> { id, bytes } | { id, error }
 * `seed` comes with the first request for a plan size (n, m) only.
 */
import { parentPort } from 'node:worker_threads';
import { ChunkedToeplitzPlan } from './chunked.ts';

interface HashRequest {
  id: number;
  n: number;
  m: number;
  maxFftSize: number;
  seed?: Uint8Array;
  input: Uint8Array;
  outputBits: number;
}

let plan: ChunkedToeplitzPlan | undefined;

parentPort?.on('message', (req: HashRequest) => {
  try {
    if (req.seed) {
      plan = undefined; // the old plan's transform memory may go before the new one is made
      plan = new ChunkedToeplitzPlan(req.n, req.m, req.seed, { maxFftSize: req.maxFftSize });
    }
    if (!plan || plan.n !== req.n || plan.m !== req.m) throw new Error(`no plan for n = ${req.n}, m = ${req.m}`);
    const bytes = plan.hash(req.input, req.outputBits);
    parentPort!.postMessage({ id: req.id, bytes }, [bytes.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: req.id, error: (e as Error).message });
  }
});
