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
import { ChunkedToeplitzPlan, DEFAULT_MAX_FFT_SIZE } from './chunked.ts';
import { ToeplitzThread } from './off-thread.ts';
import { seedBitsFor, seedSha256 } from './seed.ts';

/** Plan sizes are multiples of mMax / PLAN_STEPS. */
const PLAN_STEPS = 32;

export interface BlockHasherOptions {
  /**
   * Hash on a worker thread (off-thread.ts; same bytes), keeping the event
   * loop free during the FFT product: host-settings runs need it to answer
   * CREDIT in time. Default false.
   */
  offThread?: boolean;
  /**
   * Largest FFT length (complex points, c * 2^k with c in {1, 3, 5}) of the
   * main-thread hash: a block whose product needs more is hashed in column
   * chunks (chunked.ts; same bytes; memory follows this length, not
   * (n + m) / 2). Default DEFAULT_MAX_FFT_SIZE (2^20): a 2^22-trial block
   * then stays within the pipeline's 150 MB memory budget.
   */
  maxFftSize?: number;
}

export class BlockHasher {
  /** SHA-256 (hex) of the seed bits the hasher reads: the certificates' extraction.seedSha256. */
  readonly seedSha256: string;
  /** Seed bits the run uses, n + mMax - 1 (the certificates' accounting). */
  readonly seedBits: number;
  private readonly planStep: number;
  private plan: ChunkedToeplitzPlan | undefined;
  private thread: ToeplitzThread | undefined;
  private threadPlanM = 0;
  private threadPlanN = 0;
  private readonly offThread: boolean;
  private readonly maxFftSize: number;

  /** n input bits per block, outputs of at most mMax bits, `seed` at least seedBitsFor(n, mMax) bits. */
  constructor(
    readonly n: number,
    readonly mMax: number,
    private readonly seed: Uint8Array,
    { offThread = false, maxFftSize = DEFAULT_MAX_FFT_SIZE }: BlockHasherOptions = {},
  ) {
    this.offThread = offThread;
    this.maxFftSize = maxFftSize;
    this.seedBits = seedBitsFor(n, mMax);
    this.seedSha256 = seedSha256(seed.subarray(0, Math.ceil(this.seedBits / 8)));
    // The FFT length follows n + m, so the plan is sized for the block's m
    // rounded up to a step of mMax / PLAN_STEPS (blocks of one run have nearly
    // the same m: one plan serves them), not for mMax, which a chip never
    // reaches. Rows 0..m-1 read only the seed's first n + m - 1 bits, so the
    // output does not depend on the plan's size.
    this.planStep = Math.max(8, Math.ceil(mMax / PLAN_STEPS / 8) * 8);
  }

  /**
   * outputBits of Toeplitz hash of one block's input (inputBits <= n bits, LSB first; a shorter block of a
   * variable-length run reads the seed's first inputBits + outputBits - 1 bits, a prefix as for m).
   * Plans are made on the first call.
   */
  async hash(input: Uint8Array, outputBits: number, inputBits: number = this.n): Promise<Uint8Array> {
    if (outputBits > this.mMax)
      throw new RangeError(`output of ${outputBits} bits exceeds the run's mMax ${this.mMax}`);
    if (!(Number.isInteger(inputBits) && inputBits >= 1 && inputBits <= this.n))
      throw new RangeError(`input of ${inputBits} bits is not in 1..${this.n}, the run's largest block`);
    const n = inputBits;
    const mPlan = Math.min(this.mMax, n, Math.ceil(outputBits / this.planStep) * this.planStep);
    if (this.offThread) {
      // The same plan sizes as below, run by the worker: the same bytes.
      if (this.threadPlanN !== n || this.threadPlanM < outputBits || this.threadPlanM > mPlan) this.threadPlanM = mPlan;
      this.threadPlanN = n;
      this.thread ??= new ToeplitzThread(this.maxFftSize);
      return this.thread.hash(n, this.threadPlanM, this.seed, input, outputBits);
    }
    // a new m (or n) takes over the old plan's transform memory (never two alive at once)
    if (this.plan === undefined || this.plan.n !== n || this.plan.m < outputBits || this.plan.m > mPlan)
      this.plan = new ChunkedToeplitzPlan(n, mPlan, this.seed, { maxFftSize: this.maxFftSize, from: this.plan });
    return this.plan.hash(input, outputBits);
  }

  /** Ends the worker, if one was started. */
  async close(): Promise<void> {
    await this.thread?.close();
  }
}
