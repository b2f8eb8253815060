/** What the certifier hands on for each block: a certified block with its extractor input, or a refusal. */
import type { BlockTest } from './block-checks.ts';
import type { CertificateDraft } from './certificate.ts';

export interface CertifiedBlock {
  ok: true;
  draft: CertificateDraft;
  /** Extractor input, 2 bits per trial (bit 2k = a, 2k+1 = b of the block's trial k), LSB first. */
  input: Uint8Array;
  inputBits: number;
  /** m, a multiple of 8. */
  outputBits: number;
}

export interface RefusedBlock {
  ok: false;
  blockIndex: number;
  trialRange: { first: number; count: number };
  /** One line naming the cause. */
  reason: string;
  /** The first test that failed. */
  test: BlockTest;
  /** Every test that failed, in the order checked. */
  failedTests: BlockTest[];
  counts: number[];
  sEstimate: number;
  sLowerBound: number;
  lostTrials: number;
  /** Host settings: random bits drawn for the block's settings (spent whether or not it certified). */
  settingBits?: number;
  /** Host settings: TRIALS frames flagged RESUMED in the block (starved intervals that ended in it). */
  resumedFrames?: number;
}

export type BlockResult = CertifiedBlock | RefusedBlock;
