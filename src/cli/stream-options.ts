/**
 * The certification options shared by `epqrng stream` (live) and `epqrng
 * replay` (a recording): the same names, defaults and checks, so a replay
 * given the live run's options reproduces its bytes and certificates.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  ADVERSARIES,
  BOUNDS,
  DEFAULT_BLOCK_TRIALS,
  missingBoundReason,
  settingsModeOf,
  STOPPING_SEGMENT_TRIALS,
} from '../certify/index.ts';
import { CertificationRefusedError, InputError, UsageError } from '../errors.ts';
import type { StreamProgress } from '../output/certified-stream.ts';
import {
  DEFAULT_MAX_CONSECUTIVE_REFUSED,
  gammaOf,
  pipelineDefaults,
  seedBitsForBlock,
  type HostSettingsOptions,
  type PipelineConfig,
} from '../output/config.ts';
import { testRateFraction } from '../output/host-settings.ts';
import { parseNumber } from '../math/numbers.ts';
import { count, oneOf, pathValue, validateOption, type OptionSpecs, type ParsedValues } from './options.ts';

/** Options every command that writes output and names an extractor seed takes (stream, replay, record). */
export const outputOptionSpecs = {
  out: { type: 'string', short: 'o' },
  'extractor-seed': { type: 'string' },
} as const satisfies OptionSpecs;

/** The certification options of every command that certifies (stream, replay, serve), defined once. */
export const certifyOptionSpecs = {
  certs: { type: 'string' },
  eps: { type: 'string' },
  adversary: { type: 'string' },
  'classical-bound': { type: 'string' },
  'block-trials': { type: 'string' },
  'extractor-seed': { type: 'string' },
  'max-refused': { type: 'string' },
} as const satisfies OptionSpecs;

/** The options of `stream` and `replay` (beyond the device selection), defined once. */
export const streamOptionSpecs = {
  ...certifyOptionSpecs,
  ...outputOptionSpecs,
  bytes: { type: 'string', short: 'n' },
  settings: { type: 'string' },
  'settings-seed': { type: 'string' },
  'test-rate': { type: 'string' },
  'target-bits': { type: 'string' },
} as const satisfies OptionSpecs;

export const streamOptionsUsage = `  --certs FILE            one certificate per certified block, JSON lines (a hash chain)
  --eps E                 total error per block, e.g. 1e-20 or 2^-64 (default 2^-64)
  --adversary A           ${ADVERSARIES.map((a, i) => (i === 0 ? `${a} (default)` : a)).join(' or ')} side information
  --classical-bound B     with --adversary classical: pironio-massar (default) or pef (probability estimation)
  --block-trials N        trials per block, 1000 to 2^28 (default ${DEFAULT_BLOCK_TRIALS})
  --max-refused K         refused blocks in a row that end the run with exit 1 (default ${DEFAULT_MAX_CONSECUTIVE_REFUSED})`;

/** --target-bits, an option of stream, replay and verify (not serve). */
export const targetBitsUsage = `  --target-bits K         with --classical-bound pef: end each block as soon as it certifies K output bits
                          (a multiple of 8; --block-trials is then the largest block, a multiple of ${STOPPING_SEGMENT_TRIALS})`;

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
  extractorSeedFile?: string;
  /** The pipeline's configuration but the extractor seed (output/config.ts pipelineDefaults). */
  pipeline: Omit<PipelineConfig, 'seed'>;
}

/**
 * Translates the shared options into the pipeline's configuration (one-line
 * UsageError naming the option on any problem; InputError for an unreadable
 * settings seed). The defaults are the pipeline's own (pipelineDefaults).
 */
export function streamSettings(values: ParsedValues<typeof streamOptionSpecs>): StreamSettings {
  const adversary = validateOption('adversary', oneOf(ADVERSARIES), values.adversary ?? 'quantum');
  const hostSettings = hostSettingsOptions(values);
  const gamma = gammaOf(hostSettings?.testRate === undefined ? undefined : testRateFraction(hostSettings.testRate));
  const missing = missingBoundReason(adversary, gamma);
  if (missing !== null) {
    // No registered bound holds for this adversary with these settings (certify/bounds/registry.ts).
    if (settingsModeOf(gamma) === 'uniform') throw new UsageError(`--adversary ${adversary}: ${missing}`);
    const held = [...new Set(BOUNDS.filter((b) => b.modes.includes('spot-check')).map((b) => b.adversary))];
    throw new UsageError(
      `--test-rate below 1 is certified against ${held.join(' or ')} side information only; drop --adversary ${adversary}`,
    );
  }
  const classicalBound = validateOption(
    'classical-bound',
    oneOf(['pironio-massar', 'pef'] as const),
    values['classical-bound'] ?? 'pironio-massar',
  );
  if (classicalBound === 'pef' && adversary !== 'classical')
    throw new UsageError('--classical-bound pef needs --adversary classical');
  const targetBits = targetBitsOption(values, classicalBound, hostSettings !== undefined);
  const s: StreamSettings = {
    pipeline: pipelineDefaults({
      adversary,
      classicalBound,
      ...(targetBits !== undefined ? { targetBits } : {}),
      ...(values.eps !== undefined ? { eps: validateOption('eps', epsValue, values.eps) } : {}),
      ...(values['block-trials'] !== undefined
        ? { blockTrials: validateOption('block-trials', count(1000, 2 ** 28), values['block-trials']) }
        : {}),
      ...(values['max-refused'] !== undefined
        ? { maxConsecutiveRefused: validateOption('max-refused', count(1, 1_000_000), values['max-refused']) }
        : {}),
      ...(values.bytes !== undefined
        ? { bytes: validateOption('bytes', count(1, Number.MAX_SAFE_INTEGER), values.bytes) }
        : {}),
      ...(hostSettings ? { hostSettings } : {}),
    }),
  };
  if (values.certs !== undefined) s.certsPath = validateOption('certs', pathValue, values.certs);
  if (values['extractor-seed'] !== undefined)
    s.extractorSeedFile = validateOption('extractor-seed', pathValue, values['extractor-seed']);
  return s;
}

/** --target-bits K: early stopping (certify/bounds/pef-stopping.ts), with its constraints as one-line UsageErrors. */
function targetBitsOption(
  values: ParsedValues<typeof streamOptionSpecs>,
  classicalBound: string,
  hostSettings: boolean,
): number | undefined {
  if (values['target-bits'] === undefined) return undefined;
  const k = validateOption('target-bits', count(8, 2 ** 40), values['target-bits']);
  if (k % 8 !== 0) throw new UsageError(`--target-bits must be a multiple of 8 (whole output bytes), got ${k}`);
  if (classicalBound !== 'pef') throw new UsageError('--target-bits needs --adversary classical --classical-bound pef');
  if (hostSettings) throw new UsageError("--target-bits needs --settings internal (the chip's own generator)");
  // the default block (2^22) is a multiple of the segment
  const b =
    values['block-trials'] === undefined
      ? DEFAULT_BLOCK_TRIALS
      : validateOption('block-trials', count(1000, 2 ** 28), values['block-trials']);
  if (b % STOPPING_SEGMENT_TRIALS !== 0)
    throw new UsageError(
      `--target-bits needs --block-trials (the largest block) a multiple of ${STOPPING_SEGMENT_TRIALS}, got ${b}`,
    );
  return k;
}

/**
 * --settings, --settings-seed, --test-rate: the host-settings options, or
 * undefined for the chip's internal settings (one-line UsageError /
 * InputError on a problem).
 */
function hostSettingsOptions(
  values: ParsedValues<typeof streamOptionSpecs>,
): (HostSettingsOptions & { testRate?: string }) | undefined {
  const source = validateOption('settings', oneOf(['internal', 'host'] as const), values.settings ?? 'internal');
  if (source === 'internal') {
    const extra = (['settings-seed', 'test-rate'] as const).find((k) => values[k] !== undefined);
    if (extra) throw new UsageError(`--${extra} needs --settings host`);
    return undefined;
  }
  const opts: HostSettingsOptions & { testRate?: string } = {};
  if (values['test-rate'] !== undefined)
    opts.testRate = validateOption('test-rate', testRateValue, values['test-rate']);
  if (values['settings-seed'] !== undefined) opts.seed = settingsSeedOption(values['settings-seed']);
  return opts;
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

/**
 * A run that saw blocks and refused every one is a refused certification
 * (exit 1), whatever --max-refused and --bytes say: exit 0 would let a script
 * take an empty output for a certified one.
 */
export function refusedEveryBlock(p: Readonly<Pick<StreamProgress, 'blocksPassed' | 'blocksFailed'>>): void {
  if (p.blocksFailed > 0 && p.blocksPassed === 0)
    throw new CertificationRefusedError(
      'REFUSED_ALL',
      `certification refused for every block (${p.blocksFailed} of ${p.blocksFailed}): nothing certified`,
    );
}
