/**
 * The pipeline, composed in one place: three stages with typed hand-offs.
 *
 *   RunEvent[] --certify--> CertifiedBlock | RefusedBlock     (src/certify: bound, checks, draft)
 *              --hash-----> ExtractedBlock | RefusedBlock     (src/extract: Toeplitz, one seed per run)
 *              --chain----> ChainedBlock   | RefusedBlock     (certificate completed, hashed, chained)
 *
 * A refused block passes through untouched: it has no input to hash and
 * nothing is written for it (fail closed). Each stage pulls the next block
 * only when its consumer asks, except the hash stage on its worker, which
 * asks for one block ahead (hash-stage.ts); either way a certified block's
 * input is hashed (or copied for the worker) before the certify stage
 * reuses its buffer.
 */
import { createHash } from 'node:crypto';
import type { RunEvent } from '../device/run.ts';
import {
  certifyRun,
  formatCertificateLine,
  hashCertificate,
  type BlockResult,
  type Certificate,
  type RefusedBlock,
} from '../certify/index.ts';
import type { SettingsLedger } from '../certify/echo.ts';
import { BlockHasher } from '../extract/index.ts';
import { hashStage, type ExtractedBlock } from './hash-stage.ts';
import { inputBitsForBlock, maxOutputBitsForBlock, type PipelineConfig } from './config.ts';

/** Where a run's events come from: the device as INFO names it, and where its settings came from. */
export interface RunSource {
  device: { serial: string; firmware: string };
  /** Default 'internal'. With 'host', `hostSettings` is the ledger of what was sent (the echo check reads it). */
  settingsSource?: 'internal' | 'host';
  hostSettings?: SettingsLedger;
}

/** A certified block with its finished certificate, a link of the run's chain. */
export interface ChainedBlock {
  ok: true;
  /** The block's output: exactly certificate.outputBits / 8 bytes. */
  bytes: Uint8Array;
  certificate: Certificate;
  /** The certificate as its canonical JSON line (no newline). */
  line: string;
}

export type PipelineResult = ChainedBlock | RefusedBlock;

/** Stage 1: the run's blocks, certified or refused (src/certify). */
export function certifyStage(
  events: AsyncIterable<RunEvent[]>,
  config: PipelineConfig,
  source: RunSource,
  extractorSeedBits: number,
): AsyncGenerator<BlockResult> {
  return certifyRun(events, {
    blockTrials: config.blockTrials,
    eps: config.eps,
    adversary: config.adversary,
    classicalBound: config.classicalBound,
    ...(config.targetBits !== undefined ? { targetBits: config.targetBits } : {}),
    maxLostShare: config.maxLostShare,
    device: source.device,
    settingsSource: source.settingsSource ?? 'internal',
    ...(source.hostSettings ? { hostSettings: source.hostSettings } : {}),
    extractorSeedBits,
    // hashStage is done with a block's input when it asks for the next result
    recycleInputs: true,
    // the run's events go to the certify stage only
    recycleBatches: true,
  });
}

/** Stage 2, hashStage, is in hash-stage.ts (one block hashed on the worker while the next is certified). */
export { hashStage, type ExtractedBlock };

/** Stage 3: each certificate completed with its extraction fields and chained to the previous one by its hash. */
export async function* chainStage(
  blocks: AsyncIterable<ExtractedBlock | RefusedBlock>,
  seedSha256: string,
  prevCertificateSha256: string | null,
  reconnect?: Certificate['reconnect'],
): AsyncGenerator<PipelineResult> {
  let prev = prevCertificateSha256;
  let first = true;
  for await (const block of blocks) {
    if (!block.ok) {
      yield block;
      continue;
    }
    const certificate: Certificate = {
      ...block.draft,
      extraction: {
        seedSha256,
        outputSha256: createHash('sha256').update(block.bytes).digest('hex'),
        outputBytes: block.bytes.length,
        prevCertificateSha256: prev,
      },
    };
    // A run started after a reconnect says so in its first certificate (certificate.ts `reconnect`).
    if (reconnect && first) certificate.reconnect = reconnect;
    first = false;
    const line = formatCertificateLine(certificate);
    prev = hashCertificate(line);
    yield { ok: true, bytes: block.bytes, certificate, line };
  }
}

/** The three stages over one run: certified blocks hashed to bytes, with their certificate chain. */
export async function* pipelineBlocks(
  events: AsyncIterable<RunEvent[]>,
  config: PipelineConfig,
  source: RunSource,
  onCertified?: (outputBits: number) => void,
): AsyncGenerator<PipelineResult, void, void> {
  const hasher = new BlockHasher(
    inputBitsForBlock(config.blockTrials),
    maxOutputBitsForBlock(config.blockTrials),
    config.seed,
    {
      // early stopping's blocks are short, hashed here by plans of their own length: no worker by default
      offThread: config.targetBits !== undefined && config.offThread === 'auto' ? false : config.offThread,
      maxFftSize: config.maxFftSize,
    },
  );
  try {
    const certified = certifyStage(events, config, source, hasher.seedBits);
    const hashed = hashStage(certified, hasher, onCertified);
    yield* chainStage(hashed, hasher.seedSha256, config.prevCertificateSha256, config.reconnect);
  } finally {
    await hasher.close();
  }
}
