/**
 * The extract stage of the stream (issue 3 scope 6): certified blocks in,
 * bytes and finished certificates out.
 *
 *   certifyRun(run) --> { ok: true, draft, input, inputBits, outputBits }
 *                   --> Toeplitz hash (one seed for the whole run)
 *                   --> bytes + certificate line (seed hash, output hash,
 *                       previous certificate's hash: a chain)
 *
 * A refused block passes through untouched: it has no input to hash and the
 * stage writes nothing for it (fail closed).
 *
 * One seed serves every block of a run: the Toeplitz family is a strong
 * two-universal extractor, so the seed may be public and reused, each block
 * paying its own eps_ext (stated in its certificate). Blocks of one run share
 * n; their m differ, and rows 0..m'-1 of T read only the seed's first
 * n + m' - 1 bits, so a seed of n + mMax - 1 bits serves them all.
 */
import { createHash } from 'node:crypto';
import type { RunEvent } from '../device/run.ts';
import {
  certifyRun,
  DEFAULT_BLOCK_TRIALS,
  INPUT_BITS_PER_TRIAL,
  formatCertificateLine,
  hashCertificate,
  type Certificate,
  type CertifyOptions,
  type RefusedBlock,
} from '../certify/index.ts';
import { ChunkedToeplitzPlan, DEFAULT_MAX_FFT_SIZE } from './chunked.ts';
import { ToeplitzThread } from './off-thread.ts';
import { seedBitsFor, seedSha256 } from './seed.ts';

/**
 * The largest output per trial any bound can certify: Pironio's H_min and
 * the EAT rate are both at most 1 bit per trial (at S = 2 sqrt 2).
 */
export const MAX_OUTPUT_BITS_PER_TRIAL = 1;

/** Extractor input length n for blocks of `blockTrials` trials. */
export function inputBitsForBlock(blockTrials: number): number {
  return INPUT_BITS_PER_TRIAL * blockTrials;
}

/** Seed length (bits) that serves every block of `blockTrials` trials. */
export function seedBitsForBlock(blockTrials: number): number {
  return seedBitsFor(inputBitsForBlock(blockTrials), MAX_OUTPUT_BITS_PER_TRIAL * blockTrials);
}

/** Plan sizes are multiples of mMax / PLAN_STEPS. */
const PLAN_STEPS = 32;

export interface ExtractOptions extends CertifyOptions {
  /** The extractor seed, at least seedBitsForBlock(blockTrials) bits (see seed.ts). */
  seed: Uint8Array;
  /** hashCertificate of the certificate this run's chain continues from (default none). */
  prevCertificateSha256?: string | null;
  /** A run started after a reconnect: recorded in its first certificate (certificate.ts `reconnect`). */
  reconnect?: Certificate['reconnect'];
  /**
   * Hash on a worker thread (off-thread.ts; same bytes), keeping the event
   * loop free during the FFT product: host-settings runs need it to answer
   * CREDIT in time (issue 6). Default false.
   */
  offThread?: boolean;
  /**
   * Largest FFT length (complex points, c * 2^k with c in {1, 3, 5}) of the
   * main-thread hash: a block whose product needs more is hashed in column
   * chunks (chunked.ts; same bytes; memory follows this length, not
   * (n + m) / 2: with the SIMD kernels the summed chunk products take about
   * 17 bytes per point plus tables, more transforms per block).
   * Default DEFAULT_MAX_FFT_SIZE (2^20): a 2^22-trial block then stays within
   * the 150 MB pipeline budget of issue 3.
   */
  maxFftSize?: number;
  /**
   * Called with each certified block's output length (bits) as soon as the
   * certify stage passes it, before its hash: a consumer that knows it has
   * enough can end the run then, not after the hash (which may take a
   * worker's start-up and most of a second).
   */
  onCertified?: (outputBits: number) => void;
}

export interface ExtractedBlock {
  ok: true;
  /** The block's output: exactly certificate.outputBits / 8 bytes. */
  bytes: Uint8Array;
  certificate: Certificate;
  /** The certificate as its canonical JSON line (no newline). */
  line: string;
}

export type ExtractResult = ExtractedBlock | RefusedBlock;

/** The certified blocks of a run, hashed to bytes, with their certificate chain. */
export async function* extractRun(
  run: AsyncIterable<RunEvent[]>,
  opts: ExtractOptions,
): AsyncGenerator<ExtractResult, void, void> {
  const {
    seed,
    prevCertificateSha256 = null,
    reconnect,
    offThread = false,
    maxFftSize = DEFAULT_MAX_FFT_SIZE,
    onCertified,
    ...certifyOptions
  } = opts;
  const blockTrials = certifyOptions.blockTrials ?? DEFAULT_BLOCK_TRIALS;
  const n = inputBitsForBlock(blockTrials);
  const mMax = MAX_OUTPUT_BITS_PER_TRIAL * blockTrials;
  // The FFT length follows n + m, so the plan is sized for the block's m
  // rounded up to a step of mMax / PLAN_STEPS (blocks of one run have nearly
  // the same m: one plan serves them), not for mMax, which a chip never
  // reaches (it needs S = 2 sqrt 2). Rows 0..m-1 read only the seed's first
  // n + m - 1 bits, so the output does not depend on the plan's size.
  // Made on the first certified block: a run that certifies nothing costs no FFT tables.
  const planStep = Math.max(8, Math.ceil(mMax / PLAN_STEPS / 8) * 8);
  let plan: ChunkedToeplitzPlan | undefined;
  let thread: ToeplitzThread | undefined;
  let threadPlanM = 0;
  const seedHash = seedSha256(seed.subarray(0, Math.ceil(seedBitsFor(n, mMax) / 8)));
  let prev = prevCertificateSha256;

  // The one seed of the run, stated in host-settings certificates' accounting (issue 6).
  // A block's input is hashed (or copied to the worker) before the next block is asked for: its buffer is recycled.
  try {
    for await (const block of certifyRun(run, {
      ...certifyOptions,
      extractorSeedBits: seedBitsFor(n, mMax),
      recycleInputs: true,
    })) {
      if (!block.ok) {
        yield block;
        continue;
      }
      if (block.inputBits !== n || block.outputBits > mMax) {
        // A mismatch here is a bug between the two stages, never a reason to hash with a wrong seed.
        throw new Error(
          `extract: block ${block.draft.blockIndex} has n = ${block.inputBits}, m = ${block.outputBits}; the run's plan is n = ${n}, m <= ${mMax}`,
        );
      }
      onCertified?.(block.outputBits);
      const mPlan = Math.min(mMax, Math.ceil(block.outputBits / planStep) * planStep);
      let bytes: Uint8Array;
      if (offThread) {
        // The same plan sizes as below, run by the worker: the same bytes.
        if (threadPlanM === 0 || threadPlanM < block.outputBits || threadPlanM > mPlan) threadPlanM = mPlan;
        thread ??= new ToeplitzThread(maxFftSize);
        bytes = await thread.hash(n, threadPlanM, seed, block.input, block.outputBits);
      } else {
        // a new m takes over the old plan's transform memory (never two alive at once)
        if (plan === undefined || plan.m < block.outputBits || plan.m > mPlan)
          plan = new ChunkedToeplitzPlan(n, mPlan, seed, { maxFftSize, from: plan });
        bytes = plan.hash(block.input, block.outputBits);
      }
      const certificate: Certificate = {
        ...block.draft,
        extraction: {
          seedSha256: seedHash,
          outputSha256: createHash('sha256').update(bytes).digest('hex'),
          outputBytes: bytes.length,
          prevCertificateSha256: prev,
        },
      };
      if (reconnect && prev === prevCertificateSha256) certificate.reconnect = reconnect; // this run's first
      const line = formatCertificateLine(certificate);
      prev = hashCertificate(line);
      yield { ok: true, bytes, certificate, line };
    }
  } finally {
    await thread?.close();
  }
}
