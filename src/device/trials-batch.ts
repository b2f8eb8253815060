/**
 * The TRIALS frames of one chunk read, packed into typed arrays: what a run
 * delivers instead of an object per frame (PROTOCOL 4 TRIALS: up to 40
 * trials a frame, about 25,000 frames a second from a 1 M trials/s chip,
 * 500,000 in a 2e7-trial replay). A run's frames become one batch per
 * unbroken stretch of TRIALS in a chunk; every other event (STATUS, CREDIT,
 * a link loss, an invalid frame) closes it, so link order is kept.
 *
 * Frame i: trials first[i] .. first[i] + n[i] - 1, its records at
 * records[i * RECORDS_STRIDE .. + n[i]), its flags and device seq. All of a
 * batch's arrays share one ArrayBuffer: one allocation per chunk, none per
 * frame. A batch is written only by the link, before it is handed on.
 *
 * Its last consumer may hand it back (recycleTrialsBatch) once nothing reads
 * it any more: the link then refills it instead of allocating, so a run's
 * batches do not pile up as garbage outside the JS heap (about 220 kB per
 * 256 kB read of a replay) between the rare collections of a run that
 * allocates little else.
 */
import { MAX_TRIALS_PER_FRAME } from '../protocol/types.ts';

/** Bytes between two frames' records in `records` (PROTOCOL 4 TRIALS: n <= 40). */
export const RECORDS_STRIDE = MAX_TRIALS_PER_FRAME;

/** Bytes of one frame slot: first (8), seq (4), records (40), n (1), flags (1). */
const SLOT_BYTES = 8 + 4 + RECORDS_STRIDE + 1 + 1;

export class TrialsBatch {
  /** Frames held (frame i for i < frames). */
  frames = 0;
  /** Trials held: the sum of n. */
  trials = 0;
  readonly first: Float64Array;
  readonly seq: Uint32Array;
  readonly records: Uint8Array;
  readonly n: Uint8Array;
  readonly flags: Uint8Array;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('"capacity" must be a positive integer');
    const buffer = new ArrayBuffer(capacity * SLOT_BYTES);
    this.first = new Float64Array(buffer, 0, capacity);
    this.seq = new Uint32Array(buffer, 8 * capacity, capacity);
    this.records = new Uint8Array(buffer, 12 * capacity, RECORDS_STRIDE * capacity);
    this.n = new Uint8Array(buffer, (12 + RECORDS_STRIDE) * capacity, capacity);
    this.flags = new Uint8Array(buffer, (13 + RECORDS_STRIDE) * capacity, capacity);
  }

  get full(): boolean {
    return this.frames === this.capacity;
  }

  /**
   * Appends a frame whose n records are source[at, at + n) (copied: the
   * source is a link chunk or a scanner's scratch). The caller checks `full`.
   */
  append(source: Uint8Array, at: number, n: number, flags: number, seq: number, first: number): void {
    const i = this.frames;
    const records = this.records;
    const to = i * RECORDS_STRIDE;
    let k = 0;
    for (; k + 4 <= n; k += 4) {
      records[to + k] = source[at + k]!;
      records[to + k + 1] = source[at + k + 1]!;
      records[to + k + 2] = source[at + k + 2]!;
      records[to + k + 3] = source[at + k + 3]!;
    }
    for (; k < n; k++) records[to + k] = source[at + k]!;
    this.first[i] = first;
    this.seq[i] = seq;
    this.n[i] = n;
    this.flags[i] = flags;
    this.frames = i + 1;
    this.trials += n;
  }

  /** Where frame i's records begin in `records`. */
  recordsAt(i: number): number {
    return i * RECORDS_STRIDE;
  }
}

/** Batches handed back, reused by trialsBatchFor (a few: a run has one or two in flight between link and certify). */
const pool: TrialsBatch[] = [];
const POOL_MAX = 8;

/** An empty batch of at least `capacity` frames: a recycled one when one is that large, else a new one. */
export function trialsBatchFor(capacity: number): TrialsBatch {
  for (let i = pool.length - 1; i >= 0; i--) {
    const b = pool[i]!;
    if (b.capacity < capacity) continue;
    pool[i] = pool[pool.length - 1]!;
    pool.pop();
    b.frames = 0;
    b.trials = 0;
    return b;
  }
  return new TrialsBatch(capacity);
}

/**
 * Hands a batch back for reuse: only its last reader may, once it is done
 * with it (the certify stage of the pipeline, whose run's batches nobody
 * else reads). Reused at once by the next chunk read.
 */
export function recycleTrialsBatch(batch: TrialsBatch): void {
  if (pool.length < POOL_MAX && !pool.includes(batch)) pool.push(batch);
}

/** A batch of the given frames (tests, benches, tools): each `records` holds its frame's n records. */
export function trialsBatchOf(
  frames: readonly { first: number; n: number; records: Uint8Array; flags?: number; seq?: number }[],
): TrialsBatch {
  const batch = new TrialsBatch(Math.max(1, frames.length));
  for (const [i, f] of frames.entries()) {
    if (!(f.n >= 1 && f.n <= RECORDS_STRIDE && f.n <= f.records.length))
      throw new RangeError(`frame ${i}: n = ${f.n} with ${f.records.length} records (1..${RECORDS_STRIDE})`);
    batch.append(f.records, 0, f.n, f.flags ?? 0, f.seq ?? i, f.first);
  }
  return batch;
}
