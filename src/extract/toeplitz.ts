/**
 * Fast Toeplitz hashing over GF(2), the stream's extractor, same convention as naive.ts: y_i = XOR_j s[i - j + n - 1]
 * x_j for i < m, bits LSB-first. More in README.md (toeplitz.ts).
 */
import { Fft, goodFftSize, multiplySpectra, rootsOfUnity } from './fft/fft.ts';
import { BitConvolution, BitConvolutionTables } from './fft/rightangle.ts';
import { bytesForBits } from './naive.ts';

/** Largest supported input length in bits (bit indices stay 32-bit integers). */
export const MAX_INPUT_BITS = 2 ** 28;

export interface ToeplitzOptions {
  /**
   * Largest accepted distance of a convolution value from an integer: default 0.25, must be below 0.5 (negative
   * forces the exact path).
   */
  roundingTolerance?: number;
  /** 'auto' (default): schoolbook for small products, FFT otherwise; 'fft' or 'words' to force one. */
  method?: 'auto' | 'fft' | 'words';
  /** Use the WebAssembly SIMD kernels when available (default true); false forces the plain JS stages. */
  simd?: boolean;
}

/** Products with n * m at most this always use the word-parallel schoolbook under 'auto'. */
const SCHOOLBOOK_MAX_WORK = 1 << 16;

/**
 * Whether the schoolbook product beats the FFT, by costs measured on this
 * machine: schoolbook about 2 ns per 32-bit word operation (n m / 32 of them)
 * plus 8 ns per input bit of set-up; FFT about 1.3 ns per N log2 N with
 * N = (n + m) / 2. It wins for small products and for long inputs hashed to
 * a few dozen bits.
 */
function preferWords(n: number, m: number): boolean {
  if (n * m <= SCHOOLBOOK_MAX_WORK) return true;
  const size = (n + m) / 2;
  return (n * m) / 16 + 8 * n < 1.3 * size * Math.log2(size);
}

function checkArgs(input: Uint8Array, n: number, m: number, seed: Uint8Array): void {
  if (!(input instanceof Uint8Array)) throw new TypeError('"input" is not a Uint8Array');
  if (!(seed instanceof Uint8Array)) throw new TypeError('"seed" is not a Uint8Array');
  checkSizes(n, m);
  if (input.length < bytesForBits(n)) {
    throw new RangeError(`input holds ${input.length * 8} bits, n = ${n} bits needed`);
  }
  checkSeed(seed, n, m);
}

function checkSizes(n: number, m: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_INPUT_BITS) {
    throw new RangeError(`"n" must be an integer in 1..${MAX_INPUT_BITS}, got ${n}`);
  }
  if (!Number.isInteger(m) || m < 1 || m > n) {
    throw new RangeError(`"m" must be an integer in 1..n (n = ${n}), got ${m}`);
  }
}

function checkTolerance(tolerance: number | undefined): number {
  const t = tolerance ?? 0.25;
  // at 0.5 or more a value could be accepted next to the wrong integer
  if (typeof t !== 'number' || Number.isNaN(t) || t >= 0.5) {
    throw new RangeError(`"roundingTolerance" must be a number below 0.5, got ${t}`);
  }
  return t;
}

function checkSeed(seed: Uint8Array, n: number, m: number): void {
  if (seed.length < bytesForBits(n + m - 1)) {
    throw new RangeError(`seed holds ${seed.length * 8} bits, n + m - 1 = ${n + m - 1} bits needed`);
  }
}

/**
 * y = T x over GF(2), T[i][j] = seed[i - j + n - 1]: `input` holds at least n
 * bits, `seed` at least n + m - 1 (extra bits are ignored), the result m bits
 * (bits past m in the last byte are zero). O(n log n).
 */
export function toeplitzHash(
  input: Uint8Array,
  n: number,
  m: number,
  seed: Uint8Array,
  options: ToeplitzOptions = {},
): Uint8Array {
  checkArgs(input, n, m, seed);
  return hashAny(
    input,
    n,
    m,
    seed,
    checkTolerance(options.roundingTolerance),
    options.method ?? 'auto',
    options.simd ?? true,
    null,
  );
}

/** Statistics of the FFT path, for tests and benches. */
export interface ToeplitzStats {
  /** Largest distance from an integer seen among the read coefficients of the last FFT product. */
  maxRoundingError: number;
  /** Products that failed the rounding check and were recomputed exactly. */
  fallbacks: number;
}

function hashAny(
  input: Uint8Array,
  n: number,
  m: number,
  seed: Uint8Array,
  tolerance: number,
  method: 'auto' | 'fft' | 'words',
  simd: boolean,
  stats: ToeplitzStats | null,
): Uint8Array {
  if (method === 'words' || (method === 'auto' && preferWords(n, m))) return toeplitzWords(input, n, m, seed);
  // one-shot calls borrow the spare transform memory of the last one-shot call of the same size
  const size = goodFftSize(Math.ceil((n + m - 1) / 2));
  let conv: BitConvolution | null = null;
  if (spare !== null && spare.size === size && spare.simd === simd) {
    conv = spare.conv;
    spare = null;
  }
  const core = new FftCore(n, m, simd, conv);
  core.setSeed(seed);
  const out = core.hash(input, m, tolerance, simd, stats ?? { maxRoundingError: 0, fallbacks: 0 });
  if (core.conv !== null) spare = { size, simd, conv: core.conv };
  return out;
}

/** Transform memory kept between one-shot `toeplitzHash` calls (one size only: it is about 40 N bytes). */
let spare: { size: number; simd: boolean; conv: BitConvolution } | null = null;

/** Drops the transform tables and memory kept between calls (they are rebuilt on demand). */
export function releaseToeplitzCaches(): void {
  spare = null;
  tableCache.clear();
}

/**
 * Repeated Toeplitz hashing with one seed and one input length: transform
 * tables, the seed's spectrum and the work buffer are made once.
 * `hash(input, outputBits)` may ask for fewer than m bits: rows 0 .. m'-1 of
 * T only read the seed's first n + m' - 1 bits, so the result is the first m'
 * bits of the full hash (blocks of varying certified length share one plan).
 */
export class ToeplitzPlan {
  readonly n: number;
  readonly m: number;
  readonly stats: ToeplitzStats = { maxRoundingError: 0, fallbacks: 0 };
  private readonly seed: Uint8Array;
  private readonly tolerance: number;
  private readonly method: 'auto' | 'fft' | 'words';
  private readonly useSimd: boolean;
  private core: FftCore | null = null;
  /** Transform memory taken over from a plan this one replaces (takeOver), used by prepare(). */
  private adopted: BitConvolution | null = null;

  constructor(n: number, m: number, seed: Uint8Array, options: ToeplitzOptions = {}) {
    if (!(seed instanceof Uint8Array)) throw new TypeError('"seed" is not a Uint8Array');
    checkSizes(n, m);
    checkSeed(seed, n, m);
    this.n = n;
    this.m = m;
    this.seed = Uint8Array.from(seed.subarray(0, bytesForBits(n + m - 1)));
    this.tolerance = checkTolerance(options.roundingTolerance);
    this.method = options.method ?? 'auto';
    this.useSimd = options.simd ?? true;
  }

  /** Whether the last FFT product ran on the WebAssembly SIMD kernels. */
  get simd(): boolean {
    return this.core?.simd ?? false;
  }

  /** Transform length N (complex points) of the FFT path. */
  get fftSize(): number {
    return goodFftSize(Math.ceil((this.n + this.m - 1) / 2));
  }

  hash(input: Uint8Array, outputBits: number = this.m): Uint8Array {
    if (!(input instanceof Uint8Array)) throw new TypeError('"input" is not a Uint8Array');
    if (!Number.isInteger(outputBits) || outputBits < 1 || outputBits > this.m) {
      throw new RangeError(`"outputBits" must be an integer in 1..m (m = ${this.m}), got ${outputBits}`);
    }
    if (input.length < bytesForBits(this.n)) {
      throw new RangeError(`input holds ${input.length * 8} bits, n = ${this.n} bits needed`);
    }
    if (this.useWords()) return toeplitzWords(input, this.n, outputBits, this.seed);
    this.prepare();
    return this.core!.hash(input, outputBits, this.tolerance, this.useSimd, this.stats);
  }

  /** Makes the transform tables and the seed's spectrum now rather than at the first hash (chunked.ts prepare). */
  prepare(): void {
    if (this.core !== null || this.useWords()) return;
    this.core = new FftCore(this.n, this.m, this.useSimd, this.adopted);
    this.adopted = null;
    this.core.setSeed(this.seed);
  }

  /**
   * Takes over the transform memory of `from`, a plan this one replaces, when it has this plan's transform size and
   * kernels (the tables are cached per size anyway): a run whose short blocks differ in length then makes no new
   * WebAssembly memory per block (chunked.ts `from`). `from` must not be used afterwards.
   */
  takeOver(from: ToeplitzPlan): void {
    const conv = from.core?.conv ?? from.adopted;
    if (conv !== null && this.core === null && conv.t.size === this.fftSize && from.useSimd === this.useSimd)
      this.adopted = conv;
    from.core = null;
    from.adopted = null;
  }

  private useWords(): boolean {
    return this.method === 'words' || (this.method === 'auto' && preferWords(this.n, this.m));
  }
}

// ------------------------------------------------------------ FFT path

interface Tables {
  fft: Fft;
  /** The fused path (rightangle.ts), when it supports this size. */
  conv: BitConvolutionTables | null;
  /** w^j = exp(i pi j / 2N) = coarse[j >> FINE_BITS] * fine[j & FINE_MASK], interleaved. */
  coarse: Float64Array;
  fine: Float64Array;
}

const FINE_BITS = 11;
const FINE_MASK = (1 << FINE_BITS) - 1;
const tableCache = new Map<number, Tables>();
/** Cache a few sizes only: tables for N = 5 * 2^21 take about 50 MB. */
const TABLE_CACHE_MAX = 3;

function tablesFor(size: number): Tables {
  let t = tableCache.get(size);
  if (t === undefined) {
    // weights w^j, w = exp(+2 pi i / 4N): Crandall & Fagin 1994, right-angle convolution
    const fused = BitConvolutionTables.supports(size);
    // the fused path applies stage 0 itself: no table for it
    const fft = new Fft(size, { topTwiddles: !fused });
    t = {
      fft,
      conv: fused ? new BitConvolutionTables(fft) : null,
      coarse: coarseWeights(size),
      fine: rootsOfUnity(4 * size, FINE_MASK + 1, +1),
    };
    if (tableCache.size >= TABLE_CACHE_MAX) tableCache.delete(tableCache.keys().next().value as number);
    tableCache.set(size, t);
  } else {
    tableCache.delete(size);
    tableCache.set(size, t);
  }
  return t;
}

/** w^(k 2^FINE_BITS) for k <= N >> FINE_BITS, w = exp(i pi / 2N), interleaved. */
function coarseWeights(size: number): Float64Array {
  const count = (size >> FINE_BITS) + 1;
  const out = new Float64Array(2 * count);
  for (let k = 0; k < count; k++) {
    const angle = (Math.PI * k * (FINE_MASK + 1)) / (2 * size);
    out[2 * k] = Math.cos(angle);
    out[2 * k + 1] = Math.sin(angle);
  }
  return out;
}

/**
 * Loads bits [0, bits) of `buf` as the weighted complex sequence
 * a'_j = (a_j + i a_(j+N)) w^j into `out` (2N doubles).
 */
function loadWeighted(buf: Uint8Array, bits: number, t: Tables, out: Float64Array): void {
  const size = t.fft.size;
  const { coarse, fine } = t;
  for (let j = 0; j < size; j++) {
    const hi = j + size;
    const re = j < bits ? (buf[j >> 3]! >> (j & 7)) & 1 : 0;
    const im = hi < bits ? (buf[hi >> 3]! >> (hi & 7)) & 1 : 0;
    if ((re | im) === 0) {
      out[2 * j] = 0;
      out[2 * j + 1] = 0;
      continue;
    }
    const c = 2 * (j >> FINE_BITS),
      f = 2 * (j & FINE_MASK);
    const wr = coarse[c]! * fine[f]! - coarse[c + 1]! * fine[f + 1]!;
    const wi = coarse[c]! * fine[f + 1]! + coarse[c + 1]! * fine[f]!;
    // (re + i im)(wr + i wi)
    out[2 * j] = re * wr - im * wi;
    out[2 * j + 1] = re * wi + im * wr;
  }
}

class FftCore {
  readonly n: number;
  readonly m: number;
  private readonly t: Tables;
  /** The fused path, when this size has one. */
  readonly conv: BitConvolution | null;
  private seedSpectrum: Float64Array | null = null;
  private seedBits: Uint8Array | null = null;
  private work: Float64Array | null = null;

  /** @param conv transform memory to reuse (made for this size), else a new one is made */
  constructor(n: number, m: number, simd: boolean, conv: BitConvolution | null = null) {
    this.n = n;
    this.m = m;
    this.t = tablesFor(goodFftSize(Math.ceil((n + m - 1) / 2)));
    this.conv = this.t.conv === null ? null : (conv ?? new BitConvolution(this.t.conv, { simd }));
  }

  /** Whether the WebAssembly SIMD kernels are in use. */
  get simd(): boolean {
    return this.conv?.simd ?? false;
  }

  setSeed(seed: Uint8Array): void {
    const size = this.t.fft.size;
    const scale = 1 / size; // the inverse FFT is unscaled
    const seedBits = this.n + this.m - 1;
    if (this.conv !== null) {
      this.conv.setSpectrumBits(seed, seedBits, scale);
    } else {
      const spec = new Float64Array(2 * size);
      loadWeighted(seed, seedBits, this.t, spec);
      this.t.fft.forward(spec);
      for (let k = 0; k < spec.length; k++) spec[k]! *= scale;
      this.seedSpectrum = spec;
    }
    this.seedBits = seed;
  }

  hash(input: Uint8Array, outputBits: number, tolerance: number, simd: boolean, stats: ToeplitzStats): Uint8Array {
    const { n } = this;
    let out: Uint8Array;
    let maxErr = 0;
    if (this.conv !== null) {
      out = new Uint8Array(bytesForBits(outputBits));
      maxErr = this.conv.convolveBits(input, n, n - 1, outputBits, out);
    } else {
      [out, maxErr] = this.hashPlain(input, outputBits);
    }
    stats.maxRoundingError = maxErr;
    if (!(maxErr <= tolerance)) {
      stats.fallbacks++;
      return splitExact(input, n, outputBits, this.seedBits!, tolerance, simd, stats);
    }
    return out;
  }

  /** Unfused path for the few small sizes rightangle.ts does not take. */
  private hashPlain(input: Uint8Array, outputBits: number): [Uint8Array, number] {
    const { n } = this;
    const size = this.t.fft.size;
    const spec = this.seedSpectrum!;
    if (this.work === null) this.work = new Float64Array(2 * size);
    const a = this.work;
    loadWeighted(input, n, this.t, a);
    this.t.fft.forward(a);
    multiplySpectra(a, spec, 0, a.length / 2);
    this.t.fft.inverse(a);
    // Read coefficients n-1 .. n-1+outputBits-1 of the negacyclic product:
    // coefficient k < N is Re(c'_k conj(w^k)), k >= N is Im(c'_(k-N) conj(w^(k-N))).
    const out = new Uint8Array(bytesForBits(outputBits));
    const { coarse, fine } = this.t;
    let maxErr = 0;
    for (let i = 0; i < outputBits; i++) {
      const k = n - 1 + i;
      const j = k < size ? k : k - size;
      const c = 2 * (j >> FINE_BITS),
        f = 2 * (j & FINE_MASK);
      const wr = coarse[c]! * fine[f]! - coarse[c + 1]! * fine[f + 1]!;
      const wi = coarse[c]! * fine[f + 1]! + coarse[c + 1]! * fine[f]!;
      const xr = a[2 * j]!,
        xi = a[2 * j + 1]!;
      const v = k < size ? xr * wr + xi * wi : xi * wr - xr * wi;
      const r = Math.round(v);
      const err = Math.abs(v - r);
      if (err > maxErr) maxErr = err;
      out[i >> 3]! |= (r & 1) << (i & 7);
    }
    return [out, maxErr];
  }
}

// ------------------------------------------------------------ exact paths

/** Bits [start, start + len) of `buf` as a new LSB-first bit string. */
export function sliceBits(buf: Uint8Array, start: number, len: number): Uint8Array {
  const out = new Uint8Array(bytesForBits(len));
  const sh = start & 7;
  let src = start >> 3;
  if (sh === 0) out.set(buf.subarray(src, src + out.length));
  else {
    for (let b = 0; b < out.length; b++, src++) {
      out[b] = ((buf[src]! >> sh) | ((src + 1 < buf.length ? buf[src + 1]! : 0) << (8 - sh))) & 0xff;
    }
  }
  const spare = len & 7;
  if (spare !== 0) out[out.length - 1]! &= (1 << spare) - 1;
  return out;
}

/**
 * Exact fallback: T x = T_left x_left + T_right x_right. With h = ceil(n/2):
 * columns j < h form the Toeplitz matrix of seed bits [n - h, n + m - 1)
 * (n' = h), columns j >= h that of seed bits [0, n - h + m - 1) (n'' = n - h).
 */
function splitExact(
  input: Uint8Array,
  n: number,
  m: number,
  seed: Uint8Array,
  tolerance: number,
  simd: boolean,
  stats: ToeplitzStats,
): Uint8Array {
  // pieces of up to 2^22 bit products (a few ms) go straight to the schoolbook
  if (n * m <= 1 << 22 || n <= 64 || preferWords(n, m)) return toeplitzWords(input, n, m, seed);
  const h = Math.ceil(n / 2);
  const left = hashAny(sliceBits(input, 0, h), h, m, sliceBits(seed, n - h, h + m - 1), tolerance, 'fft', simd, stats);
  const right = hashAny(
    sliceBits(input, h, n - h),
    n - h,
    m,
    sliceBits(seed, 0, n - h + m - 1),
    tolerance,
    'fft',
    simd,
    stats,
  );
  for (let b = 0; b < left.length; b++) left[b]! ^= right[b]!;
  return left;
}

/**
 * Exact word-parallel schoolbook product, O(n m / 32): with xr the reversed
 * input (xr_j = x_(n-1-j)), y_i = parity of the AND of xr with the seed read
 * from bit i. The seed is pre-shifted for each of the 32 bit offsets so the
 * inner loop is one AND and one XOR per 32 bits.
 */
export function toeplitzWords(input: Uint8Array, n: number, m: number, seed: Uint8Array): Uint8Array {
  const nw = (n + 31) >>> 5;
  const xr = new Int32Array(nw);
  for (let j = 0; j < n; j++) {
    if ((input[j >> 3]! >> (j & 7)) & 1) {
      const r = n - 1 - j;
      xr[r >>> 5]! |= 1 << (r & 31);
    }
  }
  const seedBits = n + m - 1;
  const sw = (seedBits + 31) >>> 5;
  const s = new Int32Array(sw + 2);
  for (let b = 0; b < bytesForBits(seedBits); b++) s[b >> 2]! |= seed[b]! << ((b & 3) << 3);
  if ((seedBits & 31) !== 0) s[sw - 1]! &= (1 << (seedBits & 31)) - 1;
  const rows = (m + 31) >>> 5;
  const out = new Uint8Array(bytesForBits(m));
  const shifted = new Int32Array(sw + 1);
  for (let sh = 0; sh < 32 && sh < m; sh++) {
    for (let w = 0; w <= sw; w++) shifted[w] = sh === 0 ? s[w]! : (s[w]! >>> sh) | (s[w + 1]! << (32 - sh));
    for (let w0 = 0; w0 < rows; w0++) {
      const i = 32 * w0 + sh;
      if (i >= m) break;
      let acc = 0;
      for (let w = 0; w < nw; w++) acc ^= shifted[w0 + w]! & xr[w]!;
      acc ^= acc >>> 16;
      acc ^= acc >>> 8;
      acc ^= acc >>> 4;
      acc ^= acc >>> 2;
      acc ^= acc >>> 1;
      out[i >> 3]! |= (acc & 1) << (i & 7);
    }
  }
  return out;
}
