/**
 * The extractor seed: the n + m - 1 bits that define the Toeplitz matrix of the stream's extractor. From the OS CSPRNG
 * by default, or from a file given with `--extractor-seed FILE` (e.g. to replay a run with the same seed). More in
 * README.md (seed.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.ts';
import { bytesForBits } from './naive.ts';

/** Seed length in bits for an n-bit input and an m-bit output. */
export function seedBitsFor(inputBits: number, outputBits: number): number {
  return inputBits + outputBits - 1;
}

function checkSeedBits(seedBits: number): void {
  if (!Number.isSafeInteger(seedBits) || seedBits < 1) {
    throw new RangeError(`seed length must be a positive integer number of bits, got ${seedBits}`);
  }
}

/** Clears the bits at and above `seedBits` in a copy of the first bytes of `raw`. */
function trimSeed(raw: Uint8Array, seedBits: number): Uint8Array {
  const seed = Uint8Array.from(raw.subarray(0, bytesForBits(seedBits)));
  const spare = seedBits & 7;
  if (spare !== 0) seed[seed.length - 1]! &= (1 << spare) - 1;
  return seed;
}

/** A fresh seed of `seedBits` bits from the OS CSPRNG (node:crypto randomBytes). */
export function randomSeed(seedBits: number, random: (size: number) => Uint8Array = randomBytes): Uint8Array {
  checkSeedBits(seedBits);
  return trimSeed(random(bytesForBits(seedBits)), seedBits);
}

/**
 * The seed stored in `path` (raw bytes, bits LSB-first). Throws InputError
 * SEED_UNREADABLE when the file cannot be read and SEED_TOO_SHORT when it
 * holds fewer than `seedBits` bits.
 */
export function loadSeedFile(
  path: string,
  seedBits: number,
  readFile: (path: string) => Uint8Array = readFileSync,
): Uint8Array {
  checkSeedBits(seedBits);
  let raw: Uint8Array;
  try {
    raw = readFile(path);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new InputError('SEED_UNREADABLE', `cannot read extractor seed file ${path}: ${why}`, { cause: e });
  }
  const foundBits = raw.length * 8;
  if (foundBits < seedBits) {
    throw new InputError(
      'SEED_TOO_SHORT',
      `extractor seed file ${path} is too short: ${seedBits} bits needed, ${foundBits} bits found`,
    );
  }
  return trimSeed(raw, seedBits);
}

/** The seed from `file` when given, else from the OS CSPRNG. */
export function resolveExtractorSeed(opts: { file?: string; seedBits: number }): Uint8Array {
  return opts.file === undefined ? randomSeed(opts.seedBits) : loadSeedFile(opts.file, opts.seedBits);
}

/** SHA-256 of the seed bytes, lowercase hex: the certificate's extractor seed hash. */
export function seedSha256(seed: Uint8Array): string {
  return createHash('sha256').update(seed).digest('hex');
}
