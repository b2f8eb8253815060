/**
 * Complex FFT of length N = c * 2^k (c in {1, 3, 5}) on interleaved Float64Array data (re at 2j, im at 2j + 1), for
 * the Toeplitz product. More in README.md (fft.ts).
 */

/** Complex values per cache-resident range (512 KiB of data). */
export const BLOCK = 1 << 15;

export interface Stage {
  /** Transform size handled by this stage (the span of one butterfly group). */
  size: number;
  radix: 2 | 3 | 4 | 5;
  /** Twiddles, see `full`. Empty for the last stage (all ones). */
  tw: Float64Array;
  /** true: (r - 1) powers per j; false: only w^j. */
  full: boolean;
  /** tw.length, known without making the table (fft.ts makes it on first read); absent: read tw. */
  doubles?: number;
}

/** rootsOfUnity's fine table: 2^ROOT_FINE_BITS values. */
export const ROOT_FINE_BITS = 10;

/**
 * The two tables rootsOfUnity multiplies, by direct cos/sin calls: fine[k] = w^k for k < 2^ROOT_FINE_BITS and
 * coarse[h] = w^(h 2^ROOT_FINE_BITS) for h 2^ROOT_FINE_BITS < count (w = exp(sign 2 pi i / period), interleaved).
 * Root k is coarse[k >> ROOT_FINE_BITS] fine[k & (2^ROOT_FINE_BITS - 1)] (rootAt): callers that need some roots in
 * another order form them with the same products, to the same bits as rootsOfUnity's table.
 */
export function rootTables(period: number, count: number, sign = -1): { fine: Float64Array; coarse: Float64Array } {
  const fineCount = 1 << ROOT_FINE_BITS;
  const fine = new Float64Array(2 * fineCount);
  for (let k = 0; k < fineCount; k++) {
    const a = (2 * Math.PI * k) / period;
    fine[2 * k] = Math.cos(a);
    fine[2 * k + 1] = sign * Math.sin(a);
  }
  const coarse = new Float64Array(2 * Math.ceil(count / fineCount));
  for (let hi = 0; hi * fineCount < count; hi++) {
    const a = (2 * Math.PI * hi * fineCount) / period;
    coarse[2 * hi] = Math.cos(a);
    coarse[2 * hi + 1] = sign * Math.sin(a);
  }
  return { fine, coarse };
}

/**
 * exp(-2 pi i k / period) for k < count, interleaved, by a two-level product
 * (one coarse and one fine table of direct cos/sin calls, rootTables): error about 2 ulp.
 * Written into `out` (2 count doubles) when given, e.g. a WebAssembly memory's view.
 */
export function rootsOfUnity(
  period: number,
  count: number,
  sign = -1,
  out: Float64Array = new Float64Array(2 * count),
): Float64Array {
  const { fine, coarse } = rootTables(period, count, sign);
  const fineCount = 1 << ROOT_FINE_BITS;
  for (let hi = 0; hi * fineCount < count; hi++) {
    const cr = coarse[2 * hi]!;
    const ci = coarse[2 * hi + 1]!;
    const end = Math.min(fineCount, count - hi * fineCount);
    for (let lo = 0; lo < end; lo++) {
      const k = hi * fineCount + lo;
      out[2 * k] = cr * fine[2 * lo]! - ci * fine[2 * lo + 1]!;
      out[2 * k + 1] = cr * fine[2 * lo + 1]! + ci * fine[2 * lo]!;
    }
  }
  return out;
}

/** Smallest N = c * 2^k >= minSize with c in {1, 3, 5} (k >= 0). */
export function goodFftSize(minSize: number): number {
  let best = Infinity;
  for (const c of [1, 3, 5]) {
    let size = c;
    while (size < minSize) size *= 2;
    if (size < best) best = size;
  }
  return best;
}

/** A stage's twiddles (Stage.tw): w^j for j < S / r (full false), or its r - 1 powers per j (full true). */
function stageTwiddles(s: number, r: number, full: boolean): Float64Array {
  const q = s / r;
  if (!full) return rootsOfUnity(s, q);
  const roots = rootsOfUnity(s, s);
  const tw = new Float64Array(2 * q * (r - 1));
  for (let j = 0; j < q; j++) {
    for (let p = 1; p < r; p++) {
      const e = (p * j) % s;
      tw[2 * (j * (r - 1) + p - 1)] = roots[2 * e]!;
      tw[2 * (j * (r - 1) + p - 1) + 1] = roots[2 * e + 1]!;
    }
  }
  return tw;
}

/**
 * A stage whose twiddle table is made on its first read: the plain-JS stages read it, the WebAssembly kernels do not
 * (their large stages use the compact tables of rightangle.ts writeSimdTwiddles), so a plan on the kernels never
 * computes the 2.6 MB of w^j of a 3 * 2^19 transform's large stages (about 12 ms of start-up and their garbage).
 */
class LazyStage implements Stage {
  private table: Float64Array | undefined;
  /** The table's length (stageTwiddles), 0 for an empty one. */
  readonly doubles: number;
  constructor(
    readonly size: number,
    readonly radix: 2 | 3 | 4 | 5,
    readonly full: boolean,
    empty: boolean,
  ) {
    this.doubles = empty ? 0 : 2 * (size / radix) * (full ? radix - 1 : 1);
  }

  get tw(): Float64Array {
    this.table ??= this.doubles === 0 ? new Float64Array(0) : stageTwiddles(this.size, this.radix, this.full);
    return this.table;
  }

  set tw(table: Float64Array) {
    this.table = table;
  }
}

export class Fft {
  readonly size: number;
  /** Stages from the whole transform (index 0) down to groups of size radix. */
  readonly stages: Stage[];

  /** The radices of the stages of an FFT of this size, top first. */
  static radices(size: number): Array<2 | 3 | 4 | 5> {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new RangeError(`FFT size must be a positive integer, got ${size}`);
    let rest = size;
    let c = 1;
    if (rest % 5 === 0) {
      c = 5;
      rest /= 5;
    } else if (rest % 3 === 0) {
      c = 3;
      rest /= 3;
    }
    if ((rest & (rest - 1)) !== 0) throw new RangeError(`FFT size must be c * 2^k with c in {1, 3, 5}, got ${size}`);
    const radices: Array<2 | 3 | 4 | 5> = [];
    if (c !== 1) radices.push(c as 3 | 5);
    let k = Math.log2(rest);
    while (k >= 2) {
      radices.push(4);
      k -= 2;
    }
    if (k === 1) radices.push(2);
    return radices;
  }

  /**
   * @param options.topTwiddles false leaves stage 0's twiddle table empty,
   *   for users that apply stage 0 themselves (rightangle.ts).
   */
  constructor(size: number, options: { topTwiddles?: boolean } = {}) {
    const radices = Fft.radices(size);
    this.size = size;
    this.stages = [];
    for (let i = 0, span = size; i < radices.length; i++) {
      const r = radices[i]!;
      const s = span; // this stage's size, fixed for its table's closure
      const full = s <= BLOCK;
      const empty = i === radices.length - 1 || (i === 0 && options.topTwiddles === false);
      this.stages.push(new LazyStage(s, r, full, empty));
      span = s / r;
    }
  }

  /** In-place forward transform (sign -1), output in digit-reversed order. */
  forward(a: Float64Array): void {
    this.checkWhole(a);
    if (this.stages.length > 0) this.forwardRange(a, 0, 0);
  }

  /** In-place inverse (sign +1, unscaled) of `forward`: digit-reversed in, natural order out. */
  inverse(a: Float64Array): void {
    this.checkWhole(a);
    if (this.stages.length > 0) this.inverseRange(a, 0, 0);
  }

  private checkWhole(a: Float64Array): void {
    if (a.length !== 2 * this.size)
      throw new RangeError(`FFT data must hold ${2 * this.size} doubles, got ${a.length}`);
    const top = this.stages[0];
    if (top !== undefined && this.stages.length > 1 && top.tw.length === 0) {
      throw new Error(
        'this FFT was made without its top-stage twiddles (topTwiddles: false): only its lower stages can run',
      );
    }
  }

  private forwardRange(a: Float64Array, off: number, level: number): void {
    const st = this.stages[level]!;
    if (st.size <= BLOCK) {
      for (let lv = level; lv < this.stages.length; lv++)
        difStage(a, off, off + st.size, this.stages[lv]!, lv === this.stages.length - 1);
      return;
    }
    difStage(a, off, off + st.size, st, false);
    const q = st.size / st.radix;
    for (let p = 0; p < st.radix; p++) this.forwardRange(a, off + p * q, level + 1);
  }

  private inverseRange(a: Float64Array, off: number, level: number): void {
    const st = this.stages[level]!;
    if (st.size <= BLOCK) {
      for (let lv = this.stages.length - 1; lv >= level; lv--)
        ditStage(a, off, off + st.size, this.stages[lv]!, lv === this.stages.length - 1);
      return;
    }
    const q = st.size / st.radix;
    for (let p = 0; p < st.radix; p++) this.inverseRange(a, off + p * q, level + 1);
    ditStage(a, off, off + st.size, st, false);
  }
}

// ---------------------------------------------------------------- stages

const C5_1 = Math.cos((2 * Math.PI) / 5);
const C5_2 = Math.cos((4 * Math.PI) / 5);
const S5_1 = Math.sin((2 * Math.PI) / 5);
const S5_2 = Math.sin((4 * Math.PI) / 5);
const S3 = Math.sin((2 * Math.PI) / 3);

/** One DIF stage over complex range [start, end): groups of st.size. */
export function difStage(a: Float64Array, start: number, end: number, st: Stage, last: boolean): void {
  switch (st.radix) {
    case 4:
      if (last) dif4Last(a, start, end);
      else dif4(a, start, end, st.size, st.tw, st.full);
      return;
    case 2:
      dif2Last(a, start, end);
      return;
    case 5:
      dif5(a, start, end, st.size, st.tw, st.full, last);
      return;
    case 3:
      dif3(a, start, end, st.size, st.tw, st.full, last);
      return;
  }
}

export function ditStage(a: Float64Array, start: number, end: number, st: Stage, last: boolean): void {
  switch (st.radix) {
    case 4:
      if (last) dit4Last(a, start, end);
      else dit4(a, start, end, st.size, st.tw, st.full);
      return;
    case 2:
      dif2Last(a, start, end); // the twiddle-free radix-2 butterfly is its own transpose
      return;
    case 5:
      dit5(a, start, end, st.size, st.tw, st.full, last);
      return;
    case 3:
      dit3(a, start, end, st.size, st.tw, st.full, last);
      return;
  }
}

function dif2Last(a: Float64Array, start: number, end: number): void {
  for (let i = 2 * start, e = 2 * end; i < e; i += 4) {
    const ar = a[i]!,
      ai = a[i + 1]!,
      br = a[i + 2]!,
      bi = a[i + 3]!;
    a[i] = ar + br;
    a[i + 1] = ai + bi;
    a[i + 2] = ar - br;
    a[i + 3] = ai - bi;
  }
}

/** Radix-4 DIF with no twiddles (size 4 groups). */
function dif4Last(a: Float64Array, start: number, end: number): void {
  for (let i = 2 * start, e = 2 * end; i < e; i += 8) {
    const x0r = a[i]!,
      x0i = a[i + 1]!,
      x1r = a[i + 2]!,
      x1i = a[i + 3]!;
    const x2r = a[i + 4]!,
      x2i = a[i + 5]!,
      x3r = a[i + 6]!,
      x3i = a[i + 7]!;
    const t0r = x0r + x2r,
      t0i = x0i + x2i,
      t1r = x0r - x2r,
      t1i = x0i - x2i;
    const t2r = x1r + x3r,
      t2i = x1i + x3i,
      t3r = x1i - x3i,
      t3i = x3r - x1r; // (x1 - x3) * (-i)
    a[i] = t0r + t2r;
    a[i + 1] = t0i + t2i;
    a[i + 2] = t1r + t3r;
    a[i + 3] = t1i + t3i;
    a[i + 4] = t0r - t2r;
    a[i + 5] = t0i - t2i;
    a[i + 6] = t1r - t3r;
    a[i + 7] = t1i - t3i;
  }
}

/** Transpose of dif4Last with conjugate roots: (x1 - x3) * (+i). */
function dit4Last(a: Float64Array, start: number, end: number): void {
  for (let i = 2 * start, e = 2 * end; i < e; i += 8) {
    const y0r = a[i]!,
      y0i = a[i + 1]!,
      y1r = a[i + 2]!,
      y1i = a[i + 3]!;
    const y2r = a[i + 4]!,
      y2i = a[i + 5]!,
      y3r = a[i + 6]!,
      y3i = a[i + 7]!;
    const t0r = y0r + y2r,
      t0i = y0i + y2i,
      t1r = y0r - y2r,
      t1i = y0i - y2i;
    const t2r = y1r + y3r,
      t2i = y1i + y3i,
      t3r = y3i - y1i,
      t3i = y1r - y3r; // (y1 - y3) * (+i)
    a[i] = t0r + t2r;
    a[i + 1] = t0i + t2i;
    a[i + 2] = t1r + t3r;
    a[i + 3] = t1i + t3i;
    a[i + 4] = t0r - t2r;
    a[i + 5] = t0i - t2i;
    a[i + 6] = t1r - t3r;
    a[i + 7] = t1i - t3i;
  }
}

/**
 * Radix-4 DIF stage: for each group of `size` and j < size/4, with
 * u_q = a[j + q size/4]: v_p = sum_q u_q (-i)^(pq), a[j + p size/4] = v_p w^(pj).
 */
function dif4(a: Float64Array, start: number, end: number, size: number, tw: Float64Array, full: boolean): void {
  const q = size >> 2;
  const q2 = 2 * q;
  for (let g = start; g < end; g += size) {
    for (let j = 0; j < q; j++) {
      let w1r: number, w1i: number, w2r: number, w2i: number, w3r: number, w3i: number;
      if (full) {
        const t = 6 * j;
        w1r = tw[t]!;
        w1i = tw[t + 1]!;
        w2r = tw[t + 2]!;
        w2i = tw[t + 3]!;
        w3r = tw[t + 4]!;
        w3i = tw[t + 5]!;
      } else {
        w1r = tw[2 * j]!;
        w1i = tw[2 * j + 1]!;
        w2r = w1r * w1r - w1i * w1i;
        w2i = 2 * w1r * w1i;
        w3r = w2r * w1r - w2i * w1i;
        w3i = w2r * w1i + w2i * w1r;
      }
      const i0 = 2 * (g + j),
        i1 = i0 + q2,
        i2 = i1 + q2,
        i3 = i2 + q2;
      const x0r = a[i0]!,
        x0i = a[i0 + 1]!,
        x1r = a[i1]!,
        x1i = a[i1 + 1]!;
      const x2r = a[i2]!,
        x2i = a[i2 + 1]!,
        x3r = a[i3]!,
        x3i = a[i3 + 1]!;
      const t0r = x0r + x2r,
        t0i = x0i + x2i,
        t1r = x0r - x2r,
        t1i = x0i - x2i;
      const t2r = x1r + x3r,
        t2i = x1i + x3i,
        t3r = x1i - x3i,
        t3i = x3r - x1r;
      a[i0] = t0r + t2r;
      a[i0 + 1] = t0i + t2i;
      const v1r = t1r + t3r,
        v1i = t1i + t3i;
      const v2r = t0r - t2r,
        v2i = t0i - t2i;
      const v3r = t1r - t3r,
        v3i = t1i - t3i;
      a[i1] = v1r * w1r - v1i * w1i;
      a[i1 + 1] = v1r * w1i + v1i * w1r;
      a[i2] = v2r * w2r - v2i * w2i;
      a[i2 + 1] = v2r * w2i + v2i * w2r;
      a[i3] = v3r * w3r - v3i * w3i;
      a[i3 + 1] = v3r * w3i + v3i * w3r;
    }
  }
}

/** Conjugate transpose of dif4: u_p = a[j + p size/4] conj(w^(pj)), a[j + q size/4] = sum_p u_p (+i)^(pq). */
function dit4(a: Float64Array, start: number, end: number, size: number, tw: Float64Array, full: boolean): void {
  const q = size >> 2;
  const q2 = 2 * q;
  for (let g = start; g < end; g += size) {
    for (let j = 0; j < q; j++) {
      let w1r: number, w1i: number, w2r: number, w2i: number, w3r: number, w3i: number;
      if (full) {
        const t = 6 * j;
        w1r = tw[t]!;
        w1i = tw[t + 1]!;
        w2r = tw[t + 2]!;
        w2i = tw[t + 3]!;
        w3r = tw[t + 4]!;
        w3i = tw[t + 5]!;
      } else {
        w1r = tw[2 * j]!;
        w1i = tw[2 * j + 1]!;
        w2r = w1r * w1r - w1i * w1i;
        w2i = 2 * w1r * w1i;
        w3r = w2r * w1r - w2i * w1i;
        w3i = w2r * w1i + w2i * w1r;
      }
      const i0 = 2 * (g + j),
        i1 = i0 + q2,
        i2 = i1 + q2,
        i3 = i2 + q2;
      const y0r = a[i0]!,
        y0i = a[i0 + 1]!;
      const a1r = a[i1]!,
        a1i = a[i1 + 1]!,
        a2r = a[i2]!,
        a2i = a[i2 + 1]!,
        a3r = a[i3]!,
        a3i = a[i3 + 1]!;
      // multiply by conjugate twiddles
      const y1r = a1r * w1r + a1i * w1i,
        y1i = a1i * w1r - a1r * w1i;
      const y2r = a2r * w2r + a2i * w2i,
        y2i = a2i * w2r - a2r * w2i;
      const y3r = a3r * w3r + a3i * w3i,
        y3i = a3i * w3r - a3r * w3i;
      const t0r = y0r + y2r,
        t0i = y0i + y2i,
        t1r = y0r - y2r,
        t1i = y0i - y2i;
      const t2r = y1r + y3r,
        t2i = y1i + y3i,
        t3r = y3i - y1i,
        t3i = y1r - y3r;
      a[i0] = t0r + t2r;
      a[i0 + 1] = t0i + t2i;
      a[i1] = t1r + t3r;
      a[i1 + 1] = t1i + t3i;
      a[i2] = t0r - t2r;
      a[i2 + 1] = t0i - t2i;
      a[i3] = t1r - t3r;
      a[i3 + 1] = t1i - t3i;
    }
  }
}

/** Radix-5 DIF stage (forward roots W = exp(-2 pi i / 5)). */
function dif5(
  a: Float64Array,
  start: number,
  end: number,
  size: number,
  tw: Float64Array,
  full: boolean,
  last: boolean,
): void {
  const q = size / 5;
  const q2 = 2 * q;
  for (let g = start; g < end; g += size) {
    for (let j = 0; j < q; j++) {
      const i0 = 2 * (g + j),
        i1 = i0 + q2,
        i2 = i1 + q2,
        i3 = i2 + q2,
        i4 = i3 + q2;
      const x0r = a[i0]!,
        x0i = a[i0 + 1]!;
      const a1r = a[i1]! + a[i4]!,
        a1i = a[i1 + 1]! + a[i4 + 1]!,
        b1r = a[i1]! - a[i4]!,
        b1i = a[i1 + 1]! - a[i4 + 1]!;
      const a2r = a[i2]! + a[i3]!,
        a2i = a[i2 + 1]! + a[i3 + 1]!,
        b2r = a[i2]! - a[i3]!,
        b2i = a[i2 + 1]! - a[i3 + 1]!;
      a[i0] = x0r + a1r + a2r;
      a[i0 + 1] = x0i + a1i + a2i;
      const p1r = x0r + C5_1 * a1r + C5_2 * a2r,
        p1i = x0i + C5_1 * a1i + C5_2 * a2i;
      const p2r = x0r + C5_2 * a1r + C5_1 * a2r,
        p2i = x0i + C5_2 * a1i + C5_1 * a2i;
      // m1 = s1 b1 + s2 b2, m2 = s2 b1 - s1 b2; v1 = p1 - i m1, v4 = p1 + i m1, v2 = p2 - i m2, v3 = p2 + i m2
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
      if (last) {
        a[i1] = v1r;
        a[i1 + 1] = v1i;
        a[i2] = v2r;
        a[i2 + 1] = v2i;
        a[i3] = v3r;
        a[i3 + 1] = v3i;
        a[i4] = v4r;
        a[i4 + 1] = v4i;
        continue;
      }
      let w1r: number, w1i: number, w2r: number, w2i: number, w3r: number, w3i: number, w4r: number, w4i: number;
      if (full) {
        const t = 8 * j;
        w1r = tw[t]!;
        w1i = tw[t + 1]!;
        w2r = tw[t + 2]!;
        w2i = tw[t + 3]!;
        w3r = tw[t + 4]!;
        w3i = tw[t + 5]!;
        w4r = tw[t + 6]!;
        w4i = tw[t + 7]!;
      } else {
        w1r = tw[2 * j]!;
        w1i = tw[2 * j + 1]!;
        w2r = w1r * w1r - w1i * w1i;
        w2i = 2 * w1r * w1i;
        w3r = w2r * w1r - w2i * w1i;
        w3i = w2r * w1i + w2i * w1r;
        w4r = w2r * w2r - w2i * w2i;
        w4i = 2 * w2r * w2i;
      }
      a[i1] = v1r * w1r - v1i * w1i;
      a[i1 + 1] = v1r * w1i + v1i * w1r;
      a[i2] = v2r * w2r - v2i * w2i;
      a[i2 + 1] = v2r * w2i + v2i * w2r;
      a[i3] = v3r * w3r - v3i * w3i;
      a[i3 + 1] = v3r * w3i + v3i * w3r;
      a[i4] = v4r * w4r - v4i * w4i;
      a[i4 + 1] = v4r * w4i + v4i * w4r;
    }
  }
}

/** Conjugate transpose of dif5. */
function dit5(
  a: Float64Array,
  start: number,
  end: number,
  size: number,
  tw: Float64Array,
  full: boolean,
  last: boolean,
): void {
  const q = size / 5;
  const q2 = 2 * q;
  for (let g = start; g < end; g += size) {
    for (let j = 0; j < q; j++) {
      const i0 = 2 * (g + j),
        i1 = i0 + q2,
        i2 = i1 + q2,
        i3 = i2 + q2,
        i4 = i3 + q2;
      let y1r = a[i1]!,
        y1i = a[i1 + 1]!,
        y2r = a[i2]!,
        y2i = a[i2 + 1]!;
      let y3r = a[i3]!,
        y3i = a[i3 + 1]!,
        y4r = a[i4]!,
        y4i = a[i4 + 1]!;
      if (!last) {
        let w1r: number, w1i: number, w2r: number, w2i: number, w3r: number, w3i: number, w4r: number, w4i: number;
        if (full) {
          const t = 8 * j;
          w1r = tw[t]!;
          w1i = tw[t + 1]!;
          w2r = tw[t + 2]!;
          w2i = tw[t + 3]!;
          w3r = tw[t + 4]!;
          w3i = tw[t + 5]!;
          w4r = tw[t + 6]!;
          w4i = tw[t + 7]!;
        } else {
          w1r = tw[2 * j]!;
          w1i = tw[2 * j + 1]!;
          w2r = w1r * w1r - w1i * w1i;
          w2i = 2 * w1r * w1i;
          w3r = w2r * w1r - w2i * w1i;
          w3i = w2r * w1i + w2i * w1r;
          w4r = w2r * w2r - w2i * w2i;
          w4i = 2 * w2r * w2i;
        }
        let tr = y1r;
        y1r = tr * w1r + y1i * w1i;
        y1i = y1i * w1r - tr * w1i;
        tr = y2r;
        y2r = tr * w2r + y2i * w2i;
        y2i = y2i * w2r - tr * w2i;
        tr = y3r;
        y3r = tr * w3r + y3i * w3i;
        y3i = y3i * w3r - tr * w3i;
        tr = y4r;
        y4r = tr * w4r + y4i * w4i;
        y4i = y4i * w4r - tr * w4i;
      }
      const x0r = a[i0]!,
        x0i = a[i0 + 1]!;
      const a1r = y1r + y4r,
        a1i = y1i + y4i,
        b1r = y1r - y4r,
        b1i = y1i - y4i;
      const a2r = y2r + y3r,
        a2i = y2i + y3i,
        b2r = y2r - y3r,
        b2i = y2i - y3i;
      a[i0] = x0r + a1r + a2r;
      a[i0 + 1] = x0i + a1i + a2i;
      const p1r = x0r + C5_1 * a1r + C5_2 * a2r,
        p1i = x0i + C5_1 * a1i + C5_2 * a2i;
      const p2r = x0r + C5_2 * a1r + C5_1 * a2r,
        p2i = x0i + C5_2 * a1i + C5_1 * a2i;
      const m1r = S5_1 * b1r + S5_2 * b2r,
        m1i = S5_1 * b1i + S5_2 * b2i;
      const m2r = S5_2 * b1r - S5_1 * b2r,
        m2i = S5_2 * b1i - S5_1 * b2i;
      // conjugate roots: v1 = p1 + i m1, v4 = p1 - i m1, v2 = p2 + i m2, v3 = p2 - i m2
      a[i1] = p1r - m1i;
      a[i1 + 1] = p1i + m1r;
      a[i4] = p1r + m1i;
      a[i4 + 1] = p1i - m1r;
      a[i2] = p2r - m2i;
      a[i2 + 1] = p2i + m2r;
      a[i3] = p2r + m2i;
      a[i3 + 1] = p2i - m2r;
    }
  }
}

/** Radix-3 DIF stage (W = exp(-2 pi i / 3)). */
function dif3(
  a: Float64Array,
  start: number,
  end: number,
  size: number,
  tw: Float64Array,
  full: boolean,
  last: boolean,
): void {
  const q = size / 3;
  const q2 = 2 * q;
  for (let g = start; g < end; g += size) {
    for (let j = 0; j < q; j++) {
      const i0 = 2 * (g + j),
        i1 = i0 + q2,
        i2 = i1 + q2;
      const x0r = a[i0]!,
        x0i = a[i0 + 1]!;
      const sr = a[i1]! + a[i2]!,
        si = a[i1 + 1]! + a[i2 + 1]!;
      const dr = a[i1]! - a[i2]!,
        di = a[i1 + 1]! - a[i2 + 1]!;
      a[i0] = x0r + sr;
      a[i0 + 1] = x0i + si;
      const pr = x0r - 0.5 * sr,
        pi = x0i - 0.5 * si;
      const mr = S3 * dr,
        mi = S3 * di;
      // v1 = p - i m, v2 = p + i m
      const v1r = pr + mi,
        v1i = pi - mr,
        v2r = pr - mi,
        v2i = pi + mr;
      if (last) {
        a[i1] = v1r;
        a[i1 + 1] = v1i;
        a[i2] = v2r;
        a[i2 + 1] = v2i;
        continue;
      }
      let w1r: number, w1i: number, w2r: number, w2i: number;
      if (full) {
        const t = 4 * j;
        w1r = tw[t]!;
        w1i = tw[t + 1]!;
        w2r = tw[t + 2]!;
        w2i = tw[t + 3]!;
      } else {
        w1r = tw[2 * j]!;
        w1i = tw[2 * j + 1]!;
        w2r = w1r * w1r - w1i * w1i;
        w2i = 2 * w1r * w1i;
      }
      a[i1] = v1r * w1r - v1i * w1i;
      a[i1 + 1] = v1r * w1i + v1i * w1r;
      a[i2] = v2r * w2r - v2i * w2i;
      a[i2 + 1] = v2r * w2i + v2i * w2r;
    }
  }
}

/** Conjugate transpose of dif3. */
function dit3(
  a: Float64Array,
  start: number,
  end: number,
  size: number,
  tw: Float64Array,
  full: boolean,
  last: boolean,
): void {
  const q = size / 3;
  const q2 = 2 * q;
  for (let g = start; g < end; g += size) {
    for (let j = 0; j < q; j++) {
      const i0 = 2 * (g + j),
        i1 = i0 + q2,
        i2 = i1 + q2;
      let y1r = a[i1]!,
        y1i = a[i1 + 1]!,
        y2r = a[i2]!,
        y2i = a[i2 + 1]!;
      if (!last) {
        let w1r: number, w1i: number, w2r: number, w2i: number;
        if (full) {
          const t = 4 * j;
          w1r = tw[t]!;
          w1i = tw[t + 1]!;
          w2r = tw[t + 2]!;
          w2i = tw[t + 3]!;
        } else {
          w1r = tw[2 * j]!;
          w1i = tw[2 * j + 1]!;
          w2r = w1r * w1r - w1i * w1i;
          w2i = 2 * w1r * w1i;
        }
        let tr = y1r;
        y1r = tr * w1r + y1i * w1i;
        y1i = y1i * w1r - tr * w1i;
        tr = y2r;
        y2r = tr * w2r + y2i * w2i;
        y2i = y2i * w2r - tr * w2i;
      }
      const x0r = a[i0]!,
        x0i = a[i0 + 1]!;
      const sr = y1r + y2r,
        si = y1i + y2i,
        dr = y1r - y2r,
        di = y1i - y2i;
      a[i0] = x0r + sr;
      a[i0 + 1] = x0i + si;
      const pr = x0r - 0.5 * sr,
        pi = x0i - 0.5 * si;
      const mr = S3 * dr,
        mi = S3 * di;
      // conjugate roots: v1 = p + i m, v2 = p - i m
      a[i1] = pr - mi;
      a[i1 + 1] = pi + mr;
      a[i2] = pr + mi;
      a[i2 + 1] = pi - mr;
    }
  }
}

/** a[k] *= spec[k] for the complex points from..to-1 (interleaved re, im): the spectra's product, in place. */
export function multiplySpectra(a: Float64Array, spec: Float64Array, from: number, to: number): void {
  for (let k = 2 * from, e = 2 * to; k < e; k += 2) {
    const xr = a[k]!,
      xi = a[k + 1]!,
      sr = spec[k]!,
      si = spec[k + 1]!;
    a[k] = xr * sr - xi * si;
    a[k + 1] = xr * si + xi * sr;
  }
}
