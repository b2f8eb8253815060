/**
 * Variable-length blocks for early stopping (`--target-bits`): the trial
 * accountant cuts the run into segments of STOPPING_SEGMENT_TRIALS indices
 * (accounting.ts, unchanged), and this merges consecutive segments into one
 * block until the stopping rule fires at a segment's end or the block
 * reaches the run's largest block N (bounds/pef-stopping.ts). The merged
 * block is then finished like a fixed one (certifier.ts finalize): same
 * checks, same certificate, its length the trial count at which the rule
 * fired. Block boundaries are a function of the trial records alone, so a
 * replay of the recording finds the same ones.
 */
import type { BlockTally } from './accounting.ts';
import type { StoppingRule } from './bounds/pef-stopping.ts';
import { countsFromHistogram } from './outcomes.ts';

export class VariableBlocks {
  private open: BlockTally | null = null;
  private nextIndex = 0;
  /** Input buffers (N / 4 bytes) handed back by the consumer, reused; at most two kept. */
  private readonly freeInputs: Uint8Array[] = [];

  constructor(private readonly rule: StoppingRule) {}

  /** Adds one whole segment (in trial order); returns the block it ends, if it ends one. */
  add(segment: BlockTally): BlockTally | null {
    const block = this.merge(segment);
    const lost = block.lostDevice + block.lostLink;
    // a lost trial has F = 0: the rule can no longer fire, so the block ends there (certifying nothing)
    const fired = lost === 0 && this.rule.fired(this.rule.log2Product(countsFromHistogram(block.histogram), 0));
    return fired || lost > 0 || block.trials >= this.rule.maxTrials ? this.close() : null;
  }

  /** The run ended: the open block with the run's last (partial) segment, if any; it is incomplete. */
  finish(partial: BlockTally | null): BlockTally | null {
    if (partial) this.merge(partial);
    return this.open ? this.close() : null;
  }

  /** Hands back a finished block's input once nothing reads it. */
  releaseInput(input: Uint8Array): void {
    const size = this.inputBytes;
    if (input.buffer.byteLength !== size || this.freeInputs.length >= 2) return;
    if (this.freeInputs.some((f) => f.buffer === input.buffer)) return;
    if (this.open && this.open.input.buffer === input.buffer) return;
    this.freeInputs.push(new Uint8Array(input.buffer, 0, size));
  }

  private get inputBytes(): number {
    return Math.ceil(this.rule.maxTrials / 4);
  }

  private merge(segment: BlockTally): BlockTally {
    let block = this.open;
    if (!block) {
      block = {
        index: this.nextIndex,
        firstTrial: segment.firstTrial,
        trials: 0,
        recorded: 0,
        lostDevice: 0,
        lostLink: 0,
        histogram: new Uint32Array(64),
        input: this.freeInputs.pop() ?? new Uint8Array(this.inputBytes),
      };
      this.open = block;
    }
    // segments are whole multiples of 4 trials (one input byte) except the run's last
    const offset = (segment.firstTrial - block.firstTrial) >> 2;
    const bytes = Math.ceil(segment.trials / 4);
    block.input.set(segment.input.subarray(0, bytes), offset);
    for (let r = 0; r < 64; r++) block.histogram[r] = (block.histogram[r] ?? 0) + (segment.histogram[r] ?? 0);
    block.trials += segment.trials;
    block.recorded += segment.recorded;
    block.lostDevice += segment.lostDevice;
    block.lostLink += segment.lostLink;
    return block;
  }

  private close(): BlockTally {
    const block = this.open as BlockTally;
    this.open = null;
    this.nextIndex++;
    block.input = block.input.subarray(0, Math.ceil(block.trials / 4));
    return block;
  }
}
