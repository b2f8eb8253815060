/**
 * Seeded pseudo-random numbers for the chip simulator: deterministic for a seed, fast, and with exact samplers for the
 * distributions the physics needs. More in README.md (rng.ts).
 */

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** splitmix32 step (a 32-bit variant of Steele, Lea, Flood 2014): mixes a counter into a well-spread word. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Hash any non-negative integer seed (up to 2^53) and a stream label into a 32-bit word. */
export function mixSeed(seed: number, stream = 0): number {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  const st = { s: (seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2f) };
  splitmix32(st);
  st.s ^= Math.floor(seed / TWO_POW_32) >>> 0;
  splitmix32(st);
  return splitmix32(st);
}

export class Rng {
  /** xoshiro128** state words (exposed so hot loops can inline the step). */
  s0: number;
  s1: number;
  s2: number;
  s3: number;
  private spareNormal: number | undefined;

  /** @param seed non-negative integer; @param stream selects an independent stream for the same seed. */
  constructor(seed: number, stream = 0) {
    const st = { s: mixSeed(seed, stream) };
    this.s0 = splitmix32(st) | 0;
    this.s1 = splitmix32(st) | 0;
    this.s2 = splitmix32(st) | 0;
    this.s3 = splitmix32(st) | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next uniform 32-bit word as an unsigned number. */
  u32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.u32() >>> 5; // 27 bits
    const lo = this.u32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  /** Uniform double in (0, 1): never 0, safe under log. */
  floatOpen(): number {
    let u = this.float();
    while (u === 0) u = this.float();
    return u;
  }

  /** Uniform integer in [0, n), n <= 2^32, without modulo bias. */
  below(n: number): number {
    if (n <= 0 || n > TWO_POW_32) throw new RangeError(`below(n): n must be in 1..2^32, got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let u = this.u32();
    while (u >= limit) u = this.u32();
    return u % n;
  }

  /** Uniform double in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Standard normal variate (Marsaglia polar method). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    for (;;) {
      const u = 2 * this.float() - 1;
      const v = 2 * this.float() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        this.spareNormal = v * f;
        return u * f;
      }
    }
  }

  /** Bernoulli(p). */
  bernoulli(p: number): boolean {
    return this.float() < p;
  }

  /** Exact Binomial(n, p) variate for any integer n >= 0 (up to 2^53). */
  binomial(n: number, p: number): number {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`binomial: n must be a non-negative integer, got ${n}`);
    if (!(p >= 0 && p <= 1)) throw new RangeError(`binomial: p must be in [0, 1], got ${p}`);
    if (n === 0 || p === 0) return 0;
    if (p === 1) return n;
    if (p > 0.5) return n - this.binomial(n, 1 - p);
    if (n * p < 14) return this.binomialInversion(n, p);
    return this.binomialBtrs(n, p);
  }

  /** Inversion by sequential search from 0 (Devroye 1986, X.4.3); used when the mean is small. */
  private binomialInversion(n: number, p: number): number {
    const q = 1 - p;
    const s = p / q;
    const a = (n + 1) * s;
    for (;;) {
      // P(0) = q^n, computed in logs so that large n with tiny p does not underflow early.
      let r = Math.exp(n * Math.log1p(-p));
      let u = this.float();
      let x = 0;
      let ok = true;
      while (u > r) {
        u -= r;
        x++;
        if (x > n) {
          ok = false; // rounding residue: draw again
          break;
        }
        r *= a / x - s;
      }
      if (ok) return x;
    }
  }

  /** BTRS (Hormann 1993, algorithm BTRS), p <= 0.5, n p >= 10. */
  private binomialBtrs(n: number, p: number): number {
    const q = 1 - p;
    const spq = Math.sqrt(n * p * q);
    const b = 1.15 + 2.53 * spq;
    const a = -0.0873 + 0.0248 * b + 0.01 * p;
    const c = n * p + 0.5;
    const vr = 0.92 - 4.2 / b;
    const alpha = (2.83 + 5.1 / b) * spq;
    const lpq = Math.log(p / q);
    const m = Math.floor((n + 1) * p);
    const h = logFactorial(m) + logFactorial(n - m);
    for (;;) {
      const u = this.float() - 0.5;
      let v = this.floatOpen();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor(((2 * a) / us + b) * u + c);
      if (k < 0 || k > n) continue;
      if (us >= 0.07 && v <= vr) return k;
      v = Math.log((v * alpha) / (a / (us * us) + b));
      if (v <= h - logFactorial(k) - logFactorial(n - k) + (k - m) * lpq) return k;
    }
  }

  /**
   * Exact Multinomial(n, probs) by conditional binomials. probs must be
   * non-negative; they are normalised by their sum.
   */
  multinomial(n: number, probs: ArrayLike<number>, out: number[] = new Array<number>(probs.length)): number[] {
    let rest = 0;
    for (let i = 0; i < probs.length; i++) rest += probs[i]!;
    let left = n;
    const last = probs.length - 1;
    for (let i = 0; i < last; i++) {
      const p = probs[i]!;
      if (left === 0 || rest <= 0) {
        out[i] = 0;
        continue;
      }
      const k = this.binomial(left, Math.min(1, Math.max(0, p / rest)));
      out[i] = k;
      left -= k;
      rest -= p;
    }
    if (last >= 0) out[last] = left;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const LOG_FACT_TABLE: number[] = (() => {
  const t = [0];
  for (let i = 1; i < 64; i++) t.push(t[i - 1]! + Math.log(i));
  return t;
})();
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln(k!) exact-by-table below 64, else Stirling's series to 1/(1260 x^5) (error < 1e-14 there). */
export function logFactorial(k: number): number {
  if (k < 64) return LOG_FACT_TABLE[k]!;
  const x = k + 1;
  const x2 = x * x;
  return (x - 0.5) * Math.log(x) - x + HALF_LOG_2PI + (1 / 12 - (1 / 360 - 1 / (1260 * x2)) / x2) / x;
}
