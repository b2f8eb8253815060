/**
 * Trial generation: the click pattern of each trial drawn from the physics'
 * per-setting distribution (physics.ts settingDistributions) through alias
 * tables, the partially filled TRIALS frame, and the hot loop of an honest
 * chip with internal settings.
 */
import { MAX_TRIALS_PER_FRAME, type CountsFrame } from '../protocol/types.ts';
import { DETECTOR_BIT, type ChipSettings } from './physics.ts';
import type { Rng } from './rng.ts';

type Quad = [number, number, number, number];

/**
 * Four 16-entry alias tables (Walker 1977), one per setting pair xy, side by
 * side: slot = (xy << 4) | column. One u32 draws one pattern: its top 4 bits
 * pick the column, its low 28 bits are compared with the column's threshold,
 * whose integer part decides at once; only on a tie with the integer part
 * (probability 2^-28) does a second u32 resolve the fraction, so the sampled
 * distribution equals the computed one to about 2^-60.
 */
export class AliasTables {
  /** floor(threshold * 2^28) per slot. */
  readonly thresholdInt = new Int32Array(64);
  /** Fractional part of threshold * 2^28, scaled to 2^32. */
  readonly thresholdFrac = new Float64Array(64);
  readonly alias = new Uint8Array(64);

  /** Builds the four tables from the distributions of the patterns at xy = 0..3. */
  load(distributions: ArrayLike<number>[]): void {
    for (let xy = 0; xy < 4; xy++) buildAlias(distributions[xy]!, xy * 16, this);
  }

  /** One pattern at setting pair xy (one u32, two on a tie). */
  draw(rng: Rng, xy: number): number {
    const u = rng.u32();
    const slot = (xy << 4) | (u >>> 28);
    const low = u & 0x0fffffff;
    const ti = this.thresholdInt[slot]!;
    return low < ti || (low === ti && rng.u32() < this.thresholdFrac[slot]!) ? slot & 15 : this.alias[slot]!;
  }
}

/** Walker's construction for one 16-pattern distribution, written at `base` of the tables. */
function buildAlias(p: ArrayLike<number>, base: number, t: AliasTables): void {
  const n = 16;
  const scaled = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i]!;
  for (let i = 0; i < n; i++) scaled[i] = (p[i]! / sum) * n;
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < n; i++) (scaled[i]! < 1 ? small : large).push(i);
  while (small.length && large.length) {
    const s = small.pop()!;
    const l = large.pop()!;
    const th = scaled[s]! * 0x10000000;
    t.thresholdInt[base + s] = Math.floor(th);
    t.thresholdFrac[base + s] = (th - Math.floor(th)) * 0x100000000;
    t.alias[base + s] = l;
    scaled[l] = scaled[l]! + scaled[s]! - 1;
    (scaled[l]! < 1 ? small : large).push(l);
  }
  for (const i of [...small, ...large]) {
    t.thresholdInt[base + i] = 0x10000000; // always the column itself
    t.thresholdFrac[base + i] = 0;
    t.alias[base + i] = i;
  }
}

/** A run's trial counter and its partially filled TRIALS frame. */
export class TrialFrames {
  readonly records = new Uint8Array(MAX_TRIALS_PER_FRAME);
  /** Records in the partial frame. */
  count = 0;
  /** Trial index of its first record. */
  first = 0;
  /** Index of the run's next trial (PROTOCOL 5: START resets it to 0). */
  index = 0;

  /** Appends one record of trial `index`; returns true when the frame is full. */
  push(index: number, record: number): boolean {
    if (this.count === 0) this.first = index;
    this.records[this.count++] = record;
    return this.count === MAX_TRIALS_PER_FRAME;
  }
}

/** Internal settings: 2 bits per trial, (x << 1) | y, 16 trials from each u32 of the setting stream. */
export class SettingBits {
  private bits = 0;
  private left = 0;

  constructor(private readonly rng: Rng) {}

  next(): number {
    if (this.left === 0) {
      this.bits = this.rng.u32();
      this.left = 16;
    }
    const xy = this.bits & 3;
    this.bits >>>= 2;
    this.left--;
    return xy;
  }
}

/**
 * The hot loop of an honest chip with internal settings: the same draws as
 * the general loop (SettingBits, then AliasTables.draw), with xoshiro128**
 * inlined on local state. Calls `flush` whenever the frame fills.
 */
export function honestInternalTrials(
  frames: TrialFrames,
  tables: AliasTables,
  rng: Rng,
  settings: Rng,
  n: number,
  flush: () => void,
): void {
  const tInt = tables.thresholdInt;
  const tFrac = tables.thresholdFrac;
  const tAlias = tables.alias;
  const records = frames.records;
  let s0 = rng.s0;
  let s1 = rng.s1;
  let s2 = rng.s2;
  let s3 = rng.s3;
  let rc = frames.count;
  let index = frames.index;
  let bits = 0;
  let left = 0;
  for (let done = 0; done < n; done++) {
    if (left === 0) {
      bits = settings.u32();
      left = 16;
    }
    const xy = bits & 3;
    bits >>>= 2;
    left--;
    // xoshiro128** step (see rng.ts)
    const m = Math.imul(s1, 5);
    const u = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    const slot = (xy << 4) | (u >>> 28);
    const low = u & 0x0fffffff;
    const ti = tInt[slot]!;
    let pattern: number;
    if (low < ti) pattern = slot & 15;
    else if (low > ti) pattern = tAlias[slot]!;
    else {
      // tie on the integer threshold (p = 2^-28): resolve the fraction with the next word
      rng.s0 = s0;
      rng.s1 = s1;
      rng.s2 = s2;
      rng.s3 = s3;
      pattern = rng.u32() < tFrac[slot]! ? slot & 15 : tAlias[slot]!;
      s0 = rng.s0;
      s1 = rng.s1;
      s2 = rng.s2;
      s3 = rng.s3;
    }
    if (rc === 0) frames.first = index;
    records[rc++] = (xy << 4) | pattern; // PROTOCOL 4 TRIALS: x bit 5, y bit 4, clicks bits 3..0
    index++;
    if (rc === MAX_TRIALS_PER_FRAME) {
      frames.count = rc;
      frames.index = index;
      flush();
      rc = 0;
    }
  }
  rng.s0 = s0;
  rng.s1 = s1;
  rng.s2 = s2;
  rng.s3 = s3;
  frames.count = rc;
  frames.index = index;
}

/** The command a COUNTS frame answers (PROTOCOL 5 MEASURE_COUNTS). */
export interface CountsRequest {
  id: number;
  angleA: number;
  angleB: number;
  integration: number;
}

/** PROTOCOL 4 COUNTS frame for `trials` trials with these pattern counts (its seq filled in when sent). */
export function countsFrame(
  m: CountsRequest,
  trials: number,
  counts: ArrayLike<number>,
  s: Pick<ChipSettings, 'windowPs' | 'delayPs'>,
): CountsFrame {
  const { singles, coincidences } = summariseCounts(counts);
  return {
    kind: 'COUNTS',
    flags: 0,
    seq: 0,
    id: m.id,
    angleA: m.angleA,
    angleB: m.angleB,
    integration: m.integration,
    singles,
    coincidences,
    trials,
    window: s.windowPs,
    delay: s.delayPs,
  };
}

/** PROTOCOL 4 COUNTS: singles per detector and coincidences A0B0, A0B1, A1B0, A1B1 from pattern counts. */
function summariseCounts(counts: ArrayLike<number>): { singles: Quad; coincidences: Quad } {
  const singles: Quad = [0, 0, 0, 0];
  const coincidences: Quad = [0, 0, 0, 0];
  for (let pat = 0; pat < 16; pat++) {
    const c = counts[pat]!;
    if (c === 0) continue;
    for (let d = 0; d < 4; d++) if (pat & DETECTOR_BIT[d]!) singles[d]! += c;
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 2; b++) {
        // A0B0, A0B1, A1B0, A1B1
        if (pat & DETECTOR_BIT[a]! && pat & DETECTOR_BIT[2 + b]!) coincidences[a * 2 + b]! += c;
      }
    }
  }
  return { singles, coincidences };
}
