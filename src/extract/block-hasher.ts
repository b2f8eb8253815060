/**
 * The extract stage: hashes the blocks of one run with the Toeplitz
 * extractor, one seed for the whole run. Pure hashing: it knows n (input
 * bits per block) and mMax (the largest output a block may have), not how
 * they were certified.
 *
 * One seed serves every block: the Toeplitz family is a strong two-universal
 * extractor, so the seed may be public and reused, each block paying its own
 * eps_ext (stated in its certificate). Blocks of one run share n; their m
 * differ, and rows 0..m'-1 of T read only the seed's first n + m' - 1 bits,
 * so a seed of n + mMax - 1 bits serves them all.
 */
import { ChunkedToeplitzPlan, chunkLayout, DEFAULT_MAX_FFT_SIZE } from './chunked.ts';
import { bytesForBits } from './naive.ts';
import { ToeplitzThread } from './off-thread.ts';
import { seedBitsFor, seedSha256 } from './seed.ts';

/** Inputs of at most n / SHORT_INPUT_FRACTION bits are hashed with a plan of their own length (hashShort). */
const SHORT_INPUT_FRACTION = 4;

/** Plan sizes are multiples of min(mMax, n) / PLAN_STEPS, n the plan's input bits (planM). */
const PLAN_STEPS = 32;

/**
 * 'auto' hashes on the worker from this input length up: there a block's product (about 50 ms at 2^21 bits) dwarfs
 * the worker's start (a few ms, and it overlaps the first block's certification).
 */
export const AUTO_OFF_THREAD_MIN_BITS = 2 ** 21;

export interface BlockHasherOptions {
  /**
   * Hash on a worker thread (off-thread.ts; same bytes): the event loop stays free during the FFT product
   * (host-settings runs need it to answer CREDIT in time) and the pipeline hashes one block there while it
   * certifies the next (pipeline.ts hashStage). 'auto': from AUTO_OFF_THREAD_MIN_BITS input bits up. Default false.
   */
  offThread?: boolean | 'auto';
  /**
   * Largest FFT length (complex points, c * 2^k with c in {1, 3, 5}) of the hash: a block whose product needs more
   * is hashed in column chunks (chunked.ts; same bytes; memory follows this length, not (n + m) / 2). Default
   * DEFAULT_MAX_FFT_SIZE (3 * 2^19: 31 MB of WebAssembly memory for a 2^22-trial block, chunked.ts).
   */
  maxFftSize?: number;
}

export class BlockHasher {
  /** SHA-256 (hex) of the seed bits the hasher reads: the certificates' extraction.seedSha256. */
  readonly seedSha256: string;
  /** Seed bits the run uses, n + mMax - 1 (the certificates' accounting). */
  readonly seedBits: number;
  /** Whether blocks are hashed on the worker thread (the option, 'auto' resolved). */
  readonly offThread: boolean;
  private plan: ChunkedToeplitzPlan | undefined;
  private thread: ToeplitzThread | undefined;
  private threadPlanM = 0;
  /** The plan of the last short input (hashShort). */
  private shortPlan: ChunkedToeplitzPlan | undefined;
  private readonly maxFftSize: number;

  /**
   * Inputs of at most n bits, outputs of at most mMax bits, `seed` at least seedBitsFor(n, mMax) bits. With the
   * worker, it starts now and makes its plan for a typical block while the first block is certified.
   */
  constructor(
    readonly n: number,
    readonly mMax: number,
    private readonly seed: Uint8Array,
    { offThread = false, maxFftSize = DEFAULT_MAX_FFT_SIZE }: BlockHasherOptions = {},
  ) {
    this.offThread = offThread === 'auto' ? n >= AUTO_OFF_THREAD_MIN_BITS : offThread;
    this.maxFftSize = maxFftSize;
    this.seedBits = seedBitsFor(n, mMax);
    this.seedSha256 = seedSha256(seed.subarray(0, Math.ceil(this.seedBits / 8)));
    if (this.offThread) {
      const warmM = this.warmPlanM();
      this.thread = new ToeplitzThread(n, seed.subarray(0, bytesForBits(this.seedBits)), maxFftSize);
      this.thread.warm(warmM);
    }
  }

  /**
   * The plan size the worker prepares before the first block: a quarter of mMax (a chip's typical certified rate is
   * near a quarter bit per trial), rounded to the plan step. A first block of another m takes the prepared
   * transforms over when its transform size is the same (chunked.ts `from`), which it is for most m under the bound.
   */
  private warmPlanM(): number {
    const m = this.planM(Math.ceil(this.mMax / 4), this.mMax);
    chunkLayout(this.n, m, this.maxFftSize); // throws here, on the caller's stack, for a bound too small for m
    return m;
  }

  /**
   * outputBits of the Toeplitz hash of one block's input (inputBits <= n bits, LSB first; default n). Plans are made
   * on the first call. A shorter input is hashed with the same plan, moved up by n - inputBits bits: zeros below it
   * leave T x unchanged and row i then reads the seed's bit i - j + inputBits - 1, its own Toeplitz matrix (the
   * seed's prefix rule, README.md seed.ts). With the worker, the input is copied before this returns.
   */
  hash(input: Uint8Array, outputBits: number, inputBits: number = this.n): Promise<Uint8Array> {
    if (outputBits > this.mMax)
      return Promise.reject(new RangeError(`output of ${outputBits} bits exceeds the run's mMax ${this.mMax}`));
    if (!Number.isInteger(inputBits) || inputBits < outputBits || inputBits > this.n) {
      return Promise.reject(
        new RangeError(`input of ${inputBits} bits: must be an integer in ${outputBits}..${this.n} (m..n)`),
      );
    }
    // a block much shorter than n (early stopping's variable-length blocks) gets its own small product (below)
    if (inputBits <= this.n / SHORT_INPUT_FRACTION) return this.hashShort(input, outputBits, inputBits);
    const x = inputBits === this.n ? input : moveUp(input, inputBits, this.n - inputBits);
    const mPlan = this.planM(outputBits, this.mMax);
    if (this.thread) {
      // The same plan sizes as below, run by the worker: the same bytes.
      if (this.threadPlanM === 0 || !serves(this.threadPlanM, outputBits, mPlan)) this.threadPlanM = mPlan;
      return this.thread.hash(this.threadPlanM, x, outputBits);
    }
    return settle(() => {
      this.plan = this.planFor(this.plan, this.n, mPlan, outputBits);
      return this.plan.hash(x, outputBits);
    });
  }

  /**
   * The plan size for outputBits from inputs of at most `cap` output bits (mMax, or a short input's length if less):
   * rounded up to a step of cap / PLAN_STEPS, at most cap. The FFT length follows n + m, so the plan is sized for
   * the block's m, not for mMax, which a chip never reaches; blocks of one run have nearly the same m, so one plan
   * serves them (a new plan of the same transform size takes the old one's memory and tables over, chunked.ts `from`:
   * measured 2 us on the worker, 0.15 ms here). The step follows the cap so that a short input's plan is sized for
   * its own m, not for its whole length (which doubled its transform). Rows 0..m-1 read only the seed's first
   * n + m - 1 bits, so the output does not depend on the plan's size.
   */
  private planM(outputBits: number, cap: number): number {
    const step = Math.max(8, Math.ceil(cap / PLAN_STEPS / 8) * 8);
    return Math.min(cap, Math.ceil(outputBits / step) * step);
  }

  /**
   * `current` when it is for n input bits and serves outputBits within mPlan rows; else a new plan, which takes over
   * the old one's transform memory (never two alive at once).
   */
  private planFor(
    current: ChunkedToeplitzPlan | undefined,
    n: number,
    mPlan: number,
    outputBits: number,
  ): ChunkedToeplitzPlan {
    if (current !== undefined && current.n === n && serves(current.m, outputBits, mPlan)) return current;
    return new ChunkedToeplitzPlan(n, mPlan, this.seed, { maxFftSize: this.maxFftSize, from: current });
  }

  /**
   * A short input hashed on this thread with a plan of its own length: T x with the seed's first
   * inputBits + outputBits - 1 bits, the same bytes as the moved-up product of hash() (both are the seed's prefix
   * rule) at a fraction of its cost. Used for blocks of at most n / SHORT_INPUT_FRACTION bits.
   */
  private hashShort(input: Uint8Array, outputBits: number, inputBits: number): Promise<Uint8Array> {
    return settle(() => {
      this.shortPlan = this.planFor(
        this.shortPlan,
        inputBits,
        this.planM(outputBits, Math.min(this.mMax, inputBits)),
        outputBits,
      );
      return this.shortPlan.hash(input, outputBits);
    });
  }

  /**
   * With the worker: this thread helps with the block being hashed until `until` settles (off-thread.ts assist; call
   * it only while this thread would otherwise wait for that hash). Without it: nothing to do. Never rejects.
   */
  assist(until: Promise<unknown>): Promise<void> {
    return this.thread ? this.thread.assist(until) : Promise.resolve();
  }

  /** Ends the worker, if one was started. */
  async close(): Promise<void> {
    await this.thread?.close();
  }
}

/** Whether a plan of m rows serves an output of outputBits without exceeding the wanted size mPlan. */
function serves(m: number, outputBits: number, mPlan: number): boolean {
  return m >= outputBits && m <= mPlan;
}

/** fn's result as a promise; what it throws, as a rejection (hash() never throws synchronously). */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e as Error);
  }
}

/** Bits [0, bits) of `input` placed at bit `shift` of a zeroed string of bits + shift bits (LSB first). */
function moveUp(input: Uint8Array, bits: number, shift: number): Uint8Array {
  const out = new Uint8Array(bytesForBits(bits + shift));
  const sh = shift & 7;
  const base = shift >> 3;
  const whole = bits >> 3;
  for (let b = 0; b < whole; b++) {
    const v = input[b]!;
    out[base + b]! |= (v << sh) & 0xff;
    if (sh !== 0) out[base + b + 1]! |= v >> (8 - sh);
  }
  for (let k = whole * 8; k < bits; k++) {
    const t = k + shift;
    out[t >> 3]! |= ((input[k >> 3]! >> (k & 7)) & 1) << (t & 7);
  }
  return out;
}
