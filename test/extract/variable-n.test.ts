/**
 * BlockHasher with blocks shorter than the run's largest (variable-length
 * blocks of early stopping): a block of n' <= n input bits is hashed with the
 * Toeplitz matrix of the seed's first n' + m - 1 bits, exactly the naive
 * product (src/extract/naive.ts) with that prefix, on and off the main thread,
 * whether it is hashed by its own small plan (n' <= n/4) or moved up into n.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlockHasher } from '../../src/extract/block-hasher.ts';
import { toeplitzHashNaive } from '../../src/extract/naive.ts';
import { seedBitsFor } from '../../src/extract/seed.ts';

describe('BlockHasher: blocks shorter than n', () => {
  const n = 8192;
  const mMax = 4096;
  const seed = randomBytes(Math.ceil(seedBitsFor(n, mMax) / 8));

  it.each([false, true])("offThread %s: each (n', m) is the naive product with the seed prefix", async (offThread) => {
    const hasher = new BlockHasher(n, mMax, seed, { offThread });
    try {
      for (const [nb, m] of [
        [2048, 512],
        [8192, 1024],
        [4096, 512],
        [2048, 2048],
      ] as const) {
        const input = randomBytes(nb / 8);
        const got = await hasher.hash(input, m, nb);
        expect(Buffer.from(got).equals(Buffer.from(toeplitzHashNaive(input, nb, m, seed)))).toBe(true);
      }
      await expect(hasher.hash(randomBytes(n / 4), 8, 2 * n)).rejects.toThrow(
        /must be an integer in 8\.\.8192 \(m\.\.n\)/,
      );
    } finally {
      await hasher.close();
    }
  });
});
