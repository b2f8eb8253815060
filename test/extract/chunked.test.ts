import { describe, expect, it } from 'vitest';
import { bytesForBits, getBit, toeplitzHashNaive } from '../../src/extract/naive.ts';
import { toeplitzHash, toeplitzWords } from '../../src/extract/toeplitz.ts';
import { ChunkedToeplitzPlan, chunkLayout, DEFAULT_MAX_FFT_SIZE } from '../../src/extract/chunked.ts';
import { goodFftSize } from '../../src/extract/fft/fft.ts';
import { mulberry32 as prng } from '../prng.ts';

/** Random bytes holding `bits` bits, with garbage in the spare high bits (the extractor must ignore them). */
function randomBits(rand: () => number, bits: number): Uint8Array {
  const out = new Uint8Array(bytesForBits(bits));
  for (let b = 0; b < out.length; b++) out[b] = Math.floor(rand() * 256);
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('ChunkedToeplitzPlan', () => {
  it('equals the naive product on 60 random (n, m, chunk bound) cases, n not a multiple of the chunk width, SIMD and plain', () => {
    const rand = prng(0xc4a2);
    let multiChunk = 0;
    let ragged = 0;
    for (let k = 0; k < 60; k++) {
      const n = 200 + Math.floor(rand() * 30000);
      const m = 1 + Math.floor(rand() * Math.min(n, 2000));
      // the smallest good size that still fits a 64-bit chunk, up to one chunk for the whole input
      const smallest = goodFftSize(Math.ceil((64 + m - 1) / 2) + 32);
      const maxFftSize = goodFftSize(smallest + Math.floor((rand() * n) / 4));
      const x = randomBits(rand, n);
      const s = randomBits(rand, n + m - 1);
      const want = hex(toeplitzHashNaive(x, n, m, s));
      const plan = new ChunkedToeplitzPlan(n, m, s, { maxFftSize });
      expect(hex(plan.hash(x)), `n=${n} m=${m} N<=${maxFftSize}`).toBe(want);
      expect(plan.fftSize).toBeLessThanOrEqual(maxFftSize);
      expect(plan.stats.fallbacks).toBe(0);
      const plain = new ChunkedToeplitzPlan(n, m, s, { maxFftSize, simd: false });
      expect(hex(plain.hash(x)), `plain n=${n} m=${m}`).toBe(want);
      if (plan.chunks > 1) multiChunk++;
      if (n % plan.chunkBits !== 0) ragged++;
    }
    expect(multiChunk).toBeGreaterThanOrEqual(40);
    expect(ragged).toBeGreaterThanOrEqual(30);
  });

  it("serves shorter outputs (the first m' bits of the full hash) with one plan, across blocks", () => {
    const rand = prng(7);
    const n = 40000,
      m = 3000;
    const s = randomBits(rand, n + m - 1);
    const plan = new ChunkedToeplitzPlan(n, m, s, { maxFftSize: 4096 });
    expect(plan.chunks).toBeGreaterThanOrEqual(8);
    for (const outBits of [m, 1, 8, 1234, 2999]) {
      const x = randomBits(rand, n);
      expect(hex(plan.hash(x, outBits)), `m'=${outBits}`).toBe(hex(toeplitzHashNaive(x, n, outBits, s)));
    }
  });

  it('equals toeplitzHash at n = 2^20 + 5, m = 2^15 + 3 over 2^16-point chunks (the SIMD kernels)', () => {
    const rand = prng(11);
    const n = 2 ** 20 + 5,
      m = 2 ** 15 + 3;
    const x = randomBits(rand, n);
    const s = randomBits(rand, n + m - 1);
    const plan = new ChunkedToeplitzPlan(n, m, s, { maxFftSize: 2 ** 16 });
    expect(plan.chunks).toBe(Math.ceil(n / plan.chunkBits));
    expect(plan.chunks).toBeGreaterThanOrEqual(9);
    const y = plan.hash(x);
    expect(plan.simd).toBe(true);
    expect(hex(y)).toBe(hex(toeplitzHash(x, n, m, s)));
    // a product of n terms of 0/1: Percival's bound puts the error far below the 0.25 tolerance
    expect(plan.stats.maxRoundingError).toBeLessThan(1e-6);
  });

  it('recomputes a chunk exactly when its rounding check fails (forced by a negative tolerance)', () => {
    const rand = prng(3);
    const n = 9000,
      m = 700;
    const x = randomBits(rand, n);
    const s = randomBits(rand, n + m - 1);
    const plan = new ChunkedToeplitzPlan(n, m, s, { maxFftSize: 2048, roundingTolerance: -1 });
    expect(hex(plan.hash(x))).toBe(hex(toeplitzWords(x, n, m, s)));
    expect(plan.stats.fallbacks).toBe(plan.chunks);
    expect(plan.chunks).toBeGreaterThan(2);
  });

  it('one chunk when the whole product fits the bound; output bits past m are zero', () => {
    const rand = prng(5);
    const n = 5000,
      m = 13;
    const x = randomBits(rand, n);
    const s = randomBits(rand, n + m - 1);
    const plan = new ChunkedToeplitzPlan(n, m, s);
    expect(plan.chunks).toBe(1);
    const y = plan.hash(x);
    expect(hex(y)).toBe(hex(toeplitzHashNaive(x, n, m, s)));
    for (let k = m; k < y.length * 8; k++) expect(getBit(y, k)).toBe(0);
  });

  it('bounds the transform at the default size for a block of 2^22 trials at 2 bits each', () => {
    for (const m of [8, 300_000, 1_070_000, 2_000_000, 2 ** 22]) {
      const n = 2 ** 23;
      const layout = chunkLayout(n, m);
      expect(layout.fftSize).toBeLessThanOrEqual(DEFAULT_MAX_FFT_SIZE);
      expect(2 * layout.fftSize).toBeGreaterThanOrEqual(layout.chunkBits + layout.rowBits - 1);
      expect(layout.chunks * layout.chunkBits).toBeGreaterThanOrEqual(n);
      expect((layout.chunks - 1) * layout.chunkBits).toBeLessThan(n);
      expect(layout.chunkBits % 64).toBe(0);
    }
  });

  it('takes m above the transform bound in passes of rows, equal to the naive product (SIMD and plain, shorter outputs across pass edges)', () => {
    const rand = prng(0x70a5);
    let passes = 0;
    for (let k = 0; k < 30; k++) {
      const n = 2000 + Math.floor(rand() * 10000);
      const maxFftSize = goodFftSize(128 + Math.floor(rand() * 1500));
      const m = Math.min(n, maxFftSize + 1 + Math.floor(rand() * 3 * maxFftSize));
      const x = randomBits(rand, n);
      const s = randomBits(rand, n + m - 1);
      const plan = new ChunkedToeplitzPlan(n, m, s, { maxFftSize });
      if (plan.rowBits < m) {
        expect(plan.rowBits % 64).toBe(0);
        expect(plan.rowBits).toBeLessThanOrEqual(maxFftSize);
        passes += Math.ceil(m / plan.rowBits);
      }
      expect(plan.fftSize).toBeLessThanOrEqual(maxFftSize);
      for (const outBits of [m, Math.min(m, plan.rowBits + 5), Math.min(m, 2 * plan.rowBits)]) {
        const want = hex(toeplitzHashNaive(x, n, outBits, s));
        expect(hex(plan.hash(x, outBits)), `n=${n} m=${m} m'=${outBits} N<=${maxFftSize}`).toBe(want);
      }
      expect(plan.stats.fallbacks).toBe(0);
      const plain = new ChunkedToeplitzPlan(n, m, s, { maxFftSize, simd: false });
      expect(hex(plain.hash(x)), `plain n=${n} m=${m}`).toBe(hex(toeplitzHashNaive(x, n, m, s)));
    }
    expect(passes).toBeGreaterThanOrEqual(40);
  });

  it('a block of many trials: m = 2^19 + 77 rows over 2^16-point transforms equals toeplitzHash; a failed rounding check is redone exactly', () => {
    const rand = prng(19);
    const n = 2 ** 21,
      m = 2 ** 19 + 77;
    const x = randomBits(rand, n);
    const s = randomBits(rand, n + m - 1);
    const plan = new ChunkedToeplitzPlan(n, m, s, { maxFftSize: 2 ** 16 });
    expect(plan.rowBits).toBe(2 ** 16);
    const want = hex(toeplitzHash(x, n, m, s));
    expect(hex(plan.hash(x))).toBe(want);
    expect(plan.stats.maxRoundingError).toBeLessThan(1e-6);
    const small = new ChunkedToeplitzPlan(9000, 3000, s, { maxFftSize: 1024, roundingTolerance: -1 });
    expect(hex(small.hash(x))).toBe(hex(toeplitzWords(x, 9000, 3000, s)));
    expect(small.stats.fallbacks).toBeGreaterThan(0);
  });

  it('names bad arguments', () => {
    const s = new Uint8Array(64);
    expect(() => new ChunkedToeplitzPlan(100, 10, s, { maxFftSize: 1000 })).toThrow(
      '"maxFftSize" must be c * 2^k with c in {1, 3, 5}, got 1000',
    );
    expect(() => new ChunkedToeplitzPlan(100, 101, s)).toThrow('"m" must be an integer in 1..n (n = 100), got 101');
    expect(() => new ChunkedToeplitzPlan(500, 100, s)).toThrow('seed holds 512 bits, n + m - 1 = 599 bits needed');
    expect(() => new ChunkedToeplitzPlan(100, 10, s, { roundingTolerance: 0.5 })).toThrow(
      '"roundingTolerance" must be a number below 0.5, got 0.5',
    );
    expect(() => chunkLayout(2 ** 20, 5000, 32)).toThrow('"maxFftSize" 32 is too small for m = 5000');
    const plan = new ChunkedToeplitzPlan(100, 10, s);
    expect(() => plan.hash(new Uint8Array(12))).toThrow('input holds 96 bits, n = 100 bits needed');
    expect(() => plan.hash(new Uint8Array(13), 11)).toThrow('"outputBits" must be an integer in 1..m (m = 10), got 11');
  });
});

describe('ChunkedToeplitzPlan replacing another (a run whose m changes)', () => {
  it('gives the exact hash after taking over a plan of the same transform size or not, and the old plan still works', () => {
    const rand = prng(13);
    const n = 30000;
    const s = randomBits(rand, n + 4000 - 1);
    const x = randomBits(rand, n);
    const first = new ChunkedToeplitzPlan(n, 3000, s, { maxFftSize: 4096 });
    expect(hex(first.hash(x))).toBe(hex(toeplitzHashNaive(x, n, 3000, s)));
    const second = new ChunkedToeplitzPlan(n, 3500, s, { maxFftSize: 4096, from: first });
    expect(second.fftSize).toBe(first.fftSize);
    expect(second.chunkBits).toBeLessThan(first.chunkBits);
    expect(hex(second.hash(x))).toBe(hex(toeplitzHashNaive(x, n, 3500, s)));
    // a different size makes its own
    const third = new ChunkedToeplitzPlan(n, 4000, s, { maxFftSize: 8192, from: second });
    expect(third.fftSize).not.toBe(second.fftSize);
    expect(hex(third.hash(x, 77))).toBe(hex(toeplitzHashNaive(x, n, 77, s)));
    expect(hex(first.hash(x, 9))).toBe(hex(toeplitzHashNaive(x, n, 9, s)));
  });
});

describe('ChunkedToeplitzPlan taking over transforms (no new memory or tables per block)', () => {
  /** The transform memory of a one-transform plan (ToeplitzPlan's FftCore), null before its first hash. */
  const convOf = (p: ChunkedToeplitzPlan) =>
    (p as unknown as { single: { core: { conv: object | null } | null } | null }).single?.core?.conv ?? null;

  it('a one-transform plan (a short block) takes over the memory of the plan it replaces when the size is the same', () => {
    const rand = prng(14);
    const s = randomBits(rand, 40000);
    const x = randomBits(rand, 31000);
    const first = new ChunkedToeplitzPlan(30000, 3000, s, { method: 'fft' });
    expect(hex(first.hash(x))).toBe(hex(toeplitzHashNaive(x, 30000, 3000, s)));
    const memory = convOf(first);
    expect(memory).not.toBeNull();
    // n' = 30500, m' = 3100: the same transform size (goodFftSize(16800) = goodFftSize(16500))
    const second = new ChunkedToeplitzPlan(30500, 3100, s, { method: 'fft', from: first });
    expect(second.fftSize).toBe(first.fftSize);
    expect(hex(second.hash(x, 3050))).toBe(hex(toeplitzHashNaive(x, 30500, 3050, s)));
    expect(convOf(second)).toBe(memory);
    // another size makes its own
    const third = new ChunkedToeplitzPlan(9000, 900, s, { method: 'fft', from: second });
    expect(third.fftSize).not.toBe(second.fftSize);
    expect(hex(third.hash(x))).toBe(hex(toeplitzHashNaive(x, 9000, 900, s)));
    expect(convOf(third)).not.toBe(memory);
  });

  it("at the default bound, a 2^22-trial block's plans from 0.6 Mbit to mMax have the worker warm-up plan's transform size", () => {
    // the worker prepares a plan for mMax / 4 (block-hasher.ts) while the first block is certified; a block's plan of
    // the same transform size takes its tables and memory over (the calibrated chip certifies about 1.48 Mbit; plans of
    // 0.39 and 0.52 Mbit, 3 and 4 steps, take 5 * 2^18 points and build their own)
    const n = 2 ** 23,
      mMax = 2 ** 22,
      step = mMax / 32;
    const warm = chunkLayout(n, mMax / 4).fftSize;
    for (let m = 5 * step; m <= mMax; m += step) expect(chunkLayout(n, m).fftSize, `m = ${m}`).toBe(warm);
  });
});

describe('ChunkedToeplitzPlan exact fallback', () => {
  it('recomputes chunks with more rows than columns (m > chunk width) exactly when the check fails', () => {
    const rand = prng(17);
    const n = 6000,
      m = 2500;
    const x = randomBits(rand, n);
    const s = randomBits(rand, n + m - 1);
    // 2N = 4096 bits per product: chunks of at most 4096 - 2500 + 1 bits, narrower than m
    const plan = new ChunkedToeplitzPlan(n, m, s, { maxFftSize: 2048, roundingTolerance: -1 });
    expect(plan.chunkBits).toBeLessThan(m);
    expect(hex(plan.hash(x))).toBe(hex(toeplitzHashNaive(x, n, m, s)));
    expect(plan.stats.fallbacks).toBe(plan.chunks);
  });
});

describe('ChunkedToeplitzPlan summed in the frequency domain', () => {
  it('equals the naive product for top radix 3, 4 and 5 (packed codes in WebAssembly), ragged last chunk, several output lengths', () => {
    const rand = prng(23);
    const n = 50_000 + 13;
    const m = 1500;
    const s = randomBits(rand, n + m - 1);
    for (const maxFftSize of [3 * 2 ** 11, 2 ** 12, 5 * 2 ** 10]) {
      const plan = new ChunkedToeplitzPlan(n, m, s, { maxFftSize });
      expect(plan.fftSize, `bound ${maxFftSize}`).toBe(maxFftSize);
      expect(plan.chunks).toBeGreaterThanOrEqual(5);
      for (const outBits of [m, 777]) {
        const x = randomBits(rand, n);
        expect(hex(plan.hash(x, outBits)), `N=${maxFftSize} m'=${outBits}`).toBe(
          hex(toeplitzHashNaive(x, n, outBits, s)),
        );
        expect(plan.simd).toBe(true);
        expect(plan.stats.fallbacks).toBe(0);
        // n products of 0/1 terms summed: far below the tolerance (toeplitz.ts, Percival's bound)
        expect(plan.stats.maxRoundingError).toBeLessThan(1e-6);
      }
    }
  });
});
