import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Fft, difStage, ditStage } from '../../src/extract/fft/fft.ts';
import { BitConvolutionTables } from '../../src/extract/fft/rightangle.ts';
import { createMemory, instantiateKernels, simdModule, simdModuleBytes } from '../../src/extract/fft/simd.ts';
import { SIMD_MODULE_BASE64 } from '../../src/extract/fft/simd-bytes.ts';
import { mulberry32 as prng } from '../prng.ts';

/** simd-bytes.ts for these module bytes: base64 in lines of 116 characters. */
function simdBytesSource(bytes: Buffer): string {
  const lines = bytes.toString('base64').match(/.{1,116}/g) ?? [];
  return `/**
 * The WebAssembly module of simd.ts, as its assemble() makes it, in base64 (whitespace ignored): simdModule()
 * compiles these bytes instead of assembling them at every start. Generated: edit simd.ts, then run
 *   UPDATE_SIMD_BYTES=1 npx vitest run test/extract/simd.test.ts
 * (the test fails whenever this file and assemble() differ).
 */
export const SIMD_MODULE_BASE64 = \`
${lines.join('\n')}
\`;
`;
}

describe('WebAssembly SIMD kernels', () => {
  it('assemble to a valid module on this node', () => {
    expect(simdModule()).not.toBeNull();
  });

  it('are shipped as exactly the bytes assemble() makes (simd-bytes.ts)', () => {
    const assembled = Buffer.from(simdModuleBytes());
    if (process.env.UPDATE_SIMD_BYTES) {
      writeFileSync(
        fileURLToPath(new URL('../../src/extract/fft/simd-bytes.ts', import.meta.url)),
        simdBytesSource(assembled),
      );
    }
    const shipped = Buffer.from(SIMD_MODULE_BASE64.replace(/\s+/g, ''), 'base64');
    expect(shipped.equals(assembled), 'regenerate: UPDATE_SIMD_BYTES=1 npx vitest run test/extract/simd.test.ts').toBe(
      true,
    );
  });

  it('compute every radix-4 and radix-2 stage (full, compact and twiddle-free) exactly as the JS stages of fft.ts', () => {
    const rand = prng(11);
    // 5 * 2^16: stage sizes 2^16 (compact twiddles, above the cache block), 2^14 .. 2^2 (full), last radix 4
    // 5 * 2^15: ends with a radix-2 stage
    for (const size of [5 * 2 ** 16, 5 * 2 ** 15]) {
      const t = new BitConvolutionTables(new Fft(size, { topTwiddles: false }));
      const dataPtr = Math.ceil((t.simdTwiddles.length * 8) / 64) * 64;
      const memory = createMemory(dataPtr + 16 * size);
      const k = instantiateKernels(memory)!;
      new Float64Array(memory.buffer, 0, t.simdTwiddles.length).set(t.simdTwiddles);
      const view = new Float64Array(memory.buffer, dataPtr, 2 * size);
      const stages = t.fft.stages;
      let compactSeen = false;
      for (let lv = 1; lv < stages.length; lv++) {
        const st = stages[lv]!;
        const last = lv === stages.length - 1;
        if (!st.full) compactSeen = true;
        for (const inverse of [false, true]) {
          const ref = new Float64Array(2 * size).map(() => rand() - 0.5);
          view.set(ref);
          if (st.radix === 4) {
            const variant = last ? 0 : st.full ? 1 : 2;
            (inverse ? k.dit4 : k.dif4)[variant]!(dataPtr, 0, size, st.size, t.simdTwiddleOffsets[lv]!);
          } else k.r2(dataPtr, 0, size);
          (inverse ? ditStage : difStage)(ref, 0, size, st, last);
          let maxDiff = 0;
          for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(view[i]! - ref[i]!));
          // same operations in the same order: equal up to a few ulp of values of order 1
          expect(maxDiff, `size ${size} stage ${st.size} ${inverse ? 'inverse' : 'forward'}`).toBeLessThan(1e-14);
        }
      }
      expect(compactSeen || size < 5 * 2 ** 16).toBe(true);
    }
  });

  it("write each FULL stage's w^j, w^2j, w^3j bit for bit as the stage's JS table (fft.ts stageTwiddles)", () => {
    for (const size of [5 * 2 ** 16, 3 * 2 ** 15, 2 ** 12]) {
      const t = new BitConvolutionTables(new Fft(size, { topTwiddles: false }));
      const simd = new Float64Array(t.simdTwiddleDoubles);
      t.writeSimdTwiddles(simd);
      let fullSeen = 0;
      t.fft.stages.forEach((st, lv) => {
        if (st.radix !== 4 || !st.full || st.doubles === 0) return;
        fullSeen++;
        const tw = st.tw; // made now, by fft.ts stageTwiddles
        expect(st.doubles).toBe(tw.length);
        const o = t.simdTwiddleOffsets[lv]! / 8;
        const got = new Float64Array(tw.length);
        for (let k = 0; k < tw.length; k += 2) {
          // P = (wr, wr), Q = (-wi, wi)
          got[k] = simd[o + 2 * k]!;
          got[k + 1] = simd[o + 2 * k + 3]!;
          expect(simd[o + 2 * k + 1]).toBe(simd[o + 2 * k]);
          expect(simd[o + 2 * k + 2]).toBe(-simd[o + 2 * k + 3]!);
        }
        expect(Buffer.from(got.buffer).equals(Buffer.from(tw.buffer)), `size ${size} stage ${st.size}`).toBe(true);
      });
      expect(fullSeen).toBeGreaterThan(2);
      // the kernels' writer (fullTwiddles, in the plan's memory) gives the same bytes as the JS loop
      const scratch = Math.ceil(simd.length / 8) * 64;
      const memory = createMemory(scratch + 65536);
      const inMemory = new Float64Array(memory.buffer, 0, simd.length);
      t.writeSimdTwiddles(inMemory, { kernels: instantiateKernels(memory)!, scratch, scratchBytes: 65536 });
      expect(Buffer.from(inMemory.slice().buffer).equals(Buffer.from(simd.buffer)), `size ${size}`).toBe(true);
    }
  });

  it('multiply spectra pointwise', () => {
    const memory = createMemory(65536);
    const k = instantiateKernels(memory)!;
    const f = new Float64Array(memory.buffer, 0, 400);
    const rand = prng(12);
    for (let i = 0; i < 400; i++) f[i] = rand() - 0.5;
    const x = f.slice(0, 200),
      y = f.slice(200, 400);
    k.mul(0, 1600, 100);
    for (let i = 0; i < 100; i++) {
      expect(f[2 * i]).toBeCloseTo(x[2 * i]! * y[2 * i]! - x[2 * i + 1]! * y[2 * i + 1]!, 15);
      expect(f[2 * i + 1]).toBeCloseTo(x[2 * i]! * y[2 * i + 1]! + x[2 * i + 1]! * y[2 * i]!, 15);
    }
  });

  it('the rounding stage reports NaN when a coefficient is NaN, so the exact fallback runs', () => {
    const q = 64,
      n = 5 * q;
    const memory = createMemory(1 << 20);
    const k = instantiateKernels(memory)!;
    const f = new Float64Array(memory.buffer);
    const a = 0,
      twc = 16 * n,
      twf = twc + 16,
      uw = twf + 16 * q,
      out = uw + 16 * 5;
    // rho^j = twc[j >> 11] twf[j & 2047] = 1 for j < q
    f[twc / 8] = 1;
    for (let j = 0; j < q; j++) f[twf / 8 + 2 * j] = 1;
    for (let p = 0; p < 5; p++) f[uw / 8 + 2 * p] = 1; // conj(C_q) = 1
    // all zeros: every coefficient exact
    expect(k.extract[5]!(a, twc, twf, uw, out, q, n, 0, 2 * n, 0x3ff, 0, q)).toBe(0);
    f[7] = NaN; // one input value
    expect(k.extract[5]!(a, twc, twf, uw, out, q, n, 0, 2 * n, 0x3ff, 0, q)).toBeNaN();
  });
});

describe('WebAssembly SIMD kernels of the frequency-domain sum', () => {
  it('mac adds the pointwise product; dif4mac adds the product of the last radix-4 stage output, a left unchanged', () => {
    const memory = createMemory(65536);
    const k = instantiateKernels(memory)!;
    const f = new Float64Array(memory.buffer, 0, 600);
    const rand = prng(21);
    for (let i = 0; i < 600; i++) f[i] = rand() - 0.5;
    const a = f.slice(0, 200),
      s = f.slice(200, 400),
      acc = f.slice(400, 600);
    // mac over 100 complex values at byte addresses 0, 1600, 3200
    k.mac(0, 1600, 3200, 100);
    for (let i = 0; i < 100; i++) {
      expect(f[400 + 2 * i]).toBeCloseTo(acc[2 * i]! + a[2 * i]! * s[2 * i]! - a[2 * i + 1]! * s[2 * i + 1]!, 14);
      expect(f[401 + 2 * i]).toBeCloseTo(acc[2 * i + 1]! + a[2 * i]! * s[2 * i + 1]! + a[2 * i + 1]! * s[2 * i]!, 14);
    }
    f.set(acc, 400);
    const y = a.slice();
    difStage(y, 0, 100, { size: 4, radix: 4, tw: new Float64Array(0), full: true }, true);
    k.dif4mac(0, 1600, 3200, 100);
    for (let i = 0; i < 200; i++) expect(f[i]).toBe(a[i]);
    for (let i = 0; i < 100; i++) {
      expect(f[400 + 2 * i]).toBeCloseTo(acc[2 * i]! + y[2 * i]! * s[2 * i]! - y[2 * i + 1]! * s[2 * i + 1]!, 14);
      expect(f[401 + 2 * i]).toBeCloseTo(acc[2 * i + 1]! + y[2 * i]! * s[2 * i + 1]! + y[2 * i + 1]! * s[2 * i]!, 14);
    }
  });
});

describe("WebAssembly SIMD kernels of a sum's first chunk", () => {
  it('macSet, dif4macSet and dif16macSet store what mac, dif4mac and dif16mac add to a zero sum, never reading it', () => {
    const memory = createMemory(65536);
    const k = instantiateKernels(memory)!;
    const f = new Float64Array(memory.buffer, 0, 600);
    const rand = prng(23);
    const pairs = [
      [k.mac, k.macSet],
      [k.dif4mac, k.dif4macSet],
      [k.dif16mac, k.dif16macSet],
    ] as const;
    for (const [add, set] of pairs) {
      for (let i = 0; i < 400; i++) f[i] = rand() - 0.5;
      const inputs = f.slice(0, 400);
      f.fill(0, 400, 600);
      add(0, 1600, 3200, 96); // a at byte 0, s at 1600, acc at 3200: 96 complex values
      const added = f.slice(400, 592);
      f.set(inputs);
      f.fill(Number.NaN, 400, 600); // a kernel that reads the sum gives NaN
      set(0, 1600, 3200, 96);
      expect([...f.slice(400, 592)]).toEqual([...added]);
      expect([...f.slice(0, 400)]).toEqual([...inputs]); // a and s unchanged
    }
  });
});

describe('WebAssembly SIMD kernel of the last two radix-4 stages', () => {
  it('dif16 equals the JS stages of sizes 16 and 4; dif16mac adds their output times s, a left unchanged', () => {
    const fft = new Fft(64); // stages of sizes 64, 16, 4: the size-16 one with its full twiddle table
    const [st16, st4] = [fft.stages[1]!, fft.stages[2]!];
    expect([st16.size, st4.size]).toEqual([16, 4]);
    const memory = createMemory(65536);
    const k = instantiateKernels(memory)!;
    const count = 64;
    const f = new Float64Array(memory.buffer, 0, 6 * count);
    const rand = prng(31);
    for (let i = 0; i < f.length; i++) f[i] = rand() - 0.5;
    const a = f.slice(0, 2 * count),
      s = f.slice(2 * count, 4 * count),
      acc = f.slice(4 * count);
    const y = a.slice();
    difStage(y, 0, count, st16, false);
    difStage(y, 0, count, st4, true);
    const aBytes = 0,
      sBytes = 16 * count,
      accBytes = 32 * count;
    k.dif16mac(aBytes, sBytes, accBytes, count);
    for (let i = 0; i < 2 * count; i++) expect(f[i]).toBe(a[i]);
    for (let i = 0; i < count; i++) {
      expect(f[4 * count + 2 * i]).toBeCloseTo(acc[2 * i]! + y[2 * i]! * s[2 * i]! - y[2 * i + 1]! * s[2 * i + 1]!, 14);
      expect(f[4 * count + 2 * i + 1]).toBeCloseTo(
        acc[2 * i + 1]! + y[2 * i]! * s[2 * i + 1]! + y[2 * i + 1]! * s[2 * i]!,
        14,
      );
    }
    k.dif16(aBytes, 0, 0, count);
    let maxDiff = 0;
    for (let i = 0; i < 2 * count; i++) maxDiff = Math.max(maxDiff, Math.abs(f[i]! - y[i]!));
    // the same butterflies; the twiddles are constants instead of table entries (equal up to an ulp)
    expect(maxDiff).toBeLessThan(1e-14);
  });
});
