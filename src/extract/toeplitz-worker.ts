/**
 * The worker side of ToeplitzThread (off-thread.ts): holds one ToeplitzPlan
 * and hashes the inputs it is sent. Messages:
 *   { id, n, m, seed?, input, outputBits }  -> { id, bytes } | { id, error }
 * `seed` comes with the first request for a plan size (n, m) only.
 */
import { parentPort } from 'node:worker_threads';
import { ToeplitzPlan } from './toeplitz.ts';

interface HashRequest {
  id: number;
  n: number;
  m: number;
  seed?: Uint8Array;
  input: Uint8Array;
  outputBits: number;
}

let plan: ToeplitzPlan | undefined;

parentPort?.on('message', (req: HashRequest) => {
  try {
    if (req.seed) plan = new ToeplitzPlan(req.n, req.m, req.seed);
    if (!plan || plan.n !== req.n || plan.m !== req.m) throw new Error(`no plan for n = ${req.n}, m = ${req.m}`);
    const bytes = plan.hash(req.input, req.outputBits);
    parentPort!.postMessage({ id: req.id, bytes }, [bytes.buffer as ArrayBuffer]);
  } catch (e) {
    parentPort!.postMessage({ id: req.id, error: (e as Error).message });
  }
});
