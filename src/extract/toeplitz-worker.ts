/**
 * The worker side of ToeplitzThread (off-thread.ts): holds the run's seed and one plan (the main thread's
 * ChunkedToeplitzPlan: the same bytes within the same memory bound) and hashes the inputs it is sent, in order.
 * Messages:
 *   { init: { n, seed, maxFftSize } }          first, once
 *   { warm: m }                                 make the plan for m and its transforms now (no answer)
 *   { id, m, input, outputBits }  -> { id, bytes, input } | { id, error }   (input and bytes transferred)
 *   -> { share }                                  the plan's summed spectrum, for the main thread to help with
 *                                                  (fft/sum-ranges.ts), each time the plan makes a new one
 * A new m takes over the old plan's transform memory (never two alive at once).
 */
import { parentPort } from 'node:worker_threads';
import { ChunkedToeplitzPlan } from './chunked.ts';

interface Init {
  n: number;
  seed: Uint8Array;
  maxFftSize: number;
}

interface HashRequest {
  id: number;
  m: number;
  input: Uint8Array;
  outputBits: number;
}

type Message = { init: Init } | { warm: number } | HashRequest;

let run: Init | undefined;
let plan: ChunkedToeplitzPlan | undefined;

function planFor(m: number): ChunkedToeplitzPlan {
  if (!run) throw new Error('no seed');
  if (plan?.m !== m)
    plan = new ChunkedToeplitzPlan(run.n, m, run.seed, {
      maxFftSize: run.maxFftSize,
      borrowSeed: true,
      shareable: true,
      ...(plan ? { from: plan } : {}),
    });
  return plan;
}

let posted: unknown = null;

/**
 * The plan made ready, and its sum posted to the main thread when it changed (before the hash that uses it; null when
 * the plan has none, so that the main thread lets go of the old one's memory).
 */
function ready(p: ChunkedToeplitzPlan): ChunkedToeplitzPlan {
  p.prepare();
  if (p.share !== posted) {
    posted = p.share;
    parentPort!.postMessage({ share: p.share });
  }
  return p;
}

parentPort?.on('message', (msg: Message) => {
  if ('init' in msg) {
    run = msg.init;
    return;
  }
  if ('warm' in msg) {
    try {
      ready(planFor(msg.warm));
    } catch {
      plan = undefined; // only a head start: the first hash makes its own plan and reports its own error
    }
    return;
  }
  try {
    const bytes = ready(planFor(msg.m)).hash(msg.input, msg.outputBits);
    // the input buffer goes back for the next request (off-thread.ts `spare`)
    parentPort!.postMessage({ id: msg.id, bytes, input: msg.input }, [
      bytes.buffer as ArrayBuffer,
      msg.input.buffer as ArrayBuffer,
    ]);
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).message });
  }
});
