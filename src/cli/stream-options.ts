/**
 * The certification options shared by `epqrng stream` (live) and `epqrng
 * replay` (a recording): the same names, defaults and checks, so a replay
 * given the live run's options reproduces its bytes and certificates.
 */
import { z } from 'zod';
import type { Adversary } from '../certify/index.ts';
import { DEFAULT_BLOCK_TRIALS, DEFAULT_EPS } from '../certify/index.ts';
import { readFileSync } from 'node:fs';
import { InputError, UsageError } from '../errors.ts';
import { seedBitsForBlock } from '../extract/stream.ts';
import { DEFAULT_MAX_CONSECUTIVE_REFUSED } from '../output/certified-stream.ts';
import { testRateFraction } from '../output/host-settings.ts';
import { parseNumber } from './numbers.ts';
import { count, oneOf, pathValue, validateOption, type OptionSpecs, type ParsedValues } from './options.ts';

export const streamOptionSpecs = {
  certs: { type: 'string' },
  eps: { type: 'string' },
  adversary: { type: 'string' },
  'classical-bound': { type: 'string' },
  'block-trials': { type: 'string' },
  'extractor-seed': { type: 'string' },
  'max-refused': { type: 'string' },
} as const satisfies OptionSpecs;

export const streamOptionsUsage = `  --certs FILE            one certificate per certified block, JSON lines (a hash chain)
  --eps E                 total error per block, e.g. 1e-20 or 2^-64 (default 2^-64)
  --adversary A           quantum (default) or classical side information
  --classical-bound B     with --adversary classical: pironio-massar (default) or pef (probability estimation)
  --block-trials N        trials per block, 1000 to 2^28 (default ${DEFAULT_BLOCK_TRIALS})
  --max-refused K         refused blocks in a row that end the run with exit 1 (default ${DEFAULT_MAX_CONSECUTIVE_REFUSED})`;

/**
 * --extractor-seed, with the size rule: the Toeplitz matrix of an n-bit input
 * and m-bit output takes n + m - 1 seed bits (extract/seed.ts); a block of N
 * trials is n = 2N input bits and at most m = N output bits, so 3N - 1 bits.
 */
export function extractorSeedUsage(defaultSource: string): string {
  const bits = seedBitsForBlock(DEFAULT_BLOCK_TRIALS);
  return `  --extractor-seed FILE   Toeplitz seed from FILE (default: ${defaultSource});
                          it must hold n + m - 1 = 3 N - 1 bits for blocks of N trials
                          (n = 2N input bits, m <= N output bits): ${bits.toLocaleString('en-US')} bits =
                          ${Math.ceil(bits / 8).toLocaleString('en-US')} bytes at the default --block-trials 2^22 (more is ignored)`;
}

const EPS_MESSAGE = 'must be a probability in (0, 1), as a decimal (1e-20) or a power of two (2^-64)';

/** eps as a decimal or `2^-k` (the form the certificate literature uses). */
export const epsValue = z
  .string({ error: () => EPS_MESSAGE })
  .trim()
  .transform((s, ctx) => {
    const r = parseNumber(s, { kind: 'real', min: 0, max: 1 });
    const v = r.ok ? r.value : Number.NaN;
    if (!(v > 0 && v < 1)) {
      ctx.addIssue({ code: 'custom', message: EPS_MESSAGE });
      return z.NEVER;
    }
    return v;
  });

export interface StreamSettings {
  certsPath?: string;
  eps: number;
  adversary: Adversary;
  classicalBound: 'pironio-massar' | 'pef';
  blockTrials: number;
  maxConsecutiveRefused: number;
  extractorSeedFile?: string;
}

/** Validates the shared options (one-line UsageError naming the option on any problem). */
export function streamSettings(values: ParsedValues<typeof streamOptionSpecs>): StreamSettings {
  const s: StreamSettings = {
    eps: values.eps === undefined ? DEFAULT_EPS : validateOption('eps', epsValue, values.eps),
    adversary: validateOption('adversary', oneOf(['quantum', 'classical'] as const), values.adversary ?? 'quantum'),
    classicalBound: validateOption(
      'classical-bound',
      oneOf(['pironio-massar', 'pef'] as const),
      values['classical-bound'] ?? 'pironio-massar',
    ),
    blockTrials:
      values['block-trials'] === undefined
        ? DEFAULT_BLOCK_TRIALS
        : validateOption('block-trials', count(1000, 2 ** 28), values['block-trials']),
    maxConsecutiveRefused:
      values['max-refused'] === undefined
        ? DEFAULT_MAX_CONSECUTIVE_REFUSED
        : validateOption('max-refused', count(1, 1_000_000), values['max-refused']),
  };
  if (s.classicalBound === 'pef' && s.adversary !== 'classical')
    throw new UsageError('--classical-bound pef needs --adversary classical');
  if (values.certs !== undefined) s.certsPath = validateOption('certs', pathValue, values.certs);
  if (values['extractor-seed'] !== undefined)
    s.extractorSeedFile = validateOption('extractor-seed', pathValue, values['extractor-seed']);
  return s;
}

const TEST_RATE_MESSAGE = 'must be a decimal in (0, 1] with at most 6 digits after the point, e.g. 0.01';
/** --test-rate: gamma as an exact decimal (the sampler's probability is exactly that fraction). */
export const testRateValue = z
  .string({ error: () => TEST_RATE_MESSAGE })
  .trim()
  .refine(
    (s) => {
      try {
        testRateFraction(s);
        return true;
      } catch {
        return false;
      }
    },
    { error: () => TEST_RATE_MESSAGE },
  );

/** --settings-seed FILE: its bytes, at least the 128 bits ChaChaSource needs (one-line UsageError / InputError otherwise). */
export function settingsSeedOption(raw: string): Uint8Array {
  const path = validateOption('settings-seed', pathValue, raw);
  let seed: Uint8Array;
  try {
    seed = readFileSync(path);
  } catch (e) {
    throw new InputError(
      'SEED_UNREADABLE',
      `cannot read settings seed file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
  if (seed.length < 16)
    throw new InputError(
      'SEED_TOO_SHORT',
      `settings seed file ${path} is too short: 128 bits needed, ${seed.length * 8} bits found`,
    );
  return seed;
}
