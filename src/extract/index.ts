/** Toeplitz extractor: public exports (the pipeline that feeds it certified blocks is src/output/pipeline.ts). */
export { BlockHasher, type BlockHasherOptions } from './block-hasher.ts';
export { toeplitzHash, ToeplitzPlan, toeplitzWords, releaseToeplitzCaches, MAX_INPUT_BITS } from './toeplitz.ts';
export type { ToeplitzOptions, ToeplitzStats } from './toeplitz.ts';
export { toeplitzHashNaive, getBit, bytesForBits } from './naive.ts';
export { randomSeed, loadSeedFile, resolveExtractorSeed, seedSha256, seedBitsFor } from './seed.ts';
