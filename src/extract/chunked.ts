/**
 * Toeplitz hashing with a bounded transform size: the same y = T x as toeplitzHash (naive.ts convention, T[i][j] = s[i
 * - j + n - 1]), bit for bit, but computed over column chunks so that the FFT memory follows the chunk width w, not n.
 * More in README.md (chunked.ts).
 */
import { Fft, goodFftSize } from './fft/fft.ts';
import { bytesForBits } from './naive.ts';
import { BitConvolution, BitConvolutionTables, BitProductSum, sumBytes } from './fft/rightangle.ts';
import type { SumShare } from './fft/sum-ranges.ts';
import {
  sliceBits,
  toeplitzHash,
  ToeplitzPlan,
  MAX_INPUT_BITS,
  type ToeplitzOptions,
  type ToeplitzStats,
} from './toeplitz.ts';

export interface ChunkedToeplitzOptions extends ToeplitzOptions {
  /** Largest transform length N (complex points) the plan may use; default DEFAULT_MAX_FFT_SIZE. */
  maxFftSize?: number;
  /**
   * A plan this one replaces: its transform memory and tables are taken over
   * when they fit (same N and kernels), so that a run whose m changes never
   * holds two of them (the old one would live until the garbage collector
   * finds it). `from` must not be used afterwards.
   */
  from?: ChunkedToeplitzPlan;
  /**
   * Read the caller's seed in place instead of keeping a copy (the worker, whose seed is its own and never
   * changes: one copy of n + m - 1 bits fewer per plan). Default false.
   */
  borrowSeed?: boolean;
  /**
   * Make the summed spectrum shareable (SIMD path): its memory holds range buffers for one helper thread, which joins
   * with `share` (fft/sum-ranges.ts; the worker's plan, helped by the main thread). Same bytes. Default false.
   */
  shareable?: boolean;
}

/**
 * Default transform bound: 3 * 2^19 points (top stage radix 3). The hash of a 2^22-trial block (n = 2^23, a calibrated
 * chip's m = 1.48 Mbit) then takes 6 column chunks, 13 transforms, and 31.3 MB of WebAssembly memory (the summed
 * spectrum 24 MB, two range buffers 4 MB, bit strings, codes and tables 3.3 MB: fft/rightangle.ts sumBytes; 35.3 MB
 * with the range buffers of the main thread's help), against
 * 14 chunks and 20.2 MB at 2^20; 5 * 2^18: 8 chunks, 25.9 MB; 2^21: 4 chunks, 39.9 MB. Measured (stand-alone hash,
 * load 2.5 to 3.7): 2^20 about 375 ms, 5 * 2^18 about 330 ms, 3 * 2^19 about 285 ms, 2^21 about 290 ms; the pipeline
 * bench's 8 blocks: 8.5 / 9.9 / 10.8 / 11.1 M trials per CPU second at 135 / 141 / 147 / 156 MB net peak RSS
 * (README.md states the shipped replay's). Without the SIMD kernels about 32 N bytes (work and seed spectrum) plus the
 * JS tables.
 */
export const DEFAULT_MAX_FFT_SIZE = 3 * 2 ** 19;

/**
 * The chunk layout for (n, m) under a transform bound: chunk width w (a multiple of 64 unless one chunk), count, N,
 * and the rows per pass. More in README.md (chunked.ts: chunkLayout).
 */
export function chunkLayout(
  n: number,
  m: number,
  maxFftSize: number = DEFAULT_MAX_FFT_SIZE,
): { chunkBits: number; chunks: number; fftSize: number; rowBits: number } {
  const whole = goodFftSize(Math.ceil((n + m - 1) / 2));
  if (whole <= maxFftSize) return { chunkBits: n, chunks: 1, fftSize: whole, rowBits: m };
  // widest chunk the bound allows for h rows per pass: w + h - 1 <= 2 maxFftSize, in whole 64-bit words
  const chunksFor = (h: number): number => {
    const widest = 2 * maxFftSize - h + 1;
    return widest < 64 ? Infinity : Math.ceil(n / (widest - (widest % 64)));
  };
  // all rows in one pass, or passes of about maxFftSize rows (a multiple of 64), whichever needs fewer chunk products
  const passRows = maxFftSize - (maxFftSize % 64);
  const single = chunksFor(m);
  const multi = passRows >= 64 && passRows < m ? Math.ceil(m / passRows) * chunksFor(passRows) : Infinity;
  if (single === Infinity && multi === Infinity) {
    throw new RangeError(
      `"maxFftSize" ${maxFftSize} is too small for m = ${m}: a chunk needs 2N >= w + m - 1 with w >= 64, or a pass of 64 rows`,
    );
  }
  const rowBits = single <= multi ? m : passRows;
  const chunks = chunksFor(rowBits);
  // equal chunks, rounded up to whole 64-bit words (slices stay byte aligned), then the smallest N that holds one
  const chunkBits = Math.min(n, Math.ceil(n / chunks / 64) * 64);
  return {
    chunkBits,
    chunks: Math.ceil(n / chunkBits),
    fftSize: goodFftSize(Math.ceil((chunkBits + rowBits - 1) / 2)),
    rowBits,
  };
}

/**
 * Repeated Toeplitz hashing with one seed and one input length n, in column
 * chunks whose transform length is at most `maxFftSize`. Same interface and
 * same bytes as ToeplitzPlan (`hash(input, outputBits)` may ask for fewer
 * than m bits: rows 0 .. m'-1 read only the seed's first n + m' - 1 bits).
 */
export class ChunkedToeplitzPlan {
  readonly n: number;
  readonly m: number;
  /** Chunk width w in input bits (the last chunk may be narrower). */
  readonly chunkBits: number;
  readonly chunks: number;
  /** Transform length N (complex points) used for every chunk. */
  readonly fftSize: number;
  /** Output rows per pass (chunkLayout): m unless m is above the transform bound. */
  readonly rowBits: number;
  readonly stats: ToeplitzStats = { maxRoundingError: 0, fallbacks: 0 };
  private readonly seed: Uint8Array;
  private readonly options: ToeplitzOptions;
  private readonly tolerance: number;
  private conv: BitConvolution | null = null;
  /** The frequency-domain sum of the SIMD path (file comment), or null before the first hash and without SIMD. */
  private sum: BitProductSum | null = null;
  private readonly useSimd: boolean;
  private readonly shareable: boolean;
  /** One chunk only, or a size the fused path does not take: ToeplitzPlan does it all. */
  private readonly single: ToeplitzPlan | null;

  constructor(n: number, m: number, seed: Uint8Array, options: ChunkedToeplitzOptions = {}) {
    if (!(seed instanceof Uint8Array)) throw new TypeError('"seed" is not a Uint8Array');
    if (!Number.isInteger(n) || n < 1 || n > MAX_INPUT_BITS)
      throw new RangeError(`"n" must be an integer in 1..${MAX_INPUT_BITS}, got ${n}`);
    if (!Number.isInteger(m) || m < 1 || m > n)
      throw new RangeError(`"m" must be an integer in 1..n (n = ${n}), got ${m}`);
    if (seed.length < bytesForBits(n + m - 1))
      throw new RangeError(`seed holds ${seed.length * 8} bits, n + m - 1 = ${n + m - 1} bits needed`);
    const {
      maxFftSize = DEFAULT_MAX_FFT_SIZE,
      from,
      borrowSeed = false,
      shareable = false,
      ...toeplitzOptions
    } = options;
    if (!Number.isSafeInteger(maxFftSize) || maxFftSize < 1 || goodFftSize(maxFftSize) !== maxFftSize) {
      throw new RangeError(`"maxFftSize" must be c * 2^k with c in {1, 3, 5}, got ${maxFftSize}`);
    }
    const layout = chunkLayout(n, m, maxFftSize);
    this.n = n;
    this.m = m;
    this.chunkBits = layout.chunkBits;
    this.chunks = layout.chunks;
    this.fftSize = layout.fftSize;
    this.rowBits = layout.rowBits;
    this.options = toeplitzOptions;
    this.tolerance = toeplitzOptions.roundingTolerance ?? 0.25;
    this.useSimd = toeplitzOptions.simd ?? true;
    this.shareable = shareable;
    // ToeplitzPlan checks the tolerance and keeps its own copy of the seed when it does the work
    const whole =
      this.chunks === 1 || toeplitzOptions.method === 'words' || !BitConvolutionTables.supports(this.fftSize);
    this.single = whole ? new ToeplitzPlan(n, m, seed, toeplitzOptions) : null;
    const seedBytes = seed.subarray(0, bytesForBits(n + m - 1));
    this.seed = whole ? new Uint8Array(0) : borrowSeed ? seedBytes : Uint8Array.from(seedBytes);
    const t = this.tolerance;
    // at 0.5 or more a value could be accepted next to the wrong integer (as toeplitz.ts)
    if (typeof t !== 'number' || Number.isNaN(t) || t >= 0.5)
      throw new RangeError(`"roundingTolerance" must be a number below 0.5, got ${t}`);
    if (
      from !== undefined &&
      !whole &&
      from.conv !== null &&
      from.conv.t.size === this.fftSize &&
      from.useSimd === this.useSimd
    ) {
      this.conv = from.conv;
    }
    const sum = from?.sum ?? null;
    if (!whole && sum !== null && sum.t.size === this.fftSize && this.useSimd && (sum.share !== null) === shareable)
      this.sum = sum;
    if (from?.single && this.single) this.single.takeOver(from.single);
    if (from !== undefined) {
      from.conv = null;
      from.sum = null;
    }
  }

  /** WebAssembly memory of the summed path's transform once made (prepare), in bytes; 0 otherwise. */
  get transformBytes(): number {
    return this.sum === null ? 0 : sumBytes(this.sum.t, this.sum.share === null ? 0 : 1);
  }

  /** Whether the FFT products run on the WebAssembly SIMD kernels. */
  get simd(): boolean {
    return this.single ? this.single.simd : this.sum !== null || (this.conv?.simd ?? false);
  }

  /**
   * Makes the transform tables and memory (and compiles the SIMD kernels) now rather than at the first hash: a worker
   * does it while the first block is still being certified (off-thread.ts `warm`).
   */
  prepare(): void {
    if (this.single) {
      this.single.prepare();
      return;
    }
    if (this.conv !== null || this.sum !== null) return;
    // the fused path applies the top stage itself: no table for it (as toeplitz.ts)
    const tables = new BitConvolutionTables(new Fft(this.fftSize, { topTwiddles: false }));
    this.sum = this.useSimd ? BitProductSum.create(tables, this.shareable ? 1 : 0) : null;
    if (this.sum === null) this.conv = new BitConvolution(tables, { simd: this.useSimd });
    if (this.sum !== null || this.conv!.simd) dropJsTables(tables);
  }

  /** What a helper thread needs to join this plan's summed spectrum (`shareable`, after prepare()), else null. */
  get share(): SumShare | null {
    return this.sum?.share ?? null;
  }

  hash(input: Uint8Array, outputBits: number = this.m): Uint8Array {
    if (!(input instanceof Uint8Array)) throw new TypeError('"input" is not a Uint8Array');
    if (!Number.isInteger(outputBits) || outputBits < 1 || outputBits > this.m) {
      throw new RangeError(`"outputBits" must be an integer in 1..m (m = ${this.m}), got ${outputBits}`);
    }
    if (input.length < bytesForBits(this.n))
      throw new RangeError(`input holds ${input.length * 8} bits, n = ${this.n} bits needed`);
    if (this.single) {
      const out = this.single.hash(input, outputBits);
      Object.assign(this.stats, this.single.stats);
      return out;
    }
    this.prepare();
    if (outputBits <= this.rowBits) return this.hashRows(input, 0, outputBits);
    // passes of rowBits rows (chunkLayout), each landing at its first row r0 (a multiple of 64: whole bytes)
    const out = new Uint8Array(bytesForBits(outputBits));
    let maxErr = 0;
    for (let r0 = 0; r0 < outputBits; r0 += this.rowBits) {
      out.set(this.hashRows(input, r0, Math.min(this.rowBits, outputBits - r0)), r0 >> 3);
      maxErr = Math.max(maxErr, this.stats.maxRoundingError);
    }
    this.stats.maxRoundingError = maxErr;
    return out;
  }

  /** Rows [r0, r0 + h) of T x (h <= rowBits): the same product with the seed moved by r0 bits (chunkLayout). */
  private hashRows(input: Uint8Array, r0: number, outputBits: number): Uint8Array {
    if (this.sum !== null) return this.hashSummed(this.sum, input, r0, outputBits);
    const conv = this.conv!;
    const { n, chunkBits } = this;
    const out = new Uint8Array(bytesForBits(outputBits));
    const part = new Uint8Array(out.length);
    const scale = 1 / this.fftSize; // the inverse transform is unscaled
    let maxErr = 0;
    for (let c0 = 0; c0 < n; c0 += chunkBits) {
      const w = Math.min(chunkBits, n - c0);
      // columns [c0, c0 + w) of T: the width-w Toeplitz matrix of seed bits [n - c0 - w, n - c0 + m - 1) (file comment)
      // byte-aligned slices are views (no copy, no garbage per chunk); setSpectrumBits and convolveBits read bits [0,
      // count) only
      const seedStart = r0 + n - c0 - w;
      const seedSlice =
        seedStart % 8 === 0 ? this.seed.subarray(seedStart >> 3) : sliceBits(this.seed, seedStart, w + outputBits - 1);
      const x = c0 % 8 === 0 ? input.subarray(c0 >> 3) : sliceBits(input, c0, w);
      conv.setSpectrumBits(seedSlice, w + outputBits - 1, scale);
      part.fill(0);
      const err = conv.convolveBits(x, w, w - 1, outputBits, part);
      let y: Uint8Array = part;
      if (!(err <= this.tolerance)) {
        // a product too close to a half-integer (or NaN): toeplitzHash recomputes it exactly
        this.stats.fallbacks++;
        y = exactChunk(
          sliceBits(input, c0, w),
          w,
          outputBits,
          sliceBits(this.seed, seedStart, w + outputBits - 1),
          this.options,
        );
      } else if (err > maxErr) maxErr = err;
      for (let b = 0; b < out.length; b++) out[b]! ^= y[b]!;
    }
    this.stats.maxRoundingError = maxErr;
    return out;
  }

  /**
   * The SIMD path: every chunk's product added into one spectrum, one
   * inverse transform and one rounding pass per block (file comment). The
   * chunk width follows this call's outputBits (fewer rows, wider chunks);
   * all chunks get the same width w, the last one moved up by the columns it
   * lacks, so every product is read at the same coefficients w - 1 ...
   */
  private hashSummed(sum: BitProductSum, input: Uint8Array, r0: number, outputBits: number): Uint8Array {
    const { n } = this;
    const size = this.fftSize;
    // widest chunk: w + outputBits - 1 <= 2N, whole 64-bit words; then equal chunks
    const widest = Math.min(n, 2 * size - outputBits + 1);
    const wordWidest = widest - (widest % 64);
    const chunks = wordWidest < 64 ? Math.ceil(n / widest) : Math.ceil(n / wordWidest);
    const w = wordWidest < 64 ? widest : Math.min(n, Math.ceil(n / chunks / 64) * 64);
    const out = new Uint8Array(bytesForBits(outputBits));
    sum.clear();
    for (let c0 = 0; c0 < n; c0 += w) this.addChunk(sum, input, c0, w, r0, outputBits);
    const err = sum.extract(w - 1, outputBits, out);
    if (err <= this.tolerance) {
      this.stats.maxRoundingError = err;
      return out;
    }
    // the sum failed its check (or gave NaN): chunk by chunk, each checked, a failing one recomputed exactly by
    // toeplitzHash
    out.fill(0);
    const part = new Uint8Array(out.length);
    let maxErr = 0;
    for (let c0 = 0; c0 < n; c0 += w) {
      const wj = Math.min(w, n - c0);
      sum.clear();
      this.addChunk(sum, input, c0, w, r0, outputBits);
      part.fill(0);
      const e = sum.extract(w - 1, outputBits, part);
      let y: Uint8Array = part;
      if (!(e <= this.tolerance)) {
        this.stats.fallbacks++;
        y = exactChunk(
          sliceBits(input, c0, wj),
          wj,
          outputBits,
          sliceBits(this.seed, r0 + n - c0 - wj, wj + outputBits - 1),
          this.options,
        );
      } else if (e > maxErr) maxErr = e;
      for (let b = 0; b < out.length; b++) out[b]! ^= y[b]!;
    }
    this.stats.maxRoundingError = maxErr;
    return out;
  }

  /**
   * Adds chunk [c0, c0 + wj) (wj = min(w, n - c0)) of the rows from r0 to
   * the sum: those columns of T are the width-wj Toeplitz matrix of seed bits
   * [r0 + n - c0 - wj, r0 + n - c0 + outputBits - 1) (file comment); the input slice
   * is moved up by w - wj bits so that its rows sit at coefficients
   * w - 1 .. w + outputBits - 2 like every other chunk's.
   */
  private addChunk(sum: BitProductSum, input: Uint8Array, c0: number, w: number, r0: number, outputBits: number): void {
    const wj = Math.min(w, this.n - c0);
    const seedStart = r0 + this.n - c0 - wj;
    const seedBits = wj + outputBits - 1;
    const seedSlice =
      seedStart % 8 === 0 ? this.seed.subarray(seedStart >> 3) : sliceBits(this.seed, seedStart, seedBits);
    const x = c0 % 8 === 0 ? input.subarray(c0 >> 3) : sliceBits(input, c0, wj);
    sum.add(seedSlice, seedBits, x, wj, w - wj);
  }
}

/**
 * One chunk's product recomputed exactly by toeplitzHash, whose rows may
 * outnumber its columns (m > w, which toeplitzHash does not take): rows
 * [r0, r0 + h) of the width-w Toeplitz matrix of seed bits s are the
 * width-w matrix of s's bits [r0, r0 + w + h - 1), so they go in pieces of
 * at most w rows.
 */
function exactChunk(x: Uint8Array, w: number, rows: number, seed: Uint8Array, options: ToeplitzOptions): Uint8Array {
  if (rows <= w) return toeplitzHash(x, w, rows, seed, options);
  const out = new Uint8Array(bytesForBits(rows));
  for (let r0 = 0; r0 < rows; r0 += w) {
    const h = Math.min(w, rows - r0);
    const part = toeplitzHash(x, w, h, sliceBits(seed, r0, w + h - 1), options);
    for (let i = 0; i < h; i++) out[(r0 + i) >> 3]! |= ((part[i >> 3]! >> (i & 7)) & 1) << ((r0 + i) & 7);
  }
  return out;
}

const NO_TABLE = new Float64Array(0);

/**
 * Frees the stages' JS twiddles once a SIMD BitConvolution or BitProductSum has written its tables into its
 * WebAssembly memory (fft/rightangle.ts writes its top-stage and SIMD twiddles there directly, never as JS copies):
 * with the SIMD kernels the stages below the top run as dif4/dit4/r2 kernels, the top one as the fused load/extract
 * kernels, all reading that memory only; the JS arrays serve the plain-JS stages, which this plan then never runs.
 * The tables object is this plan's own (made in prepare(), shared with no other plan).
 */
function dropJsTables(tables: BitConvolutionTables): void {
  for (const stage of tables.fft.stages) stage.tw = NO_TABLE;
}
