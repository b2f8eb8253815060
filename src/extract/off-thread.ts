/**
 * Toeplitz hashing on a worker thread, so that a long FFT product (0.1 to 0.4 s for a block of 2^22 trials here) does
 * not stop the event loop: in host-settings mode (`--settings host`) the loop must answer every CREDIT within the
 * chip's FIFO time (65 ms at 1 M trials/s) or the chip starves. More in README.md (off-thread.ts).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DEFAULT_MAX_FFT_SIZE } from './chunked.ts';

/** The worker thread for this build: the compiled .js worker itself, or a bootstrap that registers tsx first. */
function startWorker(): Worker {
  const ext = /\.[cm]?[jt]s$/.exec(new URL(import.meta.url).pathname)?.[0] ?? '.js';
  const entry = new URL(`./toeplitz-worker${ext}`, import.meta.url);
  if (!ext.endsWith('ts')) return new Worker(entry);
  // tsx's ESM register(), resolved from this package (the worker may start in any working directory):
  // the package's `tsx/esm/api` import entry, next to the require entry that createRequire resolves.
  const tsxApi = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

interface Pending {
  resolve: (bytes: Uint8Array) => void;
  reject: (e: Error) => void;
}

export class ToeplitzThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private planKey = '';
  private failed: Error | undefined;

  /** `maxFftSize`: the transform bound of the worker's plan (chunked.ts; default DEFAULT_MAX_FFT_SIZE). */
  constructor(private readonly maxFftSize: number = DEFAULT_MAX_FFT_SIZE) {
    this.worker = startWorker();
    this.worker.on('message', (msg: { id: number; bytes?: Uint8Array; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.bytes) p.resolve(msg.bytes);
      else p.reject(new Error(`extract worker: ${msg.error}`));
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`extract worker exited (code ${code})`)));
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** The first outputBits bits of T(seed) x input for a plan (n, m); the seed is sent once per plan size. */
  hash(n: number, m: number, seed: Uint8Array, input: Uint8Array, outputBits: number): Promise<Uint8Array> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    const key = `${n}/${m}`;
    const msg: Record<string, unknown> = { id, n, m, maxFftSize: this.maxFftSize, input, outputBits };
    if (key !== this.planKey) {
      msg.seed = seed;
      this.planKey = key;
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    this.failed ??= new Error('extract worker closed');
    await this.worker.terminate();
  }
}
