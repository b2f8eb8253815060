/**
 * PROTOCOL 3: the device numbers its frames with one counter, +1 per frame,
 * wrapping after 0xFFFFFFFF; a jump means frames were lost on the link.
 * A repeat of the last seq is a duplicate (dropped) only when the frame is
 * the same as the last one: a different frame under a repeated seq is not
 * the link repeating itself, so it is kept (a STATUS with fault bits, say,
 * must not vanish; repeated TRIALS indices then end the run in certify) and
 * counted in `repeatedSeqFrames`. A backward jump (more than 2^31 ahead
 * modulo 2^32) is taken as a counter restart, not a loss.
 *
 * TRIALS frames read in place (FrameSync's TRIALS sink) are remembered by
 * their fields and where their records are kept (the run's batch slot, else
 * a copy here), not as an object: the same comparison as for decoded frames
 * (a valid frame's bytes are fixed by its fields), with no allocation and
 * no extra copy per frame.
 */
import { MAX_TRIALS_PER_FRAME, type TrialsFrame } from '../protocol/types.ts';
import type { TrialsBatch } from './trials-batch.ts';

type Last = 'none' | 'frame' | 'trials';

export class DeviceSeqTracker {
  private last: number | undefined;
  /** What the last frame was: none (an invalid frame, seen by its seq only), a decoded frame, or TRIALS in place. */
  private lastKind: Last = 'none';
  private lastFrame: unknown;
  private lastFlags = 0;
  /** -0, i.e. 0, is a float: V8 keeps the field a float, and a first index read as one does not change the layout. */
  private lastFirst = -0;
  private lastN = 0;
  /** Where the last TRIALS frame's records are: the caller's copy (keptAt) or ownRecords (keepCopy). */
  private lastRecords: Uint8Array;
  private lastAt = 0;
  private readonly ownRecords = new Uint8Array(MAX_TRIALS_PER_FRAME);
  lostFrames = 0;
  duplicateFrames = 0;
  repeatedSeqFrames = 0;
  restarts = 0;

  constructor() {
    this.lastRecords = this.ownRecords;
  }

  /**
   * Returns the number of frames lost before this one, or -1 for a duplicate
   * to drop. `frame` (the decoded frame) tells a duplicate from a different
   * frame under the same seq; without it a repeat counts as a duplicate.
   */
  observe(seq: number, frame?: unknown): number {
    const same = this.sameAsLastFrame(frame);
    this.lastKind = frame === undefined ? 'none' : 'frame';
    this.lastFrame = frame;
    return this.advance(seq, same);
  }

  /**
   * observe() for a TRIALS frame read in place: its fields and its n records
   * at source[at, at + n), readable only during the scanner's call. A frame
   * taken (0 or more returned) must then be kept: keptIn(its batch) when a
   * run takes it, else keepCopy().
   */
  observeTrials(seq: number, source: Uint8Array, at: number, n: number, flags: number, first: number): number {
    // Compared only when it matters: under a repeated seq.
    const same = seq !== this.last || this.sameAsLastTrials(source, at, n, flags, first);
    const wasTrials = this.lastKind === 'trials';
    const lost = this.advance(seq, same);
    // A duplicate of the last TRIALS frame changes nothing; any other frame becomes the last one.
    if (lost < 0 && wasTrials) return lost;
    this.lastKind = 'trials';
    this.lastFrame = undefined;
    this.lastFlags = flags;
    this.lastFirst = first;
    this.lastN = n;
    this.lastRecords = source;
    this.lastAt = at;
    if (lost < 0) this.keepCopy(); // dropped: nobody keeps it
    return lost;
  }

  /** The TRIALS frame just taken is the last one of `batch` (a run's): its records are compared there. */
  keptIn(batch: TrialsBatch): void {
    this.lastRecords = batch.records;
    this.lastAt = batch.recordsAt(batch.frames - 1);
  }

  /** The TRIALS frame just taken is kept nowhere (no run takes it): its records are copied here. */
  keepCopy(): void {
    const own = this.ownRecords;
    const from = this.lastRecords;
    for (let k = 0; k < this.lastN; k++) own[k] = from[this.lastAt + k]!;
    this.lastRecords = own;
    this.lastAt = 0;
  }

  /** Whether a repeat of the last seq with `frame` would be the same frame (no frame on either side: a duplicate). */
  private sameAsLastFrame(frame: unknown): boolean {
    if (frame === undefined || this.lastKind === 'none') return true;
    if (this.lastKind === 'frame') return sameFrame(frame, this.lastFrame);
    const f = frame as Partial<TrialsFrame>;
    return f.kind === 'TRIALS' && f.records !== undefined && f.records.length === f.n
      ? this.sameAsLastTrials(f.records, 0, f.n, f.flags ?? -1, f.first ?? -1)
      : false;
  }

  /** Whether these TRIALS fields and records are the last frame's (a TRIALS frame: its bytes are fixed by them). */
  private sameAsLastTrials(source: Uint8Array, at: number, n: number, flags: number, first: number): boolean {
    if (this.lastKind === 'none') return true;
    if (this.lastKind === 'frame') {
      const f = this.lastFrame as Partial<TrialsFrame>;
      if (f.kind !== 'TRIALS' || f.records === undefined || f.n !== n || f.records.length !== n) return false;
      if (f.flags !== flags || f.first !== first) return false;
      for (let k = 0; k < n; k++) if (source[at + k] !== f.records[k]) return false;
      return true;
    }
    if (flags !== this.lastFlags || first !== this.lastFirst || n !== this.lastN) return false;
    const last = this.lastRecords;
    const lastAt = this.lastAt;
    for (let k = 0; k < n; k++) if (source[at + k] !== last[lastAt + k]) return false;
    return true;
  }

  private advance(seq: number, sameAsLast: boolean): number {
    const last = this.last;
    if (last === undefined) {
      this.last = seq;
      return 0;
    }
    const ahead = (seq - last) >>> 0;
    if (ahead === 0) {
      if (!sameAsLast) {
        this.repeatedSeqFrames++;
        return 0;
      }
      this.duplicateFrames++;
      return -1;
    }
    this.last = seq;
    if (ahead >= 0x80000000) {
      this.restarts++;
      return 0;
    }
    const lost = ahead - 1;
    this.lostFrames += lost;
    return lost;
  }
}

/** Deep equality of two decoded frames (plain objects, arrays, typed arrays, primitives). */
function sameFrame(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka)
    if (!sameFrame((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}
