/** Toeplitz extractor: public exports (the stream stage lives in stream.ts). */
export { toeplitzHash, ToeplitzPlan, toeplitzWords, releaseToeplitzCaches, MAX_INPUT_BITS } from './toeplitz.ts';
export type { ToeplitzOptions, ToeplitzStats } from './toeplitz.ts';
export { toeplitzHashNaive, getBit, bytesForBits } from './naive.ts';
export { randomSeed, loadSeedFile, resolveExtractorSeed, seedSha256, seedBitsFor } from './seed.ts';
