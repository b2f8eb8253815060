/**
 * One configuration for the whole pipeline (certify -> extract -> chain ->
 * deliver), resolved with every default in one function. `epqrng stream`,
 * `epqrng replay` and the library API (certifiedStream, certifyEvents) all
 * build a PipelineConfig with resolvePipelineConfig; the CLI only translates
 * its options into PipelineOptions.
 */
import {
  DEFAULT_BLOCK_TRIALS,
  DEFAULT_EPS,
  DEFAULT_MAX_LOST_SHARE,
  INPUT_BITS_PER_TRIAL,
  MAX_OUTPUT_BITS_PER_TRIAL,
  missingBoundReason,
  STOPPING_SEGMENT_TRIALS,
  type Adversary,
  type Certificate,
} from '../certify/index.ts';
import { DEFAULT_MAX_FFT_SIZE } from '../extract/chunked.ts';
import { seedBitsFor } from '../extract/index.ts';
import { testRateFraction } from './host-settings.ts';

export const DEFAULT_MAX_CONSECUTIVE_REFUSED = 3;

/** Host-supplied settings (PROTOCOL 5 START source 1): how the host draws x, y. */
export interface HostSettingsOptions {
  /** Seed bytes for replayable settings (ChaCha20 keyed from them); default the OS CSPRNG. */
  seed?: Uint8Array;
  /**
   * Spot-checking test probability gamma, a decimal with at most 6 digits (e.g. 0.01) or that exact fraction;
   * default 1: every trial a test round.
   */
  testRate?: number | string | TestRate;
}

/** gamma = numerator / denominator exactly (the sampler's probability). */
export interface TestRate {
  numerator: number;
  denominator: number;
}

export interface PipelineOptions {
  /** The extractor seed, at least seedBitsForBlock(blockTrials) bits (extract/seed.ts). */
  seed: Uint8Array;
  /** Trials per block, N (default 2^22). */
  blockTrials?: number;
  /** Total error per block (default 2^-64). */
  eps?: number;
  /** Side information the certificates hold against (default 'quantum'). */
  adversary?: Adversary;
  /** With the classical adversary: the Pironio-Massar bound (default) or probability estimation ('pef'). */
  classicalBound?: 'pironio-massar' | 'pef';
  /**
   * Early stopping (classicalBound 'pef', internal settings): each block ends as soon as it certifies this many
   * output bits (a multiple of 8), blockTrials being its largest length (certify/bounds/pef-stopping.ts).
   */
  targetBits?: number;
  /** Largest share of lost trials a block may hold (default 0.01). */
  maxLostShare?: number;
  /** Stop after this many bytes (the last block's output is cut to fit); default unlimited. */
  bytes?: number;
  /** Refused blocks in a row that end the stream with CertificationRefusedError (default 3). */
  maxConsecutiveRefused?: number;
  /** hashCertificate of the certificate this run's chain continues from (default none). */
  prevCertificateSha256?: string | null;
  /** A run started after a reconnect: recorded in its first certificate (certificate.ts `reconnect`). */
  reconnect?: Certificate['reconnect'];
  /**
   * Hash on a worker thread, one block while the next is certified (output/hash-stage.ts); default 'auto': from
   * 2^20-trial blocks up (extract/block-hasher.ts). Host-settings runs always do.
   */
  offThread?: boolean | 'auto';
  /** Largest FFT length of the hash (default 3 * 2^19, extract/chunked.ts DEFAULT_MAX_FFT_SIZE). */
  maxFftSize?: number;
  /** Live runs: the host draws the settings (default, or null: the chip's internal generator). */
  hostSettings?: HostSettingsOptions | null;
}

export interface PipelineConfig {
  seed: Uint8Array;
  blockTrials: number;
  eps: number;
  adversary: Adversary;
  classicalBound: 'pironio-massar' | 'pef';
  /** Present only with early stopping. */
  targetBits?: number;
  maxLostShare: number;
  bytes: number;
  maxConsecutiveRefused: number;
  prevCertificateSha256: string | null;
  /** Present only for a run started after a reconnect. */
  reconnect?: Certificate['reconnect'];
  offThread: boolean | 'auto';
  maxFftSize: number;
  /** Host settings with gamma as an exact fraction, or null for the chip's internal settings. */
  hostSettings: { seed?: Uint8Array; testRate: TestRate } | null;
}

/** Extractor input bits per block: 2 per trial (certify's CertifiedBlock.input). */
export function inputBitsForBlock(blockTrials: number): number {
  return INPUT_BITS_PER_TRIAL * blockTrials;
}

/** The largest output of a block: no bound certifies more than 1 bit per trial. */
export function maxOutputBitsForBlock(blockTrials: number): number {
  return MAX_OUTPUT_BITS_PER_TRIAL * blockTrials;
}

/** Seed length (bits) that serves every block of `blockTrials` trials. */
export function seedBitsForBlock(blockTrials: number): number {
  return seedBitsFor(inputBitsForBlock(blockTrials), maxOutputBitsForBlock(blockTrials));
}

/**
 * Every default in one place, every value checked (RangeError naming the
 * option): all of the configuration but the extractor seed, whose length
 * follows the block size resolved here (seedBitsForBlock). Throws when no
 * registered bound certifies the adversary with the settings asked for
 * (bounds/registry.ts), before any run starts.
 */
export function pipelineDefaults(o: Omit<PipelineOptions, 'seed'>): Omit<PipelineConfig, 'seed'> {
  const testRate = o.hostSettings?.testRate ?? 1;
  const c: Omit<PipelineConfig, 'seed'> = {
    blockTrials: o.blockTrials ?? DEFAULT_BLOCK_TRIALS,
    eps: o.eps ?? DEFAULT_EPS,
    adversary: o.adversary ?? 'quantum',
    classicalBound: o.classicalBound ?? 'pironio-massar',
    ...(o.targetBits !== undefined ? { targetBits: o.targetBits } : {}),
    maxLostShare: o.maxLostShare ?? DEFAULT_MAX_LOST_SHARE,
    bytes: o.bytes ?? Infinity,
    maxConsecutiveRefused: o.maxConsecutiveRefused ?? DEFAULT_MAX_CONSECUTIVE_REFUSED,
    prevCertificateSha256: o.prevCertificateSha256 ?? null,
    ...(o.reconnect ? { reconnect: o.reconnect } : {}),
    offThread: o.offThread ?? 'auto',
    maxFftSize: o.maxFftSize ?? DEFAULT_MAX_FFT_SIZE,
    hostSettings: o.hostSettings
      ? {
          ...(o.hostSettings.seed ? { seed: o.hostSettings.seed } : {}),
          testRate: typeof testRate === 'object' ? { ...testRate } : testRateFraction(testRate),
        }
      : null,
  };
  if (!(Number.isInteger(c.blockTrials) && c.blockTrials >= 1))
    throw new RangeError('"blockTrials" must be an integer >= 1');
  if (!(c.eps > 0 && c.eps < 1)) throw new RangeError('"eps" must be in (0, 1)');
  if (c.targetBits !== undefined) targetBitsProblem(c);
  if (!(c.bytes >= 0)) throw new RangeError('"bytes" must be a non-negative number');
  if (!(Number.isInteger(c.maxConsecutiveRefused) && c.maxConsecutiveRefused >= 1))
    throw new RangeError('"maxConsecutiveRefused" must be an integer >= 1');
  const missing = missingBoundReason(c.adversary, gammaOf(c.hostSettings?.testRate));
  if (missing !== null) throw new RangeError(missing);
  return c;
}

/** gamma of a test rate (1 without one). */
export function gammaOf(rate: TestRate | undefined): number {
  return rate ? rate.numerator / rate.denominator : 1;
}

/** The whole configuration: pipelineDefaults and the extractor seed. A resolved config resolves to itself. */
export function resolvePipelineConfig(o: PipelineOptions): PipelineConfig {
  if (!(o.seed instanceof Uint8Array)) throw new TypeError('"seed" must be a Uint8Array');
  return { ...pipelineDefaults(o), seed: o.seed };
}

/** Early stopping's constraints (certify/bounds/pef-stopping.ts), checked before any run: RangeError naming the option. */
function targetBitsProblem(c: Omit<PipelineConfig, 'seed'>): void {
  const k = c.targetBits as number;
  if (!(Number.isSafeInteger(k) && k >= 8 && k % 8 === 0))
    throw new RangeError('"targetBits" must be a positive multiple of 8');
  if (c.classicalBound !== 'pef') throw new RangeError('"targetBits" needs classicalBound pef');
  if (c.hostSettings) throw new RangeError('"targetBits" needs the chip\'s internal settings');
  if (c.blockTrials % STOPPING_SEGMENT_TRIALS !== 0)
    throw new RangeError(`with "targetBits", "blockTrials" must be a multiple of ${STOPPING_SEGMENT_TRIALS}`);
}
