import { describe, expect, it } from 'vitest';
import { toeplitzHashNaive, bytesForBits, getBit } from '../../src/extract/naive.ts';
import {
  toeplitzHash,
  ToeplitzPlan,
  toeplitzWords,
  sliceBits,
  releaseToeplitzCaches,
} from '../../src/extract/toeplitz.ts';
import { Fft, goodFftSize } from '../../src/extract/fft/fft.ts';
import { mulberry32 as prng } from '../prng.ts';

function randomBits(rand: () => number, bits: number, fill: 'random' | 'ones' = 'random'): Uint8Array {
  const out = new Uint8Array(bytesForBits(bits));
  for (let b = 0; b < out.length; b++) out[b] = fill === 'ones' ? 0xff : Math.floor(rand() * 256);
  // leave garbage in the spare high bits: the extractor must ignore bits past n
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Cases: edge sizes first, then random (n, m) with n log-uniform up to 2^16. */
function cases(): Array<[number, number]> {
  const list: Array<[number, number]> = [
    [1, 1],
    [2, 1],
    [2, 2],
    [3, 3],
    [7, 1],
    [7, 7],
    [8, 8],
    [9, 9],
    [9, 1],
    [15, 8],
    [16, 16],
    [17, 5],
    [63, 63],
    [64, 64],
    [65, 65],
    [255, 64],
    [256, 256],
    [257, 257],
    [1023, 256],
    [1024, 1024],
    [1025, 1],
    [4095, 1024],
    [4096, 1024],
    [4097, 1025],
    [1000, 1000],
    // n + m - 1 just at and just past transform lengths 2N = 2 * {2^k, 3 * 2^k, 5 * 2^k}
    [4096, 1025],
    [4096, 1026],
    [6144, 1025],
    [5120, 1],
    [5120, 2],
    [6144, 1],
    [6145, 1],
    [10240, 1],
    [10241, 1],
    [65535, 1],
    [65536, 16],
    [65536, 4096],
    [65537, 31],
  ];
  const rand = prng(0x5eed);
  while (list.length < 220) {
    const n = Math.max(1, Math.floor(2 ** (rand() * 16)));
    const mMax = Math.min(n, Math.max(1, Math.floor(2 ** 24 / n))); // keep the naive product affordable
    const m = Math.max(1, Math.floor(2 ** (rand() * Math.log2(mMax + 1))));
    list.push([n, Math.min(m, n)]);
  }
  return list;
}

describe('toeplitzHash against the naive product', () => {
  it('agrees bit for bit on 220 (n, m, seed, input) cases, n up to 2^16, through both the auto and the forced FFT path', () => {
    const rand = prng(1);
    let fftCases = 0;
    let simdCases = 0;
    for (const [n, m] of cases()) {
      const x = randomBits(rand, n);
      const s = randomBits(rand, n + m - 1);
      const want = hex(toeplitzHashNaive(x, n, m, s));
      expect(hex(toeplitzHash(x, n, m, s)), `auto n=${n} m=${m}`).toBe(want);
      const plan = new ToeplitzPlan(n, m, s, { method: 'fft' });
      expect(hex(plan.hash(x)), `fft n=${n} m=${m}`).toBe(want);
      expect(plan.stats.fallbacks).toBe(0);
      const plain = new ToeplitzPlan(n, m, s, { method: 'fft', simd: false });
      expect(hex(plain.hash(x)), `fft without SIMD n=${n} m=${m}`).toBe(want);
      expect(plain.simd).toBe(false);
      if (plan.simd) simdCases++;
      fftCases++;
    }
    expect(fftCases).toBeGreaterThanOrEqual(200);
    expect(simdCases).toBeGreaterThanOrEqual(100); // node 20 has WebAssembly SIMD: most sizes take it
  });

  it('matches on the all-ones input and seed, where every coefficient takes its largest value', () => {
    const rand = prng(2);
    for (const [n, m] of [
      [4099, 4099],
      [65536, 64],
    ] as Array<[number, number]>) {
      const x = randomBits(rand, n, 'ones');
      const s = randomBits(rand, n + m - 1, 'ones');
      const plan = new ToeplitzPlan(n, m, s, { method: 'fft' });
      expect(hex(plan.hash(x))).toBe(hex(toeplitzHashNaive(x, n, m, s)));
    }
  });

  it('the word-parallel schoolbook reference agrees with the naive product', () => {
    const rand = prng(3);
    for (const [n, m] of [
      [1, 1],
      [31, 2],
      [32, 32],
      [33, 33],
      [100, 77],
      [2049, 1500],
      [20000, 300],
    ] as Array<[number, number]>) {
      const x = randomBits(rand, n);
      const s = randomBits(rand, n + m - 1);
      expect(hex(toeplitzWords(x, n, m, s)), `n=${n} m=${m}`).toBe(hex(toeplitzHashNaive(x, n, m, s)));
    }
  });
});

describe('toeplitzHash at larger n', () => {
  it('agrees with the word-parallel schoolbook at n = 2^18 and n = 2^20 + 3, with a rounding error far below the tolerance', () => {
    const rand = prng(4);
    for (const [n, m] of [
      [2 ** 18, 2 ** 13],
      [2 ** 20 + 3, 1029],
    ] as Array<[number, number]>) {
      const x = randomBits(rand, n);
      const s = randomBits(rand, n + m - 1);
      const plan = new ToeplitzPlan(n, m, s, { method: 'fft' });
      const want = hex(toeplitzWords(x, n, m, s));
      expect(hex(plan.hash(x))).toBe(want);
      expect(plan.simd).toBe(true);
      expect(hex(new ToeplitzPlan(n, m, s, { method: 'fft', simd: false }).hash(x))).toBe(want);
      // float64 FFT error grows like eps * sqrt(n (n + m)) * log N ~ 1e-16 * 1e6 * 20: far below 1e-6
      expect(plan.stats.maxRoundingError).toBeLessThan(1e-6);
    }
  });
});

describe('rounding fallback', () => {
  it('a failed rounding check recomputes exactly (forced by a negative tolerance), through several levels of splitting', () => {
    const rand = prng(5);
    for (const [n, m] of [
      [8192, 4096],
      [3001, 2999],
      [65, 64],
    ] as Array<[number, number]>) {
      const x = randomBits(rand, n);
      const s = randomBits(rand, n + m - 1);
      const plan = new ToeplitzPlan(n, m, s, { method: 'fft', roundingTolerance: -1 });
      expect(hex(plan.hash(x)), `n=${n} m=${m}`).toBe(hex(toeplitzHashNaive(x, n, m, s)));
      expect(plan.stats.fallbacks).toBeGreaterThanOrEqual(n * m > 2 ** 22 ? 3 : 1);
    }
  });

  it('with the default tolerance no fallback happens on random data', () => {
    const rand = prng(6);
    const n = 50000,
      m = 12500;
    const x = randomBits(rand, n);
    const s = randomBits(rand, n + m - 1);
    const plan = new ToeplitzPlan(n, m, s, { method: 'fft' });
    plan.hash(x);
    expect(plan.stats.fallbacks).toBe(0);
  });
});

describe('one-shot calls', () => {
  it('reuse the transform memory of the previous call of the same size without mixing up seeds or inputs', () => {
    const rand = prng(13);
    const n = 40000,
      m = 10000;
    const runs = [0, 1, 2].map(() => ({ x: randomBits(rand, n), s: randomBits(rand, n + m - 1) }));
    for (const { x, s } of [...runs, ...runs])
      expect(hex(toeplitzHash(x, n, m, s))).toBe(hex(toeplitzWords(x, n, m, s)));
    releaseToeplitzCaches();
    const { x, s } = runs[1]!;
    expect(hex(toeplitzHash(x, n, m, s))).toBe(hex(toeplitzWords(x, n, m, s)));
  });
});

describe('ToeplitzPlan', () => {
  it('reuses the seed spectrum across blocks and serves shorter outputs by the seed prefix', () => {
    const rand = prng(7);
    const n = 20000,
      m = 5000;
    const s = randomBits(rand, n + m - 1);
    const plan = new ToeplitzPlan(n, m, s, { method: 'fft' });
    for (let block = 0; block < 3; block++) {
      const x = randomBits(rand, n);
      expect(hex(plan.hash(x))).toBe(hex(toeplitzWords(x, n, m, s)));
      const short = 1234;
      expect(hex(plan.hash(x, short))).toBe(hex(toeplitzHashNaive(x, n, short, sliceBits(s, 0, n + short - 1))));
    }
  });

  it('is linear over GF(2): hash(x1 xor x2) = hash(x1) xor hash(x2)', () => {
    const rand = prng(8);
    const n = 30001,
      m = 7000;
    const s = randomBits(rand, n + m - 1);
    const plan = new ToeplitzPlan(n, m, s, { method: 'fft' });
    const x1 = randomBits(rand, n),
      x2 = randomBits(rand, n);
    const both = x1.map((v, i) => v ^ x2[i]!);
    const h1 = plan.hash(x1),
      h2 = plan.hash(x2);
    expect(hex(plan.hash(both))).toBe(hex(h1.map((v, i) => v ^ h2[i]!)));
  });

  it('output bits past m are zero', () => {
    const rand = prng(9);
    const n = 9000,
      m = 4003;
    const x = randomBits(rand, n, 'ones'),
      s = randomBits(rand, n + m - 1, 'ones');
    const y = toeplitzHash(x, n, m, s);
    expect(y.length).toBe(bytesForBits(m));
    for (let k = m; k < y.length * 8; k++) expect(getBit(y, k)).toBe(0);
  });
});

describe('argument checks', () => {
  const x = new Uint8Array(2),
    s = new Uint8Array(3);
  it('names the bad size', () => {
    expect(() => toeplitzHash(x, 0, 1, s)).toThrow(new RangeError('"n" must be an integer in 1..268435456, got 0'));
    expect(() => toeplitzHash(x, 1.5, 1, s)).toThrow(new RangeError('"n" must be an integer in 1..268435456, got 1.5'));
    expect(() => toeplitzHash(x, 16, 0, s)).toThrow(new RangeError('"m" must be an integer in 1..n (n = 16), got 0'));
    expect(() => toeplitzHash(x, 16, 17, s)).toThrow(new RangeError('"m" must be an integer in 1..n (n = 16), got 17'));
    expect(() => toeplitzHash(x, 17, 1, s)).toThrow(new RangeError('input holds 16 bits, n = 17 bits needed'));
    expect(() => toeplitzHash(x, 16, 10, s)).toThrow(new RangeError('seed holds 24 bits, n + m - 1 = 25 bits needed'));
    expect(() => new ToeplitzPlan(16, 9, s).hash(x, 10)).toThrow(
      new RangeError('"outputBits" must be an integer in 1..m (m = 9), got 10'),
    );
    expect(() => toeplitzHash(x, 16, 9, s, { roundingTolerance: 0.5 })).toThrow(
      new RangeError('"roundingTolerance" must be a number below 0.5, got 0.5'),
    );
  });
  it('names the bad type', () => {
    expect(() => toeplitzHash([1, 2] as unknown as Uint8Array, 16, 1, s)).toThrow(
      new TypeError('"input" is not a Uint8Array'),
    );
    expect(() => toeplitzHash(x, 16, 1, 'seed' as unknown as Uint8Array)).toThrow(
      new TypeError('"seed" is not a Uint8Array'),
    );
  });
});

describe('fft', () => {
  it('inverse(forward(a)) = N a, and forward matches the DFT up to the permutation, for N = 2^k, 3 * 2^k, 5 * 2^k', () => {
    const rand = prng(10);
    for (const size of [1, 2, 3, 4, 5, 8, 12, 20, 64, 96, 160, 1024, 1536, 2560]) {
      const a = new Float64Array(2 * size).map(() => rand() - 0.5);
      const spec = Float64Array.from(a);
      const fft = new Fft(size);
      fft.forward(spec);
      // the multiset of spectrum values equals the DFT's (digit-reversed order): compare sorted magnitudes
      const dft: number[] = [];
      for (let k = 0; k < size; k++) {
        let re = 0,
          im = 0;
        for (let j = 0; j < size; j++) {
          const ang = (-2 * Math.PI * j * k) / size;
          re += a[2 * j]! * Math.cos(ang) - a[2 * j + 1]! * Math.sin(ang);
          im += a[2 * j]! * Math.sin(ang) + a[2 * j + 1]! * Math.cos(ang);
        }
        dft.push(Math.hypot(re, im));
      }
      const got: number[] = [];
      for (let k = 0; k < size; k++) got.push(Math.hypot(spec[2 * k]!, spec[2 * k + 1]!));
      dft.sort((p, q) => p - q);
      got.sort((p, q) => p - q);
      for (let k = 0; k < size; k++) expect(Math.abs(got[k]! - dft[k]!)).toBeLessThan(1e-9 * size);
      fft.inverse(spec);
      for (let k = 0; k < 2 * size; k++)
        expect(Math.abs(spec[k]! / size - a[k]!)).toBeLessThan(1e-12 * Math.log2(size + 1) + 1e-15);
    }
  });
  it('picks the smallest c * 2^k with c in {1, 3, 5}', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 17, 2 ** 20 + 1, 5 * 2 ** 21].map(goodFftSize)).toEqual([
      1,
      2,
      3,
      4,
      5,
      6,
      8,
      10,
      12,
      16,
      20,
      5 * 2 ** 18,
      5 * 2 ** 21,
    ]);
  });
});
