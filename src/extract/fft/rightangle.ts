/**
 * Negacyclic convolution of two bit strings (as 0/1 reals of length 2N) by the right-angle weighted transform
 * (Crandall & Fagin, Math. Comp. 62 (1994) 305, section 4), with the passes fused so the big arrays are streamed as
 * few times as possible: More in README.md (rightangle.ts).
 */
import {
  BLOCK,
  difStage,
  ditStage,
  Fft,
  multiplySpectra,
  ROOT_FINE_BITS,
  rootsOfUnity,
  rootTables,
  type Stage,
} from './fft.ts';
import {
  createMemory,
  instantiateKernels,
  simdModule,
  STAGE_FINE_BITS,
  TOP_CHUNK,
  TWIDDLE_FINE_BITS,
  type SimdKernels,
  type WasmMemory,
} from './simd.ts';
import {
  ADD,
  ADD_FIRST,
  BOARD_BYTES,
  INVERSE_LOW,
  INVERSE_MID,
  MAX_THREADS,
  ROUND,
  SumRanges,
  TaskBoard,
  variant,
  type SumShare,
} from './sum-ranges.ts';

const C5_1 = Math.cos((2 * Math.PI) / 5);
const C5_2 = Math.cos((4 * Math.PI) / 5);
const S5_1 = Math.sin((2 * Math.PI) / 5);
const S5_2 = Math.sin((4 * Math.PI) / 5);
const S3 = Math.sin((2 * Math.PI) / 3);

/** Per-size tables of the fused path, shared by every plan of that size. */
export class BitConvolutionTables {
  readonly size: number;
  readonly fft: Fft;
  /** Radix r of the top stage. */
  readonly radix: number;
  /** Q = N / r, the top stage's butterfly span (a quarter of N when r = 4). */
  readonly quarter: number;
  /** conj(C_q), interleaved. */
  readonly unweight: Float64Array;
  /** Each stage's byte offset in the SIMD twiddle table, and the table's length in doubles. */
  readonly simdTwiddleOffsets: number[];
  readonly simdTwiddleDoubles: number;
  private rhoTable: Float64Array | null = null;
  private simdTable: Float64Array | null = null;

  /** Whether the fused path handles transforms of this size (top radix 3, 4 or 5 and at least two stages). */
  static supports(size: number): boolean {
    const radices = Fft.radices(size);
    return radices.length >= 2 && radices[0] !== 2;
  }

  constructor(fft: Fft) {
    if (!BitConvolutionTables.supports(fft.size))
      throw new RangeError(`no fused bit convolution for FFT size ${fft.size}`);
    this.fft = fft;
    this.size = fft.size;
    this.radix = fft.stages[0]!.radix;
    this.quarter = this.size / this.radix;
    this.unweight = new Float64Array(2 * this.radix);
    for (let q = 0; q < this.radix; q++) {
      const angle = (Math.PI * q * this.quarter) / (2 * this.size);
      this.unweight[2 * q] = Math.cos(angle);
      this.unweight[2 * q + 1] = -Math.sin(angle);
    }
    let doubles = 0;
    this.simdTwiddleOffsets = [];
    for (const st of fft.stages) {
      this.simdTwiddleOffsets.push(8 * doubles);
      if (st.radix === 4) doubles += st.full ? 2 * (st.doubles ?? st.tw.length) : compactDoubles(st);
    }
    this.simdTwiddleDoubles = doubles;
  }

  /** rho^j for j < Q, interleaved (2 Q doubles), made on first use: the plain-JS top stages' table. */
  get rho(): Float64Array {
    this.rhoTable ??= rootsOfUnity(4 * this.size, this.quarter, +1);
    return this.rhoTable;
  }

  /** Entries of the coarse table of conj(rho^k) (writeConjRho): k = i 2^FINE for k up to 4N. */
  get coarseCount(): number {
    return ((4 * this.size) >> TWIDDLE_FINE_BITS) + 1;
  }

  /**
   * The SIMD kernels' twiddle tables of the top stages, written into their WebAssembly memory: conj(rho^k) =
   * twc[k >> FINE] twf[k & (2^FINE - 1)] for k < 4N, rho = exp(i pi / 2N) (simd.ts conjRhoPush), coarse (coarseCount
   * values) and fine (2^FINE values), 16 bytes a value. They stand for a table of rho^j, j < Q (16 Q bytes: 4 MB at
   * N = 2^20), at one complex product more per butterfly, in kernels bound by memory.
   */
  writeConjRho(twc: Float64Array, twf: Float64Array): void {
    for (let i = 0; i < this.coarseCount; i++) {
      const angle = (Math.PI * i * 2 ** TWIDDLE_FINE_BITS) / (2 * this.size);
      twc[2 * i] = Math.cos(angle);
      twc[2 * i + 1] = -Math.sin(angle);
    }
    for (let i = 0; i < 1 << TWIDDLE_FINE_BITS; i++) {
      const angle = (Math.PI * i) / (2 * this.size);
      twf[2 * i] = Math.cos(angle);
      twf[2 * i + 1] = -Math.sin(angle);
    }
  }

  /** Twiddles of stages 1.. in the SIMD layout of simd.ts (simdTwiddleDoubles doubles), made on first use. */
  get simdTwiddles(): Float64Array {
    if (this.simdTable === null) {
      const table = new Float64Array(this.simdTwiddleDoubles);
      this.writeSimdTwiddles(table);
      this.simdTable = table;
    }
    return this.simdTable;
  }

  /**
   * The SIMD twiddles written into `out` (simdTwiddleDoubles doubles). FULL stages (cache-sized): w^j, w^2j, w^3j
   * (writeFullSimdTwiddles), each w = wr + i wi as P = (wr, wr), Q = (-wi, wi) (simd.ts). COMPACT stages (the
   * large ones): w^j = coarse[j >> F] fine[j & (2^F - 1)], w = exp(-2 pi i / S), F = STAGE_FINE_BITS, the fine table
   * (2^F values) then the coarse one, 16 bytes a value: the kernel forms w^j per butterfly as fft.ts rootsOfUnity
   * forms the JS table (the same products, the same values), and the table is about 16 KB instead of 8 S bytes.
   * `wasm`: `out` lies in the kernels' memory, whose scratchBytes bytes from `scratch` are free: the FULL stages are
   * written there by the kernels (fullTwiddles, the same bits) rather than by a cold JS loop, when their tables fit
   * (16.4 KB at most; the JS loop writes those of a smaller memory).
   */
  writeSimdTwiddles(out: Float64Array, wasm?: WasmScratch): void {
    if (this.simdTable) {
      out.set(this.simdTable);
      return;
    }
    this.fft.stages.forEach((st, lv) => {
      if (st.radix !== 4) return;
      let o = this.simdTwiddleOffsets[lv]! / 8;
      if (!st.full) {
        // fine values as P, Q (4 doubles), coarse ones as (wr, wi)
        const fine = 1 << STAGE_FINE_BITS;
        for (let i = 0; i < compactEntries(st); i++) {
          const angle = (2 * Math.PI * (i < fine ? i : (i - fine) * fine)) / st.size;
          const wr = Math.cos(angle),
            wi = -Math.sin(angle);
          out[o++] = wr;
          if (i < fine) {
            out[o++] = wr;
            out[o++] = -wi;
          }
          out[o++] = wi;
        }
        return;
      }
      if ((st.doubles ?? st.tw.length) > 0) writeFullSimdTwiddles(out, o, st.size, wasm);
    });
  }

  /** Bytes a padded bit buffer must hold: 2N bits, plus one spare byte. */
  get paddedBytes(): number {
    return ((2 * this.size + 7) >> 3) + 1;
  }
}

/**
 * A FULL radix-4 stage's SIMD table at out[o..]: for j < S/4 and p = 1, 2, 3, w^(p j) (w = exp(-2 pi i / S)) as
 * P = (wr, wr), Q = (-wi, wi). Each root is formed as fft.ts rootsOfUnity forms it (rootTables: the same products,
 * the same bits as the stage's JS table, fft.ts stageTwiddles), straight into the SIMD layout: no table of all S roots
 * and no JS table to copy (p j < 3 S/4 needs no reduction mod S).
 */
function writeFullSimdTwiddles(out: Float64Array, o: number, size: number, wasm?: WasmScratch): void {
  const q = size / 4;
  const { fine, coarse } = rootTables(size, 3 * q);
  if (wasm && 8 * (fine.length + coarse.length) <= wasm.scratchBytes) {
    new Float64Array(out.buffer, wasm.scratch, fine.length).set(fine);
    new Float64Array(out.buffer, wasm.scratch + 8 * fine.length, coarse.length).set(coarse);
    wasm.kernels.fullTwiddles(wasm.scratch + 8 * fine.length, wasm.scratch, out.byteOffset + 8 * o, q);
    return;
  }
  const mask = (1 << ROOT_FINE_BITS) - 1;
  for (let j = 0; j < q; j++) {
    for (let p = 1; p < 4; p++, o += 4) {
      const h = 2 * ((p * j) >> ROOT_FINE_BITS);
      const l = 2 * ((p * j) & mask);
      const re = coarse[h]! * fine[l]! - coarse[h + 1]! * fine[l + 1]!;
      const im = coarse[h]! * fine[l + 1]! + coarse[h + 1]! * fine[l]!;
      out[o] = re;
      out[o + 1] = re;
      out[o + 2] = -im;
      out[o + 3] = im;
    }
  }
}

/** The kernels of the memory a SIMD table is written into, and a free stretch of it (writeSimdTwiddles). */
interface WasmScratch {
  kernels: SimdKernels;
  scratch: number;
  scratchBytes: number;
}

/** Values of a COMPACT stage's SIMD table (writeSimdTwiddles): 2^F fine ones, then coarse ones for j < S/4. */
function compactEntries(st: Stage): number {
  return (1 << STAGE_FINE_BITS) + ((st.size / 4) >> STAGE_FINE_BITS) + 1;
}

/** Doubles of a COMPACT stage's SIMD table: the fine values as P, Q pairs (4 doubles), the coarse ones as 2. */
function compactDoubles(st: Stage): number {
  return 2 * compactEntries(st) + (2 << STAGE_FINE_BITS);
}

/** Largest WebAssembly memory we ask for (bytes); larger transforms run in plain JS. */
const MAX_SIMD_BYTES = 2 ** 31;

/** Byte layout of the WebAssembly memory of one BitConvolution. */
interface SimdLayout {
  twc: number;
  twf: number;
  lut: number;
  uw: number;
  bits: number;
  outBits: number;
  work: number;
  spec: number;
  total: number;
}

function simdLayout(t: BitConvolutionTables): SimdLayout {
  const align = (x: number) => Math.ceil(x / 64) * 64;
  const twc = align(t.simdTwiddleDoubles * 8);
  const twf = align(twc + 16 * t.coarseCount);
  const lut = align(twf + (16 << TWIDDLE_FINE_BITS));
  const uw = align(lut + 8 * 8 * t.radix);
  const bits = align(uw + 16 * t.radix);
  const outBits = align(bits + t.paddedBytes);
  const work = align(outBits + (t.size >> 2) + 16);
  const spec = work + 16 * t.size;
  return { twc, twf, lut, uw, bits, outBits, work, spec, total: spec + 16 * t.size };
}

/**
 * One operand's spectrum (the seed's) and a work array, in WebAssembly
 * memory when SIMD is available (every stage then runs in simd.ts, the top
 * ones fused as described above), else in plain Float64Arrays with the JS
 * stages of fft.ts and the JS top stages below.
 */
export class BitConvolution {
  readonly t: BitConvolutionTables;
  /** Whether the SIMD kernels are in use. */
  readonly simd: boolean;
  private readonly kernels: SimdKernels | null;
  private readonly work: Float64Array;
  private readonly spec: Float64Array;
  private readonly bits: Uint8Array;
  private readonly lutView: Float64Array | null = null;
  private readonly outView: Uint8Array | null = null;
  private readonly layout: SimdLayout | null = null;
  private readonly twPtr: number[];

  constructor(t: BitConvolutionTables, options: { simd?: boolean } = {}) {
    this.t = t;
    const layout = simdLayout(t);
    let kernels: SimdKernels | null = null;
    let memory: WasmMemory | null = null;
    if ((options.simd ?? true) && layout.total <= MAX_SIMD_BYTES && simdModule() !== null) {
      memory = createMemory(layout.total);
      kernels = instantiateKernels(memory);
    }
    this.kernels = kernels;
    this.simd = kernels !== null;
    if (memory !== null && kernels !== null) {
      const buf = memory.buffer;
      // the work array is free until the first product
      t.writeSimdTwiddles(new Float64Array(buf, 0, t.simdTwiddleDoubles), {
        kernels,
        scratch: layout.work,
        scratchBytes: 16 * t.size,
      });
      t.writeConjRho(
        new Float64Array(buf, layout.twc, 2 * t.coarseCount),
        new Float64Array(buf, layout.twf, 2 << TWIDDLE_FINE_BITS),
      );
      new Float64Array(buf, layout.uw, 2 * t.radix).set(t.unweight);
      this.lutView = new Float64Array(buf, layout.lut, 8 * t.radix);
      this.outView = new Uint8Array(buf, layout.outBits, (t.size >> 2) + 16);
      this.bits = new Uint8Array(buf, layout.bits, t.paddedBytes);
      this.work = new Float64Array(buf, layout.work, 2 * t.size);
      this.spec = new Float64Array(buf, layout.spec, 2 * t.size);
      this.layout = layout;
      this.twPtr = t.simdTwiddleOffsets;
    } else {
      this.bits = new Uint8Array(t.paddedBytes);
      this.work = new Float64Array(2 * t.size);
      this.spec = new Float64Array(2 * t.size);
      this.twPtr = [];
    }
  }

  /** Copies bits [0, nBits) of `src` into the padded bit buffer, clearing every bit at or above nBits. */
  private padBits(src: Uint8Array, nBits: number): void {
    const dst = this.bits;
    const whole = nBits >> 3;
    dst.set(src.subarray(0, whole));
    dst.fill(0, whole);
    if (nBits & 7) dst[whole] = src[whole]! & ((1 << (nBits & 7)) - 1);
  }

  /** Lookup of the weighted top-stage inputs: for q and code = re | im << 1, (re + i im) C_q * scale. */
  private inputTable(scale: number): Float64Array {
    const { radix, unweight } = this.t;
    const lut = new Float64Array(8 * radix);
    for (let q = 0; q < radix; q++) {
      const cr = unweight[2 * q]! * scale,
        ci = -unweight[2 * q + 1]! * scale;
      for (let code = 0; code < 4; code++) {
        const re = code & 1,
          im = code >> 1;
        lut[8 * q + 2 * code] = re * cr - im * ci;
        lut[8 * q + 2 * code + 1] = re * ci + im * cr;
      }
    }
    return lut;
  }

  /**
   * Sets the stored spectrum to that of bits [0, nBits) of `src`, weighted and scaled by `scale` (1/N for the seed).
   */
  setSpectrumBits(src: Uint8Array, nBits: number, scale: number): void {
    const { radix, quarter } = this.t;
    this.padBits(src, nBits);
    this.topLoad(this.inputTable(scale), true);
    for (let p = 0; p < radix; p++) this.forwardRange(p * quarter, 1);
  }

  /**
   * Negacyclic product of bits [0, nBits) of `src` with the stored
   * spectrum's operand; coefficient first + i, i < count, rounded, goes mod 2
   * into bit i of `out` (zeroed by the caller). Returns the largest distance
   * of those coefficients from an integer.
   */
  convolveBits(src: Uint8Array, nBits: number, first: number, count: number, out: Uint8Array): number {
    const { radix, quarter } = this.t;
    this.padBits(src, nBits);
    this.topLoad(this.inputTable(1), false);
    for (let p = 0; p < radix; p++) this.convRange(p * quarter, 1);
    return this.topExtract(first, count, out);
  }

  private get workPtr(): number {
    return this.layout!.work;
  }

  private get specPtr(): number {
    return this.layout!.spec;
  }

  private dif(onSpec: boolean, off: number, end: number, level: number): void {
    const stages = this.t.fft.stages;
    const st = stages[level]!;
    const last = level === stages.length - 1;
    const k = this.kernels;
    if (k !== null && st.radix === 4)
      k.dif4[variant(st, last)]!(onSpec ? this.specPtr : this.workPtr, off, end, st.size, this.twPtr[level]!);
    else if (k !== null && st.radix === 2) k.r2(onSpec ? this.specPtr : this.workPtr, off, end);
    else difStage(onSpec ? this.spec : this.work, off, end, st, last);
  }

  private dit(off: number, end: number, level: number): void {
    const stages = this.t.fft.stages;
    const st = stages[level]!;
    const last = level === stages.length - 1;
    const k = this.kernels;
    if (k !== null && st.radix === 4) k.dit4[variant(st, last)]!(this.workPtr, off, end, st.size, this.twPtr[level]!);
    else if (k !== null && st.radix === 2) k.r2(this.workPtr, off, end);
    else ditStage(this.work, off, end, st, last);
  }

  private forwardRange(off: number, level: number): void {
    const stages = this.t.fft.stages;
    const st = stages[level]!;
    if (st.size <= BLOCK) {
      for (let lv = level; lv < stages.length; lv++) this.dif(true, off, off + st.size, lv);
      return;
    }
    this.dif(true, off, off + st.size, level);
    const q = st.size / st.radix;
    for (let p = 0; p < st.radix; p++) this.forwardRange(off + p * q, level + 1);
  }

  private convRange(off: number, level: number): void {
    const stages = this.t.fft.stages;
    const st = stages[level]!;
    const end = off + st.size;
    if (st.size <= BLOCK) {
      for (let lv = level; lv < stages.length; lv++) this.dif(false, off, end, lv);
      if (this.kernels !== null) this.kernels.mul(this.workPtr + 16 * off, this.specPtr + 16 * off, end - off);
      else multiplySpectra(this.work, this.spec, off, end);
      for (let lv = stages.length - 1; lv >= level; lv--) this.dit(off, end, lv);
      return;
    }
    this.dif(false, off, end, level);
    const q = st.size / st.radix;
    for (let p = 0; p < st.radix; p++) this.convRange(off + p * q, level + 1);
    this.dit(off, end, level);
  }

  private topLoad(lut: Float64Array, onSpec: boolean): void {
    const { radix, size, quarter, rho } = this.t;
    const k = this.kernels;
    if (k !== null) {
      const l = this.layout!;
      this.lutView!.set(lut);
      const load = k.load[radix]!;
      const out = onSpec ? l.spec : l.work;
      for (let j0 = 0; j0 < quarter; j0 += TOP_CHUNK)
        load(l.bits, l.lut, l.twc, l.twf, out, quarter, size, j0, Math.min(quarter, j0 + TOP_CHUNK));
      return;
    }
    const out = onSpec ? this.spec : this.work;
    const bits = this.bits;
    switch (radix) {
      case 5:
        topLoad5(bits, size, quarter, lut, rho, out);
        return;
      case 4:
        topLoad4(bits, size, quarter, lut, rho, out);
        return;
      default:
        topLoad3(bits, size, quarter, lut, rho, out);
    }
  }

  private topExtract(first: number, count: number, out: Uint8Array): number {
    const { radix, size, quarter, rho, unweight } = this.t;
    const k = this.kernels;
    if (k !== null) {
      const l = this.layout!;
      const outBytes = (count + 7) >> 3;
      this.outView!.fill(0, 0, outBytes);
      // stream (q, lane) holds coefficients [q Q + lane N, (q + 1) Q + lane N)
      let mask = 0;
      for (let q = 0; q < radix; q++) {
        for (let lane = 0; lane < 2; lane++) {
          const lo = q * quarter + lane * size;
          if (lo < first + count && lo + quarter > first) mask |= 1 << (2 * q + lane);
        }
      }
      const extract = k.extract[radix]!;
      let maxErr = 0;
      let nan = false;
      for (let j0 = 0; j0 < quarter; j0 += TOP_CHUNK) {
        const e = extract(
          l.work,
          l.twc,
          l.twf,
          l.uw,
          l.outBits,
          quarter,
          size,
          first,
          count,
          mask,
          j0,
          Math.min(quarter, j0 + TOP_CHUNK),
        );
        if (Number.isNaN(e)) nan = true;
        else if (e > maxErr) maxErr = e;
      }
      if (nan) maxErr = NaN;
      out.set(this.outView!.subarray(0, outBytes));
      return maxErr;
    }
    const a = this.work;
    switch (radix) {
      case 5:
        return topExtract5(a, size, quarter, rho, unweight, first, count, out);
      case 4:
        return topExtract4(a, size, quarter, rho, unweight, first, count, out);
      default:
        return topExtract3(a, size, quarter, rho, unweight, first, count, out);
    }
  }
}

/** Bit k of the padded string plus bit k + N shifted to bit 1: the lookup code of input k. */
function code(bits: Uint8Array, k: number, hi: number): number {
  return ((bits[k >> 3]! >> (k & 7)) & 1) | (((bits[hi >> 3]! >> (hi & 7)) << 1) & 2);
}

/**
 * Rounds coefficient k's value v into out bit k - first when wanted; returns
 * its distance to the nearest integer (0 when not wanted).
 */
function put(out: Uint8Array, k: number, v: number, first: number, count: number): number {
  const i = k - first;
  if (i < 0 || i >= count) return 0;
  const r = Math.round(v);
  out[i >> 3]! |= (r & 1) << (i & 7);
  const e = v - r;
  return e < 0 ? -e : e;
}

function topLoad5(
  bits: Uint8Array,
  size: number,
  q: number,
  lut: Float64Array,
  rho: Float64Array,
  out: Float64Array,
): void {
  const q2 = 2 * q;
  for (let j = 0; j < q; j++) {
    let c = 2 * code(bits, j, j + size);
    const x0r = lut[c]!,
      x0i = lut[c + 1]!;
    c = 8 + 2 * code(bits, j + q, j + q + size);
    const x1r = lut[c]!,
      x1i = lut[c + 1]!;
    c = 16 + 2 * code(bits, j + 2 * q, j + 2 * q + size);
    const x2r = lut[c]!,
      x2i = lut[c + 1]!;
    c = 24 + 2 * code(bits, j + 3 * q, j + 3 * q + size);
    const x3r = lut[c]!,
      x3i = lut[c + 1]!;
    c = 32 + 2 * code(bits, j + 4 * q, j + 4 * q + size);
    const x4r = lut[c]!,
      x4i = lut[c + 1]!;
    // radix-5 DIF butterfly, W = exp(-2 pi i / 5) (as dif5 in fft.ts)
    const a1r = x1r + x4r,
      a1i = x1i + x4i,
      b1r = x1r - x4r,
      b1i = x1i - x4i;
    const a2r = x2r + x3r,
      a2i = x2i + x3i,
      b2r = x2r - x3r,
      b2i = x2i - x3i;
    const v0r = x0r + a1r + a2r,
      v0i = x0i + a1i + a2i;
    const p1r = x0r + C5_1 * a1r + C5_2 * a2r,
      p1i = x0i + C5_1 * a1i + C5_2 * a2i;
    const p2r = x0r + C5_2 * a1r + C5_1 * a2r,
      p2i = x0i + C5_2 * a1i + C5_1 * a2i;
    const m1r = S5_1 * b1r + S5_2 * b2r,
      m1i = S5_1 * b1i + S5_2 * b2i;
    const m2r = S5_2 * b1r - S5_1 * b2r,
      m2i = S5_2 * b1i - S5_1 * b2i;
    const v1r = p1r + m1i,
      v1i = p1i - m1r;
    const v4r = p1r - m1i,
      v4i = p1i + m1r;
    const v2r = p2r + m2i,
      v2i = p2i - m2r;
    const v3r = p2r - m2i,
      v3i = p2i + m2r;
    // t_0 = rho^j, t_p = t_(p-1) w with w = conj(rho^j)^4
    const t0r = rho[2 * j]!,
      t0i = rho[2 * j + 1]!;
    const hr = t0r * t0r - t0i * t0i,
      hi = -2 * t0r * t0i;
    const wr = hr * hr - hi * hi,
      wi = 2 * hr * hi;
    const t1r = t0r * wr - t0i * wi,
      t1i = t0r * wi + t0i * wr;
    const t2r = t1r * wr - t1i * wi,
      t2i = t1r * wi + t1i * wr;
    const t3r = t2r * wr - t2i * wi,
      t3i = t2r * wi + t2i * wr;
    const t4r = t3r * wr - t3i * wi,
      t4i = t3r * wi + t3i * wr;
    const i0 = 2 * j,
      i1 = i0 + q2,
      i2 = i1 + q2,
      i3 = i2 + q2,
      i4 = i3 + q2;
    out[i0] = v0r * t0r - v0i * t0i;
    out[i0 + 1] = v0r * t0i + v0i * t0r;
    out[i1] = v1r * t1r - v1i * t1i;
    out[i1 + 1] = v1r * t1i + v1i * t1r;
    out[i2] = v2r * t2r - v2i * t2i;
    out[i2 + 1] = v2r * t2i + v2i * t2r;
    out[i3] = v3r * t3r - v3i * t3i;
    out[i3 + 1] = v3r * t3i + v3i * t3r;
    out[i4] = v4r * t4r - v4i * t4i;
    out[i4 + 1] = v4r * t4i + v4i * t4r;
  }
}

function topExtract5(
  a: Float64Array,
  size: number,
  q: number,
  rho: Float64Array,
  uw: Float64Array,
  first: number,
  count: number,
  out: Uint8Array,
): number {
  const q2 = 2 * q;
  let maxErr = 0;
  // only j whose outputs can fall in [first, first + count) matter; all j are cheap enough to scan
  for (let j = 0; j < q; j++) {
    const t0r = rho[2 * j]!,
      t0i = rho[2 * j + 1]!;
    const hr = t0r * t0r - t0i * t0i,
      hi = -2 * t0r * t0i;
    const wr = hr * hr - hi * hi,
      wi = 2 * hr * hi;
    const t1r = t0r * wr - t0i * wi,
      t1i = t0r * wi + t0i * wr;
    const t2r = t1r * wr - t1i * wi,
      t2i = t1r * wi + t1i * wr;
    const t3r = t2r * wr - t2i * wi,
      t3i = t2r * wi + t2i * wr;
    const t4r = t3r * wr - t3i * wi,
      t4i = t3r * wi + t3i * wr;
    const i0 = 2 * j,
      i1 = i0 + q2,
      i2 = i1 + q2,
      i3 = i2 + q2,
      i4 = i3 + q2;
    // y_p = a_p conj(t_p)
    const y0r = a[i0]! * t0r + a[i0 + 1]! * t0i,
      y0i = a[i0 + 1]! * t0r - a[i0]! * t0i;
    const y1r = a[i1]! * t1r + a[i1 + 1]! * t1i,
      y1i = a[i1 + 1]! * t1r - a[i1]! * t1i;
    const y2r = a[i2]! * t2r + a[i2 + 1]! * t2i,
      y2i = a[i2 + 1]! * t2r - a[i2]! * t2i;
    const y3r = a[i3]! * t3r + a[i3 + 1]! * t3i,
      y3i = a[i3 + 1]! * t3r - a[i3]! * t3i;
    const y4r = a[i4]! * t4r + a[i4 + 1]! * t4i,
      y4i = a[i4 + 1]! * t4r - a[i4]! * t4i;
    // conjugate radix-5 butterfly (as dit5 in fft.ts)
    const a1r = y1r + y4r,
      a1i = y1i + y4i,
      b1r = y1r - y4r,
      b1i = y1i - y4i;
    const a2r = y2r + y3r,
      a2i = y2i + y3i,
      b2r = y2r - y3r,
      b2i = y2i - y3i;
    const v0r = y0r + a1r + a2r,
      v0i = y0i + a1i + a2i;
    const p1r = y0r + C5_1 * a1r + C5_2 * a2r,
      p1i = y0i + C5_1 * a1i + C5_2 * a2i;
    const p2r = y0r + C5_2 * a1r + C5_1 * a2r,
      p2i = y0i + C5_2 * a1i + C5_1 * a2i;
    const m1r = S5_1 * b1r + S5_2 * b2r,
      m1i = S5_1 * b1i + S5_2 * b2i;
    const m2r = S5_2 * b1r - S5_1 * b2r,
      m2i = S5_2 * b1i - S5_1 * b2i;
    const v1r = p1r - m1i,
      v1i = p1i + m1r;
    const v4r = p1r + m1i,
      v4i = p1i - m1r;
    const v2r = p2r - m2i,
      v2i = p2i + m2r;
    const v3r = p2r + m2i,
      v3i = p2i - m2r;
    // z_q = v_q conj(C_q): coefficient j + qQ is Re z_q, coefficient j + qQ + N is Im z_q
    let e: number;
    e = put(out, j, v0r * uw[0]! - v0i * uw[1]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + size, v0r * uw[1]! + v0i * uw[0]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + q, v1r * uw[2]! - v1i * uw[3]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + q + size, v1r * uw[3]! + v1i * uw[2]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 2 * q, v2r * uw[4]! - v2i * uw[5]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 2 * q + size, v2r * uw[5]! + v2i * uw[4]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 3 * q, v3r * uw[6]! - v3i * uw[7]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 3 * q + size, v3r * uw[7]! + v3i * uw[6]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 4 * q, v4r * uw[8]! - v4i * uw[9]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 4 * q + size, v4r * uw[9]! + v4i * uw[8]!, first, count);
    if (e > maxErr) maxErr = e;
  }
  return maxErr;
}

function topLoad4(
  bits: Uint8Array,
  size: number,
  q: number,
  lut: Float64Array,
  rho: Float64Array,
  out: Float64Array,
): void {
  const q2 = 2 * q;
  for (let j = 0; j < q; j++) {
    let c = 2 * code(bits, j, j + size);
    const x0r = lut[c]!,
      x0i = lut[c + 1]!;
    c = 8 + 2 * code(bits, j + q, j + q + size);
    const x1r = lut[c]!,
      x1i = lut[c + 1]!;
    c = 16 + 2 * code(bits, j + 2 * q, j + 2 * q + size);
    const x2r = lut[c]!,
      x2i = lut[c + 1]!;
    c = 24 + 2 * code(bits, j + 3 * q, j + 3 * q + size);
    const x3r = lut[c]!,
      x3i = lut[c + 1]!;
    // radix-4 DIF butterfly, W = -i (as dif4 in fft.ts)
    const s0r = x0r + x2r,
      s0i = x0i + x2i,
      s1r = x0r - x2r,
      s1i = x0i - x2i;
    const s2r = x1r + x3r,
      s2i = x1i + x3i,
      s3r = x1i - x3i,
      s3i = x3r - x1r;
    const v0r = s0r + s2r,
      v0i = s0i + s2i,
      v1r = s1r + s3r,
      v1i = s1i + s3i;
    const v2r = s0r - s2r,
      v2i = s0i - s2i,
      v3r = s1r - s3r,
      v3i = s1i - s3i;
    const t0r = rho[2 * j]!,
      t0i = rho[2 * j + 1]!;
    const hr = t0r * t0r - t0i * t0i,
      hi = -2 * t0r * t0i;
    const wr = hr * hr - hi * hi,
      wi = 2 * hr * hi;
    const t1r = t0r * wr - t0i * wi,
      t1i = t0r * wi + t0i * wr;
    const t2r = t1r * wr - t1i * wi,
      t2i = t1r * wi + t1i * wr;
    const t3r = t2r * wr - t2i * wi,
      t3i = t2r * wi + t2i * wr;
    const i0 = 2 * j,
      i1 = i0 + q2,
      i2 = i1 + q2,
      i3 = i2 + q2;
    out[i0] = v0r * t0r - v0i * t0i;
    out[i0 + 1] = v0r * t0i + v0i * t0r;
    out[i1] = v1r * t1r - v1i * t1i;
    out[i1 + 1] = v1r * t1i + v1i * t1r;
    out[i2] = v2r * t2r - v2i * t2i;
    out[i2 + 1] = v2r * t2i + v2i * t2r;
    out[i3] = v3r * t3r - v3i * t3i;
    out[i3 + 1] = v3r * t3i + v3i * t3r;
  }
}

function topExtract4(
  a: Float64Array,
  size: number,
  q: number,
  rho: Float64Array,
  uw: Float64Array,
  first: number,
  count: number,
  out: Uint8Array,
): number {
  const q2 = 2 * q;
  let maxErr = 0;
  for (let j = 0; j < q; j++) {
    const t0r = rho[2 * j]!,
      t0i = rho[2 * j + 1]!;
    const hr = t0r * t0r - t0i * t0i,
      hi = -2 * t0r * t0i;
    const wr = hr * hr - hi * hi,
      wi = 2 * hr * hi;
    const t1r = t0r * wr - t0i * wi,
      t1i = t0r * wi + t0i * wr;
    const t2r = t1r * wr - t1i * wi,
      t2i = t1r * wi + t1i * wr;
    const t3r = t2r * wr - t2i * wi,
      t3i = t2r * wi + t2i * wr;
    const i0 = 2 * j,
      i1 = i0 + q2,
      i2 = i1 + q2,
      i3 = i2 + q2;
    const y0r = a[i0]! * t0r + a[i0 + 1]! * t0i,
      y0i = a[i0 + 1]! * t0r - a[i0]! * t0i;
    const y1r = a[i1]! * t1r + a[i1 + 1]! * t1i,
      y1i = a[i1 + 1]! * t1r - a[i1]! * t1i;
    const y2r = a[i2]! * t2r + a[i2 + 1]! * t2i,
      y2i = a[i2 + 1]! * t2r - a[i2]! * t2i;
    const y3r = a[i3]! * t3r + a[i3 + 1]! * t3i,
      y3i = a[i3 + 1]! * t3r - a[i3]! * t3i;
    // conjugate radix-4 butterfly (as dit4 in fft.ts)
    const s0r = y0r + y2r,
      s0i = y0i + y2i,
      s1r = y0r - y2r,
      s1i = y0i - y2i;
    const s2r = y1r + y3r,
      s2i = y1i + y3i,
      s3r = y3i - y1i,
      s3i = y1r - y3r;
    const v0r = s0r + s2r,
      v0i = s0i + s2i,
      v1r = s1r + s3r,
      v1i = s1i + s3i;
    const v2r = s0r - s2r,
      v2i = s0i - s2i,
      v3r = s1r - s3r,
      v3i = s1i - s3i;
    let e: number;
    e = put(out, j, v0r * uw[0]! - v0i * uw[1]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + size, v0r * uw[1]! + v0i * uw[0]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + q, v1r * uw[2]! - v1i * uw[3]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + q + size, v1r * uw[3]! + v1i * uw[2]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 2 * q, v2r * uw[4]! - v2i * uw[5]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 2 * q + size, v2r * uw[5]! + v2i * uw[4]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 3 * q, v3r * uw[6]! - v3i * uw[7]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 3 * q + size, v3r * uw[7]! + v3i * uw[6]!, first, count);
    if (e > maxErr) maxErr = e;
  }
  return maxErr;
}

function topLoad3(
  bits: Uint8Array,
  size: number,
  q: number,
  lut: Float64Array,
  rho: Float64Array,
  out: Float64Array,
): void {
  const q2 = 2 * q;
  for (let j = 0; j < q; j++) {
    let c = 2 * code(bits, j, j + size);
    const x0r = lut[c]!,
      x0i = lut[c + 1]!;
    c = 8 + 2 * code(bits, j + q, j + q + size);
    const x1r = lut[c]!,
      x1i = lut[c + 1]!;
    c = 16 + 2 * code(bits, j + 2 * q, j + 2 * q + size);
    const x2r = lut[c]!,
      x2i = lut[c + 1]!;
    // radix-3 DIF butterfly, W = exp(-2 pi i / 3) (as dif3 in fft.ts)
    const sr = x1r + x2r,
      si = x1i + x2i,
      dr = x1r - x2r,
      di = x1i - x2i;
    const v0r = x0r + sr,
      v0i = x0i + si;
    const pr = x0r - 0.5 * sr,
      pi = x0i - 0.5 * si,
      mr = S3 * dr,
      mi = S3 * di;
    const v1r = pr + mi,
      v1i = pi - mr,
      v2r = pr - mi,
      v2i = pi + mr;
    const t0r = rho[2 * j]!,
      t0i = rho[2 * j + 1]!;
    const hr = t0r * t0r - t0i * t0i,
      hi = -2 * t0r * t0i;
    const wr = hr * hr - hi * hi,
      wi = 2 * hr * hi;
    const t1r = t0r * wr - t0i * wi,
      t1i = t0r * wi + t0i * wr;
    const t2r = t1r * wr - t1i * wi,
      t2i = t1r * wi + t1i * wr;
    const i0 = 2 * j,
      i1 = i0 + q2,
      i2 = i1 + q2;
    out[i0] = v0r * t0r - v0i * t0i;
    out[i0 + 1] = v0r * t0i + v0i * t0r;
    out[i1] = v1r * t1r - v1i * t1i;
    out[i1 + 1] = v1r * t1i + v1i * t1r;
    out[i2] = v2r * t2r - v2i * t2i;
    out[i2 + 1] = v2r * t2i + v2i * t2r;
  }
}

function topExtract3(
  a: Float64Array,
  size: number,
  q: number,
  rho: Float64Array,
  uw: Float64Array,
  first: number,
  count: number,
  out: Uint8Array,
): number {
  const q2 = 2 * q;
  let maxErr = 0;
  for (let j = 0; j < q; j++) {
    const t0r = rho[2 * j]!,
      t0i = rho[2 * j + 1]!;
    const hr = t0r * t0r - t0i * t0i,
      hi = -2 * t0r * t0i;
    const wr = hr * hr - hi * hi,
      wi = 2 * hr * hi;
    const t1r = t0r * wr - t0i * wi,
      t1i = t0r * wi + t0i * wr;
    const t2r = t1r * wr - t1i * wi,
      t2i = t1r * wi + t1i * wr;
    const i0 = 2 * j,
      i1 = i0 + q2,
      i2 = i1 + q2;
    const y0r = a[i0]! * t0r + a[i0 + 1]! * t0i,
      y0i = a[i0 + 1]! * t0r - a[i0]! * t0i;
    const y1r = a[i1]! * t1r + a[i1 + 1]! * t1i,
      y1i = a[i1 + 1]! * t1r - a[i1]! * t1i;
    const y2r = a[i2]! * t2r + a[i2 + 1]! * t2i,
      y2i = a[i2 + 1]! * t2r - a[i2]! * t2i;
    // conjugate radix-3 butterfly (as dit3 in fft.ts)
    const sr = y1r + y2r,
      si = y1i + y2i,
      dr = y1r - y2r,
      di = y1i - y2i;
    const v0r = y0r + sr,
      v0i = y0i + si;
    const pr = y0r - 0.5 * sr,
      pi = y0i - 0.5 * si,
      mr = S3 * dr,
      mi = S3 * di;
    const v1r = pr - mi,
      v1i = pi + mr,
      v2r = pr + mi,
      v2i = pi - mr;
    let e: number;
    e = put(out, j, v0r * uw[0]! - v0i * uw[1]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + size, v0r * uw[1]! + v0i * uw[0]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + q, v1r * uw[2]! - v1i * uw[3]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + q + size, v1r * uw[3]! + v1i * uw[2]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 2 * q, v2r * uw[4]! - v2i * uw[5]!, first, count);
    if (e > maxErr) maxErr = e;
    e = put(out, j + 2 * q + size, v2r * uw[5]! + v2i * uw[4]!, first, count);
    if (e > maxErr) maxErr = e;
  }
  return maxErr;
}

/** Source bytes per call of the code-packing kernel. */
const PACK_CHUNK = 1 << 11;

/**
 * Byte layout of the WebAssembly memory of one BitProductSum: the sum (16 N bytes), two range buffers, the SIMD
 * twiddles of the stages below the top (about 2.9 N bytes at N = 4^k), the bit strings and codes of one operand pair,
 * and small tables (sumBytes counts them all).
 */
interface SumLayout {
  uw: number;
  bitsS: number;
  bitsX: number;
  outBits: number;
  codesS: number;
  codesX: number;
  /**
   * The table of top-stage outputs for the seed's codes and for the input's: one table at one address (both
   * unscaled; the 1/N of the unscaled inverse transform is in uw), so tabS = tabX and tab2S = tab2X.
   */
  tabS: number;
  tabX: number;
  twc: number;
  twf: number;
  spread: number;
  /** Whether the top two stages are built from the codes at once (genTopLoad2): range buffers of Q/4 values. */
  two: boolean;
  tab2S: number;
  tab2X: number;
  acc: number;
  bufS: number;
  bufX: number;
  total: number;
}

function sumLayout(t: BitConvolutionTables): SumLayout {
  const align = (x: number) => Math.ceil(x / 64) * 64;
  const uw = align(t.simdTwiddleDoubles * 8);
  const bitsS = align(uw + 16 * t.radix);
  const bitsX = align(bitsS + t.paddedBytes);
  const outBits = align(bitsX + t.paddedBytes);
  const codeBytes = t.radix === 5 ? 2 : 1;
  const codesS = align(outBits + (t.size >> 2) + 16);
  const codesX = align(codesS + codeBytes * t.quarter + 8);
  const tab = align(codesX + codeBytes * t.quarter + 8);
  const twc = align(tab + 16 * t.radix * 4 ** t.radix);
  const twf = align(twc + 16 * t.coarseCount);
  const spread = align(twf + (16 << TWIDDLE_FINE_BITS));
  const stages = t.fft.stages;
  const two = stages.length >= 4 && stages[1]!.radix === 4;
  const tab2 = align(spread + 4 * 256 * 4);
  const acc = align(tab2 + (two ? 16 * 16 * t.radix * 4 ** t.radix : 0));
  const range = two ? t.quarter / 4 : t.quarter;
  const bufS = acc + 16 * t.size;
  const bufX = bufS + 16 * range;
  return {
    uw,
    bitsS,
    bitsX,
    outBits,
    codesS,
    codesX,
    tabS: tab,
    tabX: tab,
    twc,
    twf,
    spread,
    two,
    tab2S: tab2,
    tab2X: tab2,
    acc,
    bufS,
    bufX,
    total: bufX + 16 * range,
  };
}

/**
 * Bytes of WebAssembly memory a BitProductSum for transforms of this size allocates with `helpers` helper threads
 * (threadLayout): the transform bound's memory cost (chunked.ts). All of it is written, hence resident, except the
 * layout's bit-string and output-bit regions when the range buffers hold those (top radix 3 and 4, threadLayout) and
 * no helper puts its second codes there (3 N / 4 bytes: 0.75 MiB at N = 2^20).
 */
export function sumBytes(t: BitConvolutionTables, helpers = 0): number {
  return threadLayout(t, sumLayout(t), helpers).total;
}

/**
 * A sum of negacyclic products sum_j s_j x_j of bit strings kept as one spectrum (SIMD only): the frequency-domain
 * accumulation of chunked.ts. More in README.md (rightangle.ts: BitProductSum).
 */
export class BitProductSum {
  readonly t: BitConvolutionTables;
  /**
   * What another thread needs to run this sum's ranges with it (sum-ranges.ts), or null for a sum made without room
   * for a helper.
   */
  readonly share: SumShare | null;
  private readonly kernels: SimdKernels;
  private readonly layout: SumLayout;
  private readonly acc: Float64Array;
  private readonly bitsS: Uint8Array;
  private readonly bitsX: Uint8Array;
  /** Each thread's output bits of the rounding pass (thread 0's first). */
  private readonly outViews: Uint32Array[];
  /** Whether the sum is empty (clear): the next add writes each slice instead of adding to it. */
  private fresh = true;
  /**
   * The packed codes of the top-stage inputs (r codes of 2 bits per butterfly), as 32-bit words: two sets, used by
   * turns (the same one twice without a helper).
   */
  private readonly codes: Array<{ s: number; x: number; viewS: Uint32Array; viewX: Uint32Array }>;
  /** The code set the next add packs into. */
  private nextCodes = 0;
  /** This thread's ranges (thread 0) and the board that deals them out (to this thread alone without a helper). */
  private readonly ranges: SumRanges;
  private readonly board: TaskBoard;

  /**
   * A sum for transforms of this size, or null where the WebAssembly SIMD kernels are unavailable (or the memory
   * would be too large). `helpers`: threads that may join it (range buffers of their own in its memory, `share`).
   */
  static create(t: BitConvolutionTables, helpers = 0): BitProductSum | null {
    if (!(helpers >= 0 && helpers < MAX_THREADS)) throw new RangeError(`a sum takes 0 to ${MAX_THREADS - 1} helpers`);
    const layout = sumLayout(t);
    const mod = simdModule();
    const more = threadLayout(t, layout, helpers);
    if (more.total > MAX_SIMD_BYTES || mod === null) return null;
    const memory = createMemory(more.total);
    const kernels = instantiateKernels(memory, mod);
    if (kernels === null) return null;
    const share: SumShare = {
      memory,
      module: mod,
      radix: t.radix,
      quarter: t.quarter,
      size: t.size,
      two: layout.two,
      stages: t.fft.stages.map((st) => ({ radix: st.radix, size: st.size, full: st.full })),
      twPtr: t.simdTwiddleOffsets,
      ...pick(layout, ['codesS', 'codesX', 'tabS', 'tabX', 'tab2S', 'tab2X', 'twc', 'twf', 'uw', 'acc']),
      ...pick(more, ['codes2S', 'codes2X', 'outs', 'bufs', 'board']),
    };
    // the bit strings of add in the owner's range buffers (threadLayout)
    return new BitProductSum(t, { ...layout, bitsS: more.bitsS, bitsX: more.bitsX }, share, kernels, helpers > 0);
  }

  private constructor(
    t: BitConvolutionTables,
    layout: SumLayout,
    share: SumShare,
    kernels: SimdKernels,
    shared: boolean,
  ) {
    this.t = t;
    this.layout = layout;
    this.kernels = kernels;
    this.share = shared ? share : null;
    this.board = new TaskBoard(share.memory, share.board);
    this.ranges = new SumRanges(share, kernels, this.board, 0);
    const buf = share.memory.buffer;
    // the sum's memory is free until the first add stores into it
    t.writeSimdTwiddles(new Float64Array(buf, 0, t.simdTwiddleDoubles), {
      kernels,
      scratch: layout.acc,
      scratchBytes: 16 * t.size,
    });
    // both operands' top outputs unscaled (one table, SumLayout), the inverse transform's 1/N in the unweighting
    const uw = new Float64Array(buf, layout.uw, 2 * t.radix);
    for (let i = 0; i < uw.length; i++) uw[i] = t.unweight[i]! / t.size;
    new Float64Array(buf, layout.tabS, 2 * t.radix * 4 ** t.radix).set(outputTable(t, 1));
    // conj(rho^k) from a coarse and a fine table, for the range loads and the extraction (simd.ts conjRhoPush)
    t.writeConjRho(
      new Float64Array(buf, layout.twc, 2 * t.coarseCount),
      new Float64Array(buf, layout.twf, 2 << TWIDDLE_FINE_BITS),
    );
    new Uint32Array(buf, layout.spread, 256 * 4).set(t.radix === 5 ? SPREAD16 : SPREAD8);
    if (layout.two) new Float64Array(buf, layout.tab2S, 32 * t.radix * 4 ** t.radix).set(outputTable2(t, 1));
    const codeWords = Math.ceil(((t.radix === 5 ? 2 : 1) * t.quarter) / 4);
    this.codes = [
      [share.codesS, share.codesX],
      [share.codes2S, share.codes2X],
    ].map(([cs, cx]) => ({
      s: cs!,
      x: cx!,
      viewS: new Uint32Array(buf, cs!, codeWords),
      viewX: new Uint32Array(buf, cx!, codeWords),
    }));
    this.bitsS = new Uint8Array(buf, layout.bitsS, t.paddedBytes);
    this.bitsX = new Uint8Array(buf, layout.bitsX, t.paddedBytes);
    this.outViews = share.outs.map((o) => new Uint32Array(buf, o, (t.size >> 4) + 4));
    this.acc = new Float64Array(buf, layout.acc, 2 * t.size);
  }

  /** Empties the sum (the next add's ranges store their products instead of adding them: no pass of its own). */
  clear(): void {
    this.fresh = true;
  }

  /**
   * Adds the negacyclic product of bits [0, sBits) of `s` and bits
   * [0, xBits) of `x` moved up by `xShift` bits (x z^xShift), sBits and
   * xShift + xBits at most 2N. The ranges go to whichever thread claims them (sum-ranges.ts).
   */
  add(s: Uint8Array, sBits: number, x: Uint8Array, xBits: number, xShift: number): void {
    const { radix, quarter, size } = this.t;
    const l = this.layout;
    const k = this.kernels;
    // packed into the set the open round does not read (its ranges may still be running on a helper)
    const set = this.nextCodes;
    const codes = this.codes[set]!;
    padShifted(this.bitsS, s, sBits, 0);
    padShifted(this.bitsX, x, xBits, xShift);
    if (quarter % 8 === 0 && size % 8 === 0) {
      // 8 butterflies per source byte, in WebAssembly (simd.ts genPackCodes), in calls of PACK_CHUNK bytes (tier-up,
      // as TOP_CHUNK)
      const pack = k.pack[radix]!;
      for (let b0 = 0; b0 < quarter >> 3; b0 += PACK_CHUNK) {
        const b1 = Math.min(quarter >> 3, b0 + PACK_CHUNK);
        pack(l.bitsS, codes.s, l.spread, quarter, size, b0, b1);
        pack(l.bitsX, codes.x, l.spread, quarter, size, b0, b1);
      }
    } else {
      packCodes(this.bitsS, codes.viewS, radix, quarter, size);
      packCodes(this.bitsX, codes.viewX, radix, quarter, size);
    }
    // the previous chunk's round ends (its slices are final for this chunk's ranges to add to), this one opens: each
    // range (p, p2) (or p) is an independent transform below the top, multiplied into its own slice of the sum; the
    // round is finished by the next add or by extract
    this.board.finish();
    const kind = this.fresh ? ADD_FIRST : ADD;
    this.fresh = false;
    this.nextCodes = 1 - set;
    this.board.start(kind, this.ranges.addCount, (i) => this.ranges.run(kind, i), { codes: set });
  }

  /**
   * The inverse transform of the sum (in place: the sum is spent) and its
   * coefficients first + i, i < count, rounded mod 2 into bit i of `out`
   * (zeroed by the caller). Returns the largest distance of those
   * coefficients from an integer (NaN if any is NaN).
   */
  extract(first: number, count: number, out: Uint8Array): number {
    const { radix, size, quarter } = this.t;
    const ranges = this.ranges;
    this.board.finish(); // the last add's round
    if (this.fresh) this.acc.fill(0); // no add since clear
    this.board.round(INVERSE_LOW, ranges.inverseCount, (i) => ranges.run(INVERSE_LOW, i));
    if (ranges.inverseDeep) this.board.round(INVERSE_MID, radix, (i) => ranges.run(INVERSE_MID, i));
    const outWords = (count + 31) >> 5;
    for (const view of this.outViews) view.fill(0, 0, outWords);
    let mask = 0;
    for (let q = 0; q < radix; q++) {
      for (let lane = 0; lane < 2; lane++) {
        const lo = q * quarter + lane * size;
        if (lo < first + count && lo + quarter > first) mask |= 1 << (2 * q + lane);
      }
    }
    // spans of the rounding pass, each thread into its own output bits (spans share bytes at their edges), OR-ed here
    this.board.setRoundParams(first, count, mask);
    this.board.round(ROUND, ranges.roundCount, (i) => ranges.run(ROUND, i));
    const own = this.outViews[0]!;
    let maxErr = 0;
    for (let h = 0; h < this.outViews.length; h++) {
      const e = this.board.error(h);
      if (!(e <= maxErr)) maxErr = Number.isNaN(maxErr) ? maxErr : e;
      if (h === 0) continue;
      const view = this.outViews[h]!;
      for (let k = 0; k < outWords; k++) own[k]! |= view[k]!;
    }
    out.set(new Uint8Array(own.buffer, own.byteOffset, (count + 7) >> 3));
    return maxErr;
  }
}

/**
 * Where each thread works, after the sum's own layout: the helpers' range buffers (as bufS, bufX), a second set of
 * packed codes (with a helper only: the next chunk is packed while a helper may still read this one's), then the task
 * board. A thread's output bits of the rounding pass are its bufS, and the owner's bit strings of add its bufS and
 * bufX: no range runs on them while these are in use (extract's rounds work in the sum; the owner packs between its
 * ranges), so the layout's own outBits and bits regions are free: they hold the second codes where those fit (top
 * radix 3 and 4), else stay untouched (not resident).
 */
function threadLayout(t: BitConvolutionTables, layout: SumLayout, helpers: number) {
  const align = (x: number) => Math.ceil(x / 64) * 64;
  const rangeBytes = layout.bufX - layout.bufS;
  const codeBytes = align((t.radix === 5 ? 2 : 1) * t.quarter + 8);
  let at = align(layout.total);
  const bufs = [layout.bufS, layout.bufX];
  for (let h = 0; h < 2 * helpers; h++, at += rangeBytes) bufs.push(at);
  // (a range buffer holds 4 N / r bytes or more; the output bits N / 4 + 16, a bit string N / 4 + 1)
  const roomy = rangeBytes >= (t.size >> 2) + 16 && rangeBytes >= t.paddedBytes;
  const outs = [roomy ? layout.bufS : layout.outBits];
  for (let h = 0; h < helpers; h++) {
    if (roomy) outs.push(bufs[2 * h + 2]!);
    else {
      outs.push(at);
      at += align((t.size >> 2) + 16);
    }
  }
  let codes2S = layout.codesS;
  let codes2X = layout.codesX;
  if (helpers > 0) {
    // the layout's bit strings and output bits, unused when roomy, hold the second codes where they fit (r = 3, 4)
    const free =
      roomy && layout.bitsS < layout.bitsX && layout.bitsX < layout.outBits && layout.outBits < layout.codesS;
    if (free && layout.bitsS + 2 * codeBytes <= layout.codesS) codes2S = layout.bitsS;
    else {
      codes2S = at;
      at += 2 * codeBytes;
    }
    codes2X = codes2S + codeBytes;
  }
  const bitsS = roomy ? layout.bufS : layout.bitsS;
  const bitsX = roomy ? layout.bufX : layout.bitsX;
  return { bufs, outs, codes2S, codes2X, bitsS, bitsX, board: at, total: at + BOARD_BYTES };
}

/** The named fields of `from`. */
function pick<T, K extends keyof T>(from: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) out[k] = from[k];
  return out;
}

/**
 * Lookup of the weighted top-stage inputs (as BitConvolution's): for q and code = re | im << 1, (re + i im) C_q *
 * scale.
 */
function inputTable(t: BitConvolutionTables, scale: number): Float64Array {
  const { radix, unweight } = t;
  const lut = new Float64Array(8 * radix);
  for (let q = 0; q < radix; q++) {
    const cr = unweight[2 * q]! * scale,
      ci = -unweight[2 * q + 1]! * scale;
    for (let code = 0; code < 4; code++) {
      const re = code & 1,
        im = code >> 1;
      lut[8 * q + 2 * code] = re * cr - im * ci;
      lut[8 * q + 2 * code + 1] = re * ci + im * cr;
    }
  }
  return lut;
}

/**
 * Output p of the top DIF butterfly for every packed code c (code of input
 * q in bits 2q, 2q + 1): v_p = sum_q lut_q[code_q] W^(pq), W = exp(-2 pi i / r),
 * lut as inputTable; r tables of 4^r complex values, table p first.
 */
function outputTable(t: BitConvolutionTables, scale: number): Float64Array {
  const r = t.radix;
  const lut = inputTable(t, scale);
  const codes = 4 ** r;
  const out = new Float64Array(2 * r * codes);
  for (let p = 0; p < r; p++) {
    for (let c = 0; c < codes; c++) {
      let re = 0,
        im = 0;
      for (let q = 0; q < r; q++) {
        const e = 8 * q + 2 * ((c >> (2 * q)) & 3);
        const angle = (-2 * Math.PI * ((p * q) % r)) / r;
        const wr = Math.cos(angle),
          wi = Math.sin(angle);
        re += lut[e]! * wr - lut[e + 1]! * wi;
        im += lut[e]! * wi + lut[e + 1]! * wr;
      }
      out[2 * (p * codes + c)] = re;
      out[2 * (p * codes + c) + 1] = im;
    }
  }
  return out;
}

/**
 * Tables of genTopLoad2 (simd.ts): for range (p, p2), m < 4 and every code
 * c, v_p(c) conj(rho^((4p - 1) m Q/4)) (-i)^(p2 m), v_p as outputTable:
 * input m of the second stage's butterfly j2 is top output p at
 * j2 + m Q/4, whose twiddle conj(rho^((4p - 1)(j2 + m Q/4))) splits into
 * the part in j2 (applied by the kernel) and this constant.
 */
function outputTable2(t: BitConvolutionTables, scale: number): Float64Array {
  const r = t.radix;
  const codes = 4 ** r;
  const v = outputTable(t, scale);
  const out = new Float64Array(2 * 16 * r * codes);
  for (let p = 0; p < r; p++) {
    for (let p2 = 0; p2 < 4; p2++) {
      for (let m = 0; m < 4; m++) {
        const angle = (Math.PI * (1 - 4 * p) * m * (t.quarter / 4)) / (2 * t.size) - (Math.PI / 2) * ((p2 * m) % 4);
        const cr = Math.cos(angle),
          ci = Math.sin(angle);
        const base = ((p * 4 + p2) * 4 + m) * codes;
        for (let c = 0; c < codes; c++) {
          const vr = v[2 * (p * codes + c)]!,
            vi = v[2 * (p * codes + c) + 1]!;
          out[2 * (base + c)] = vr * cr - vi * ci;
          out[2 * (base + c) + 1] = vr * ci + vi * cr;
        }
      }
    }
  }
  return out;
}

/**
 * SPREAD[4 byte + k]: bits 4k .. 4k + 3 of byte as the low bits of four bytes of a word (u8 codes); SPREAD16 the same
 * for 2 bits into two 16-bit lanes.
 */
const SPREAD8 = new Uint32Array(256 * 2);
const SPREAD16 = new Uint32Array(256 * 4);
for (let v = 0; v < 256; v++) {
  for (let i = 0; i < 8; i++) {
    const bit = (v >> i) & 1;
    SPREAD8[2 * v + (i >> 2)]! |= bit << (8 * (i & 3));
    SPREAD16[4 * v + (i >> 1)]! |= bit << (16 * (i & 1));
  }
}

/**
 * codes[j] (u8 for r <= 4, u16 for r = 5) = sum_q (bit(j + qQ) | bit(j + qQ + N) << 1) << 2q
 * for j < Q: the r inputs of top butterfly j, read once per operand instead of once per output range.
 */
function packCodes(bits: Uint8Array, codes: Uint32Array, r: number, q: number, n: number): void {
  codes.fill(0);
  const wide = r === 5;
  if (q % 8 === 0 && n % 8 === 0) {
    const spread = wide ? SPREAD16 : SPREAD8;
    const per = wide ? 4 : 2; // words per source byte
    for (let src = 0; src < 2 * r; src++) {
      const qi = src >> 1,
        lane = src & 1;
      const sh = 2 * qi + lane;
      const base = (qi * q + lane * n) >> 3;
      for (let b = 0, w = 0; b < q >> 3; b++, w += per) {
        const v = bits[base + b]!;
        if (v === 0) continue;
        const sv = per * v;
        for (let k = 0; k < per; k++) codes[w + k]! |= spread[sv + k]! << sh;
      }
    }
    return;
  }
  const view = wide
    ? new Uint16Array(codes.buffer, codes.byteOffset, 2 * codes.length)
    : new Uint8Array(codes.buffer, codes.byteOffset, 4 * codes.length);
  for (let j = 0; j < q; j++) {
    let c = 0;
    for (let qi = 0; qi < r; qi++) {
      const k = j + qi * q,
        hi = k + n;
      c |= (((bits[k >> 3]! >> (k & 7)) & 1) | (((bits[hi >> 3]! >> (hi & 7)) & 1) << 1)) << (2 * qi);
    }
    view[j] = c;
  }
}

/**
 * dst = bits [0, nBits) of src moved up by `shift` bits, every other bit of dst zero (shift + nBits <= 8 dst.length).
 */
function padShifted(dst: Uint8Array, src: Uint8Array, nBits: number, shift: number): void {
  dst.fill(0);
  const whole = nBits >> 3;
  const spare = nBits & 7;
  const at = shift >> 3;
  const sh = shift & 7;
  if (sh === 0) {
    dst.set(src.subarray(0, whole), at);
    if (spare) dst[at + whole] = src[whole]! & ((1 << spare) - 1);
    return;
  }
  for (let b = 0; b < whole; b++) {
    const v = src[b]! << sh;
    dst[at + b]! |= v & 0xff;
    dst[at + b + 1]! |= v >> 8;
  }
  if (spare) {
    const v = (src[whole]! & ((1 << spare) - 1)) << sh;
    dst[at + whole]! |= v & 0xff;
    if (v >> 8) dst[at + whole + 1]! |= v >> 8;
  }
}
