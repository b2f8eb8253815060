/**
 * Trial accounting (issue 3 scope 1): cuts the run's trial indices into
 * blocks of N consecutive indices, [jN, (j+1)N), and fills each block's
 * record histogram and extractor input as the TRIALS frames arrive.
 *
 * Rules:
 * - PROTOCOL 4 TRIALS: without GAP consecutive frames are contiguous (next
 *   first = first + n). A missing range is lost trials: flagged GAP, lost in
 *   the device (overflow); unflagged, lost on the link. PROTOCOL 6: lost
 *   trials are never dropped silently: they stay in their block, counted,
 *   contribute fixed zero bits to the extractor input, and are scored at the
 *   worst case by the estimator (estimate.ts).
 * - A frame whose first index is below the next expected one (overlapping,
 *   duplicated or backwards indices) is a protocol error: DeviceError.
 * - PROTOCOL 4 TRIALS: record bits 7 and 6 are reserved (0); a record with
 *   one set ends the run as a protocol error: DeviceError.
 *
 * Hot path: four records read as one 32-bit word, per two trials one
 * increment of a histogram of record pairs (4096 bins, folded into the
 * block's 64-bin histogram when the block ends) and one table lookup for
 * their extractor bits (outcomes.ts), into typed arrays; no allocation per
 * trial or per frame (one histogram and one input buffer per block). A
 * batch's frames that follow on are accounted as one stretch (addFrames),
 * and the health tests get its codes in one call.
 */
import { DeviceError } from '../errors.ts';
import { TRIALS_FLAG } from '../protocol/types.ts';
import { wordIndex, wordsOf } from '../protocol/words.ts';
import { OUTCOME_BITS_TABLE, PAIR_OUTCOME_BITS_TABLE } from './outcomes.ts';

/** Whether this host stores a 32-bit word's low byte first (then one word read holds four records in order). */
const LITTLE_ENDIAN = new Uint8Array(new Int32Array([1]).buffer)[0] === 1;

/** Trials per call of tallyWords (a multiple of 4). */
const TALLY_SLICE = 4096;

/** Largest block: 2^30 trials (a 256 MiB extractor input). */
export const MAX_BLOCK_TRIALS = 2 ** 30;

/** The longest gap accounted block by block: MAX_GAP_BLOCKS blocks or MAX_GAP_TRIALS trials, whichever is more (addLost). */
export const MAX_GAP_BLOCKS = 16;
export const MAX_GAP_TRIALS = 2 ** 26;

/** One block's raw tallies, handed over when its last index has been accounted for. */
export interface BlockTally {
  index: number;
  /** First trial index of the block. */
  firstTrial: number;
  /** Trials in the block (N, or fewer for the run's incomplete last block). */
  trials: number;
  /** Trials recorded (received). */
  recorded: number;
  /** Trials lost in the device (GAP). */
  lostDevice: number;
  /** Trials lost on the link (missing without GAP). */
  lostLink: number;
  /** Histogram of the recorded record bytes (64 bins, index = record byte). */
  histogram: Uint32Array;
  /** Extractor input: 2 bits per trial, trial k of the block at bits 2k (a) and 2k+1 (b), LSB first; lost trials are 0. */
  input: Uint8Array;
}

export interface AccountantOptions {
  /** Trials per block (N). */
  blockTrials: number;
  /**
   * Called with every run of recorded trials within one block, in trial
   * order, as their positions [from, to) in the block's extractor input,
   * once their codes are written there (for the health tests).
   */
  onCodes?: (input: Uint8Array, from: number, to: number, blockIndex: number) => void;
}

/**
 * TRIALS frames packed into typed arrays (a run's TrialsBatch has this shape): frame i starts at trial first[i],
 * has n[i] records at records[recordsAt(i), + n[i]), its flags and device seq.
 */
export interface PackedFrames {
  readonly first: ArrayLike<number>;
  readonly n: ArrayLike<number>;
  readonly flags: ArrayLike<number>;
  readonly seq: ArrayLike<number>;
  readonly records: Uint8Array;
  recordsAt(i: number): number;
}

export class TrialAccountant {
  readonly blockTrials: number;
  private readonly onCodes?: AccountantOptions['onCodes'];
  /** Next trial index expected. */
  private next = 0;
  /** Input buffers handed back by the consumer (releaseInput), reused by later blocks. */
  private readonly freeInputs: Uint8Array[] = [];
  private block!: BlockTally;
  /** The open block's counts of record pairs (index r0 | r1 << 6), folded into its histogram when it is handed over. */
  private readonly pairHistogram = new Uint32Array(64 * 64);
  /**
   * Positions [codesFrom, codesTo) of the open block's input written but not yet handed to onCodes: runs of
   * recorded trials that follow on are handed over as one (the health tests then take a batch's samples in
   * one call, not 40 at a time). Handed over before the block is, and before addTrials or addFrames return.
   */
  private codesFrom = 0;
  private codesTo = 0;
  /** Totals over the run. */
  recordedTotal = 0;
  lostDeviceTotal = 0;
  lostLinkTotal = 0;

  constructor({ blockTrials, onCodes }: AccountantOptions) {
    if (!Number.isSafeInteger(blockTrials) || blockTrials < 1 || blockTrials > MAX_BLOCK_TRIALS) {
      throw new RangeError(`"blockTrials" must be an integer from 1 to ${MAX_BLOCK_TRIALS}`);
    }
    this.blockTrials = blockTrials;
    this.onCodes = onCodes;
    this.block = this.newBlock(0);
  }

  /** The next trial index expected. */
  get nextTrial(): number {
    return this.next;
  }

  /** Index of the block being filled. */
  get openBlockIndex(): number {
    return this.block.index;
  }

  private newBlock(index: number): BlockTally {
    return {
      index,
      firstTrial: index * this.blockTrials,
      trials: this.blockTrials,
      recorded: 0,
      lostDevice: 0,
      lostLink: 0,
      histogram: new Uint32Array(64),
      input: this.freeInputs.pop()?.fill(0) ?? new Uint8Array(this.inputBytes),
    };
  }

  /** Bytes of one block's extractor input (2 bits per trial). */
  private get inputBytes(): number {
    return Math.ceil(this.blockTrials / 4);
  }

  /**
   * Hands back a block's input once nothing reads it any more: a later block
   * reuses the buffer (zeroed) instead of allocating one, so a long run makes
   * no garbage of a block's size (1 MiB at 2^22 trials) per block. At most
   * two are kept.
   */
  releaseInput(input: Uint8Array): void {
    const buffer = input.buffer;
    if (buffer.byteLength !== this.inputBytes || this.freeInputs.length >= 2) return;
    // never the open block's own buffer, never one twice
    if (buffer === this.block.input.buffer || this.freeInputs.some((f) => f.buffer === buffer)) return;
    this.freeInputs.push(new Uint8Array(buffer, 0, this.inputBytes));
  }

  /**
   * Accounts one TRIALS frame (PROTOCOL 4), its n records at records[at, at + n)
   * (a TrialsBatch holds many frames' records in one array). Returns the blocks
   * it completed (usually none), in order. Throws DeviceError on a protocol violation.
   */
  addTrials(
    first: number,
    n: number,
    records: Uint8Array,
    flags: number,
    seq: number,
    done: BlockTally[] = [],
    at = 0,
  ): BlockTally[] {
    try {
      this.account(first, n, records, flags, seq, done, at);
    } finally {
      this.flushCodes();
    }
    return done;
  }

  /**
   * addTrials for frames [from, to) of a packed batch, in order, with the same checks and tallies. Returns after
   * the first frame that completes a block (so the caller finishes it, as after addTrials, before later trials
   * reach the health tests): the index of the next frame to account.
   *
   * Frames that follow on (each starts where the last ended, its records right after the last's) within the open
   * block are accounted as one stretch of trials when none of their records has a reserved bit: what frame by
   * frame would give, with the per-frame work done once per stretch.
   */
  addFrames(frames: PackedFrames, from: number, to: number, done: BlockTally[]): number {
    const records = frames.records;
    let i = from;
    try {
      while (i < to && done.length === 0) {
        const j = this.stretchEnd(frames, i, to);
        const first = frames.first[i]!;
        const at = frames.recordsAt(i);
        let n = frames.n[i]!;
        if (j > i + 1) {
          const stretch = frames.first[j - 1]! + frames.n[j - 1]! - first;
          // PROTOCOL 4 TRIALS: a reserved bit ends the run at its own frame: then frame by frame, for that error.
          if (this.noReservedBits(records, at, stretch)) n = stretch;
        }
        this.account(first, n, records, frames.flags[i]!, frames.seq[i]!, done, at);
        i = n === frames.n[i]! ? i + 1 : j;
      }
    } finally {
      this.flushCodes();
    }
    return i;
  }

  /**
   * The end j of frames [i, j) that follow on from frame i inside the block it falls in (which then is the open
   * one), each after the first starting at the trial and the record where the last ended; the last may reach
   * the block's end. i + 1 when frame i does not start in the open block (an error, or a gap past its end).
   */
  private stretchEnd(frames: PackedFrames, i: number, to: number): number {
    const blockEnd = this.block.firstTrial + this.blockTrials;
    const first = frames.first[i]!;
    if (first < this.next || first >= blockEnd) return i + 1;
    const limit = frames.records.length;
    let end = first + frames.n[i]!;
    let rec = frames.recordsAt(i) + frames.n[i]!;
    let k = i + 1;
    for (; k < to && end < blockEnd && frames.first[k] === end && frames.recordsAt(k) === rec; k++) {
      const n = frames.n[k]!;
      if (!(n >= 1 && rec + n <= limit)) break;
      end += n;
      rec += n;
    }
    return k;
  }

  /** PROTOCOL 4 TRIALS: whether records[at, at + n) all have bits 7 and 6 (reserved) clear. */
  private noReservedBits(records: Uint8Array, at: number, n: number): boolean {
    let bad = 0;
    let k = at;
    const end = at + n;
    const quads = n >> 2;
    const w0 = wordIndex(records, k, quads);
    if (w0 >= 0) {
      const words = wordsOf(records);
      for (let w = w0; w < w0 + quads; w++) bad |= words[w]!;
      k += quads << 2;
    }
    for (; k < end; k++) bad |= records[k]!;
    return (bad & 0xc0c0c0c0) === 0;
  }

  /** addTrials without handing the last codes to onCodes. */
  private account(
    first: number,
    n: number,
    records: Uint8Array,
    flags: number,
    seq: number,
    done: BlockTally[],
    at: number,
  ): void {
    if (!(n >= 1 && n <= records.length - at)) {
      throw new DeviceError('PROTOCOL', `TRIALS frame seq ${seq}: n = ${n} but ${records.length - at} records`, {
        detail: { seq, n },
      });
    }
    if (first < this.next) {
      // PROTOCOL 4 TRIALS: frames are contiguous or jump forward (GAP / link loss), never back.
      throw new DeviceError(
        'PROTOCOL',
        `TRIALS frame seq ${seq} starts at trial ${first}, below the next expected ${this.next}: overlapping, duplicate or backwards trial indices`,
        {
          detail: { seq, first, expected: this.next },
        },
      );
    }
    if (first > this.next)
      this.addLost(
        first - this.next,
        (flags & TRIALS_FLAG.GAP) !== 0,
        done,
        `TRIALS frame seq ${seq} jumps from trial ${this.next} to ${first}`,
      );
    const N = this.blockTrials;
    let k = at;
    n += at; // records[at, n) from here on
    while (k < n) {
      const block = this.block;
      const blockEnd = block.firstTrial + N;
      const take = Math.min(n - k, blockEnd - this.next);
      const end = k + take;
      const hist = block.histogram;
      const input = block.input;
      const from = this.next - block.firstTrial;
      let pos = from;
      let i = k;
      // One trial at a time up to a byte boundary of the input (4 trials per byte)...
      for (; i < end && (pos & 3) !== 0; i++, pos++) {
        const r = records[i]!;
        if (r > 63) reservedBits(seq, first - at, records, i);
        hist[r]!++;
        input[pos >> 2]! |= OUTCOME_BITS_TABLE[r]! << ((pos & 3) << 1);
      }
      // ...then four trials per input byte, read as one word, written once, counted as two pairs...
      const w = LITTLE_ENDIAN ? wordIndex(records, i, (end - i) >> 2) : -1;
      if (w >= 0) {
        // In slices of TALLY_SLICE trials: short calls, which V8 compiles once (not mid-loop first, then again).
        const words = wordsOf(records);
        const i0 = i;
        while (i + 4 <= end) {
          const sliceEnd = Math.min(end, i + TALLY_SLICE);
          const stop = tallyWords(words, w + ((i - i0) >> 2), i, sliceEnd, input, pos, this.pairHistogram);
          pos += stop - i;
          i = stop;
          if (i + 4 <= sliceEnd) break; // a reserved bit
        }
        if (i + 4 <= end) reservedBits(seq, first - at, records, i);
      }
      // ...and the rest (all of them where the records are not word-aligned) one at a time.
      for (; i < end; i++, pos++) {
        const r = records[i]!;
        if (r > 63) reservedBits(seq, first - at, records, i);
        hist[r]!++;
        input[pos >> 2]! |= OUTCOME_BITS_TABLE[r]! << ((pos & 3) << 1);
      }
      this.codesWritten(from, pos);
      block.recorded += take;
      this.recordedTotal += take;
      this.next += take;
      k = end;
      if (this.next === blockEnd) this.completeBlock(done);
    }
  }

  /** Positions [from, to) of the open block's input hold new codes: joined to the pending run when they follow it. */
  private codesWritten(from: number, to: number): void {
    if (from !== this.codesTo) {
      this.flushCodes();
      this.codesFrom = from;
    }
    this.codesTo = to;
  }

  /** Hands the pending codes of the open block to onCodes. */
  private flushCodes(): void {
    const from = this.codesFrom;
    const to = this.codesTo;
    if (to === from) return;
    this.codesFrom = to;
    if (this.onCodes) this.onCodes(this.block.input, from, to, this.block.index);
  }

  /**
   * Accounts `count` lost trials at the next indices (PROTOCOL 6: kept,
   * counted). A gap longer than MAX_GAP_BLOCKS blocks (or 2^26 trials, if
   * more) ends the run as a protocol error instead: an index jump from a
   * broken or hostile chip (a u64 may jump by 2^53) would otherwise make the
   * host account billions of empty blocks before anyone could stop it. The
   * run's certified blocks stand; nothing after the jump is output.
   */
  private addLost(count: number, device: boolean, done: BlockTally[], why: string): void {
    const maxGap = Math.max(MAX_GAP_BLOCKS * this.blockTrials, MAX_GAP_TRIALS);
    if (count > maxGap) {
      throw new DeviceError(
        'PROTOCOL',
        `${why}: ${count} trials lost at once (more than ${maxGap}); the run is ended, nothing after it is output`,
        {
          detail: { from: this.next, lost: count },
        },
      );
    }
    let left = count;
    while (left > 0) {
      const block = this.block;
      const blockEnd = block.firstTrial + this.blockTrials;
      const take = Math.min(left, blockEnd - this.next);
      if (device) block.lostDevice += take;
      else block.lostLink += take;
      this.next += take;
      left -= take;
      if (this.next === blockEnd) this.completeBlock(done);
    }
    if (device) this.lostDeviceTotal += count;
    else this.lostLinkTotal += count;
  }

  /** Adds the pair counts into the open block's histogram (each pair is two records) and clears them. */
  private foldPairs(): void {
    const pairs = this.pairHistogram;
    const hist = this.block.histogram;
    for (let p = 0; p < pairs.length; p++) {
      const c = pairs[p]!;
      if (c === 0) continue;
      hist[p & 63]! += c;
      hist[p >> 6]! += c;
      pairs[p] = 0;
    }
  }

  private completeBlock(done: BlockTally[]): void {
    this.flushCodes();
    this.codesFrom = 0;
    this.codesTo = 0;
    this.foldPairs();
    done.push(this.block);
    this.block = this.newBlock(this.block.index + 1);
  }

  /**
   * The run ended after `trialsPerformed` trials (the chip's count, PROTOCOL 4
   * STATUS `trials`, when known): trials it performed that never arrived are
   * lost on the link (PROTOCOL 6), and may complete blocks. Returns the blocks
   * completed that way followed by the partial block, if any trial of it was
   * accounted for (its `trials` is the count so far).
   */
  finish(trialsPerformed = 0, done: BlockTally[] = []): BlockTally | null {
    if (trialsPerformed > this.next)
      this.addLost(
        trialsPerformed - this.next,
        false,
        done,
        `the chip reports ${trialsPerformed} trials performed, ${this.next} accounted`,
      );
    this.flushCodes();
    const block = this.block;
    const accounted = this.next - block.firstTrial;
    if (accounted === 0) return null;
    this.foldPairs();
    block.trials = accounted;
    block.input = block.input.subarray(0, Math.ceil(accounted / 4));
    return block;
  }
}

/**
 * Four trials per input byte from records[i] (word w of `words`, little-endian: record i + k is byte k) and input
 * position pos (a multiple of 4) while four remain before `end`: each input byte written once, the four counted
 * as two pairs (index r0 | r1 << 6). Returns where it stopped: fewer than four records left, or a group with a
 * reserved bit (PROTOCOL 4 TRIALS: bits 7 and 6 of each byte, 0xc0c0c0c0).
 */
function tallyWords(
  words: Int32Array,
  w: number,
  i: number,
  end: number,
  input: Uint8Array,
  pos: number,
  pairs: Uint32Array,
): number {
  const bits = PAIR_OUTCOME_BITS_TABLE;
  for (; i + 4 <= end; i += 4, pos += 4, w++) {
    const x = words[w]!;
    if ((x & 0xc0c0c0c0) !== 0) break;
    const p01 = (x & 63) | ((x >>> 2) & 0xfc0);
    const p23 = ((x >>> 16) & 63) | ((x >>> 18) & 0xfc0);
    pairs[p01]!++;
    pairs[p23]!++;
    input[pos >> 2] = bits[p01]! | (bits[p23]! << 4);
  }
  return i;
}

/** PROTOCOL 4 TRIALS: bits 7 and 6 of a record are reserved (0): the first offending record from index `from` ends the run. */
function reservedBits(seq: number, first: number, records: Uint8Array, from: number): never {
  let i = from;
  while (records[i]! <= 63) i++;
  const r = records[i]!;
  throw new DeviceError(
    'PROTOCOL',
    `TRIALS frame seq ${seq}: record of trial ${first + i} has reserved bits set (0x${r.toString(16).padStart(2, '0')})`,
    {
      detail: { seq, trial: first + i, record: r },
    },
  );
}
