/**
 * Toeplitz hashing on a worker thread: the event loop stays free during the FFT product (host-settings runs must
 * answer every CREDIT within the chip's FIFO time), and the pipeline hashes block k there while block k + 1 is decoded
 * and certified on the main thread. More in README.md (off-thread.ts).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { DEFAULT_MAX_FFT_SIZE } from './chunked.ts';
import { SumHelper, type SumShare } from './fft/sum-ranges.ts';

/**
 * The worker's heap: its big arrays (the plan's WebAssembly memory, the seed, one input) live outside the V8 heap,
 * so a small young generation costs nothing in speed and keeps the garbage it may hold between scavenges small
 * (measured: 1 MB against 4 or 16 MB, about 3 MB less RSS at the same hashes).
 */
const WORKER_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 1 };

/** The worker thread for this build: the compiled .js worker itself, or a bootstrap that registers tsx first. */
function startWorker(): Worker {
  const ext = /\.[cm]?[jt]s$/.exec(new URL(import.meta.url).pathname)?.[0] ?? '.js';
  const entry = new URL(`./toeplitz-worker${ext}`, import.meta.url);
  if (!ext.endsWith('ts')) return new Worker(entry, { resourceLimits: WORKER_LIMITS });
  // tsx's ESM register(), resolved from this package (the worker may start in any working directory):
  // the package's `tsx/esm/api` import entry, next to the require entry that createRequire resolves.
  const tsxApi = pathToFileURL(
    createRequire(import.meta.url)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true, resourceLimits: WORKER_LIMITS });
}

/**
 * How long a helping thread sleeps between looks at the task board when no range is open (it is woken at once when
 * a round opens, or when the hash it helps with ends): a bound on the wait, not a poll interval.
 */
const HELP_WAIT_MS = 100;

interface Message {
  id: number;
  bytes?: Uint8Array;
  error?: string;
  input?: Uint8Array;
  share?: SumShare | null;
}

interface Pending {
  resolve: (bytes: Uint8Array) => void;
  reject: (e: Error) => void;
}

/**
 * One worker holding one run's seed and plan. Requests are answered in order. The worker keeps the process alive
 * only while a request is pending, so a run that is abandoned without close() cannot hang the process; close()
 * terminates it (every end of a run calls it: pipeline.ts).
 */
export class ToeplitzThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failed: Error | undefined;
  /**
   * The input buffer: moved to the worker with each request and back with its answer (transferred, not copied),
   * so a run of any length makes no garbage of inputs on either side (a pool of one: one request at a time is
   * what the pipeline sends; a second one concurrently gets a buffer of its own).
   */
  private spare: Uint8Array | undefined;
  /** The worker's summed spectrum as the worker last posted it, and this thread's hold on it once it helped. */
  private share: SumShare | undefined;
  private helper: SumHelper | null | undefined;
  private shareSeen: () => void = () => undefined;
  /** Resolves when the worker first posts its sum. */
  private readonly shareArrived = new Promise<void>((resolve) => {
    this.shareSeen = resolve;
  });
  /** Ranges this thread ran for the worker (assist), for tests and profiles. */
  helped = 0;

  /**
   * A worker for inputs of n bits hashed with `seed` (at least n + mMax - 1 bits for the largest m it will be asked
   * for; sent once); `maxFftSize`: the transform bound of its plan (chunked.ts; default DEFAULT_MAX_FFT_SIZE).
   */
  constructor(n: number, seed: Uint8Array, maxFftSize: number = DEFAULT_MAX_FFT_SIZE) {
    this.worker = startWorker();
    this.worker.unref();
    this.worker.on('message', (msg: Message) => {
      if (msg.share !== undefined) {
        this.share = msg.share ?? undefined;
        this.helper?.board.wake(); // an assist() asleep on the old sum's board looks again
        this.helper = undefined; // joined at the next assist() step
        if (msg.share) this.shareSeen();
        return;
      }
      if (msg.input) this.spare = msg.input;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.worker.unref();
      if (msg.bytes) p.resolve(msg.bytes);
      else p.reject(new Error(`extract worker: ${msg.error}`));
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`extract worker exited (code ${code})`)));
    this.worker.postMessage({ init: { n, seed, maxFftSize } });
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.worker.unref();
  }

  /**
   * Makes the plan for m (transform tables, compiled kernels) before the first input arrives, so that the first
   * block does not wait for them: a later plan of the same transform size takes them over (chunked.ts `from`).
   */
  warm(m: number): void {
    if (!this.failed) this.worker.postMessage({ warm: m });
  }

  /**
   * The first outputBits bits of T(seed) x input with the plan for m. The input is copied (into the pooled buffer)
   * before this returns, so the caller may reuse its buffer at once.
   */
  hash(m: number, input: Uint8Array, outputBits: number): Promise<Uint8Array> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    const buf = this.spare?.length === input.length ? this.spare : new Uint8Array(input.length);
    this.spare = undefined;
    buf.set(input);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ id, m, input: buf, outputBits }, [buf.buffer as ArrayBuffer]);
    });
  }

  /**
   * This thread helps the worker with the block it is hashing until `until` (that hash) settles: it claims the open
   * ranges of the worker's sum one at a time (fft/sum-ranges.ts; the same bytes whichever thread runs a range) and
   * returns to the event loop after each (a range is a few ms: port reads and CREDIT answers wait no longer), and
   * sleeps on the task board while none is open. Call it only when this thread would otherwise wait for the hash.
   * A range that fails here becomes the run's error (every pending hash is rejected with it). Never rejects.
   */
  async assist(until: Promise<unknown>): Promise<void> {
    let settled = false;
    let waiting: SumHelper | undefined;
    const stop = (): void => {
      settled = true;
      waiting?.board.wake();
    };
    const ended = until.then(stop, stop);
    await nextMacrotask(); // `until` may have settled already
    // the worker posts its sum when it makes its plan (at start: warm): a first block may come before it arrives
    if (this.share === undefined) await Promise.race([this.shareArrived, ended]);
    while (!settled && !this.failed) {
      if (this.helper === undefined && this.share !== undefined) this.helper = SumHelper.join(this.share);
      const helper = this.helper;
      if (!helper) return; // no sum posted yet (or no kernels here): the worker works alone
      let ran: boolean;
      try {
        ran = helper.helpOne();
      } catch (e) {
        this.fail(new Error(`extract helper: ${(e as Error).message}`));
        return;
      }
      if (ran) {
        this.helped++;
        await nextMacrotask();
        continue;
      }
      waiting = helper;
      await helper.board.changed(HELP_WAIT_MS);
      waiting = undefined;
    }
  }

  async close(): Promise<void> {
    this.failed ??= new Error('extract worker closed');
    await this.worker.terminate();
  }
}
