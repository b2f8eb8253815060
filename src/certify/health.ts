/**
 * Health tests on the raw outcome bits (issue 3 scope 5), stream-friendly:
 * state is carried across frames and blocks, and failures are counted so the
 * certifier can attribute them to the block being filled.
 *
 * - NIST SP 800-90B section 4.4.1, repetition count test (RCT), and
 *   section 4.4.2, adaptive proportion test (APT), run separately on the
 *   outcome bit streams a and b (outcomes.ts binning). Cutoffs are computed
 *   from the standard's formulas for a false-positive probability alpha per
 *   sample and an assessed min-entropy H per sample:
 *     RCT: C = 1 + ceil(-log2(alpha) / H)                  (SP 800-90B 4.4.1)
 *     APT: C = 1 + CRITBINOM(W, 2^-H, 1 - alpha), W = 1024 (binary samples)
 *          (SP 800-90B 4.4.2), i.e. the smallest C with P[Binom(W, 2^-H) >= C] <= alpha.
 *   Defaults: alpha = 2^-20 and H = 0.2 bit per outcome bit. H is a
 *   deliberately low assessment (a most likely value of probability up to
 *   2^-0.2 = 0.87): an honest chip's outcome bits are biased by detector
 *   efficiency and no-clicks (P(0) about 0.55-0.7), and these tests are
 *   there to catch a dead, latched or stuck station, not to certify entropy
 *   (the Bell test does that).
 * - Settings uniformity: Pearson chi-square of the four (x, y) counts of a
 *   block against the uniform 1/4 (3 degrees of freedom), refused above the
 *   critical value for a false-alarm rate of 2^-20 per block (chi-square
 *   survival function Q(x) = erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2) for 3
 *   degrees of freedom, Abramowitz & Stegun 26.4.4/26.4.5).
 */
import { OUTCOME_BITS_TABLE } from './outcomes.ts';
import { chiSquare3Critical } from '../math/index.ts';

/**
 * Four samples of both streams as one byte g = a0 | b0 << 1 | a1 << 2 | ..
 * | b3 << 7. ONES4[g]: the ones among a0..a3 (low 16 bits) and among b0..b3
 * (high 16 bits), so that one sum counts both streams (at most 1024 per
 * window, no carry between the halves).
 */
const ONES4 = new Int32Array(256);
/**
 * RCT_STEP4[(last << 8) | g], last = the previous sample's a | b << 1: for
 * each stream, bit "keep" (all four samples equal the previous one, so the
 * run goes on) and the length of the last run within g (1..4); run' =
 * (run & -keep) + length, as four one-sample steps give. Packed as keepA |
 * lengthA << 1 | keepB << 4 | lengthB << 5.
 */
const RCT_STEP4 = new Uint8Array(4 * 256);
for (let g = 0; g < 256; g++) {
  let onesA = 0;
  let onesB = 0;
  for (let k = 0; k < 4; k++) {
    onesA += (g >> (2 * k)) & 1;
    onesB += (g >> (2 * k + 1)) & 1;
  }
  ONES4[g] = onesA | (onesB << 16);
  for (let last = 0; last < 4; last++) {
    let packed = 0;
    for (const [stream, shift] of [
      [0, 0],
      [1, 4],
    ] as const) {
      const bit = (k: number): number => (g >> (2 * k + stream)) & 1;
      const prev = (last >> stream) & 1;
      const keep = bit(0) === prev && bit(1) === prev && bit(2) === prev && bit(3) === prev ? 1 : 0;
      let length = 1;
      while (length < 4 && bit(3 - length) === bit(3)) length++;
      packed |= (keep | (length << 1)) << shift;
    }
    RCT_STEP4[(last << 8) | g] = packed;
  }
}

export const DEFAULT_HEALTH_ALPHA = 2 ** -20;
export const DEFAULT_ENTROPY_PER_BIT = 0.2;
export const APT_WINDOW = 1024;
export const DEFAULT_SETTINGS_ALPHA = 2 ** -20;

/** SP 800-90B 4.4.1: C = 1 + ceil(-log2(alpha) / H). */
export function rctCutoff(alpha: number, entropyPerSample: number): number {
  return 1 + Math.ceil(-Math.log2(alpha) / entropyPerSample);
}

/** ln(k!) for k = 0..n. */
function logFactorials(n: number): Float64Array {
  const t = new Float64Array(n + 1);
  for (let k = 1; k <= n; k++) t[k] = t[k - 1]! + Math.log(k);
  return t;
}

/** P[Binom(n, p) >= c], summed exactly in log space. */
export function binomialUpperTail(n: number, p: number, c: number): number {
  if (c <= 0) return 1;
  if (c > n) return 0;
  const lf = logFactorials(n);
  let sum = 0;
  for (let k = c; k <= n; k++) sum += binomialPmf(lf, n, k, p);
  return sum;
}

/** P[Binom(n, p) = k] in log space, lf = logFactorials(n). */
function binomialPmf(lf: Float64Array, n: number, k: number, p: number): number {
  return Math.exp(lf[n]! - lf[k]! - lf[n - k]! + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

/**
 * SP 800-90B 4.4.2: C = 1 + CRITBINOM(W, 2^-H, 1 - alpha), where
 * CRITBINOM(n, p, q) is the smallest k with P[Binom(n, p) <= k] >= q; so C is
 * the smallest integer with P[Binom(W, 2^-H) >= C] <= alpha.
 */
export function aptCutoff(alpha: number, entropyPerSample: number, window = APT_WINDOW): number {
  const p = 2 ** -entropyPerSample;
  const start = Math.ceil(window * p);
  // The candidate from every tail at once, summed from the top (one pass instead of a tail sum per c), then
  // confirmed with binomialUpperTail at c and c - 1: the answer is that of the search c = start, start + 1, ...
  const c = firstTailAtMost(window, p, start, alpha);
  const confirmed =
    binomialUpperTail(window, p, c) <= alpha && (c === start || binomialUpperTail(window, p, c - 1) > alpha);
  if (confirmed) return c;
  let d = start;
  while (d <= window && binomialUpperTail(window, p, d) > alpha) d++;
  // d is now the smallest value with P[B >= d] <= alpha; that is 1 + CRITBINOM.
  return d;
}

/** The smallest c >= start with P[Binom(n, p) >= c] <= alpha (n + 1 if none), the tails summed from k = n down. */
function firstTailAtMost(n: number, p: number, start: number, alpha: number): number {
  const lf = logFactorials(n);
  let tail = 0;
  let c = n + 1;
  for (let k = n; k >= start; k--) {
    tail += binomialPmf(lf, n, k, p);
    if (tail > alpha) break;
    c = k;
  }
  return c;
}

/** Pearson chi-square of four setting counts against uniform. */
export function settingsChiSquare(settingCounts: readonly number[]): number {
  const n = settingCounts[0]! + settingCounts[1]! + settingCounts[2]! + settingCounts[3]!;
  if (n === 0) return 0;
  const e = n / 4;
  let chi = 0;
  for (let i = 0; i < 4; i++) chi += (settingCounts[i]! - e) ** 2 / e;
  return chi;
}

export interface HealthOptions {
  /** False-positive probability per sample for RCT and APT (default 2^-20). */
  alpha?: number;
  /** Assessed min-entropy per outcome bit, bits (default 0.2). */
  entropyPerBit?: number;
  /** False-alarm probability per block of the settings-uniformity test (default 2^-20). */
  settingsAlpha?: number;
}

/**
 * RCT and APT on the outcome bits a and b, over a stream of record bytes.
 * Lost trials are not samples: the tests run over the recorded outcomes in
 * trial order, across frames and blocks.
 */
export class OutcomeHealthTests {
  readonly alpha: number;
  readonly entropyPerBit: number;
  readonly rctCutoff: number;
  readonly aptCutoff: number;
  readonly settingsAlpha: number;
  readonly settingsCritical: number;
  /** Failures so far, per test and stream (each C equal samples in a row count once; a window once). */
  rctFailuresA = 0;
  rctFailuresB = 0;
  aptFailuresA = 0;
  aptFailuresB = 0;
  // lastA/lastB are only compared once a run is under way (run 0 masks the first comparison).
  private lastA = 0;
  private lastB = 0;
  private runA = 0;
  private runB = 0;
  private aptPos = 0;
  private refA = 0;
  private refB = 0;
  private cntA = 0;
  private cntB = 0;

  constructor({
    alpha = DEFAULT_HEALTH_ALPHA,
    entropyPerBit = DEFAULT_ENTROPY_PER_BIT,
    settingsAlpha = DEFAULT_SETTINGS_ALPHA,
  }: HealthOptions = {}) {
    if (!(alpha > 0 && alpha < 1)) throw new RangeError('"alpha" must be in (0, 1)');
    if (!(entropyPerBit > 0 && entropyPerBit <= 1)) throw new RangeError('"entropyPerBit" must be in (0, 1]');
    if (!(settingsAlpha > 0 && settingsAlpha < 1)) throw new RangeError('"settingsAlpha" must be in (0, 1)');
    this.alpha = alpha;
    this.entropyPerBit = entropyPerBit;
    this.rctCutoff = rctCutoff(alpha, entropyPerBit);
    this.aptCutoff = aptCutoff(alpha, entropyPerBit);
    this.settingsAlpha = settingsAlpha;
    this.settingsCritical = chiSquare3Critical(settingsAlpha);
  }

  /** Codes of the records fed through `update` (reused). */
  private scratch = new Uint8Array(0);

  /**
   * Feeds records[start..end) (valid record bytes, in trial order): their
   * outcome codes packed as the extractor input packs them, then updateCodes.
   * (The certifier feeds the block's extractor input to updateCodes directly.)
   */
  update(records: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    if (this.scratch.length < (n + 3) >> 2) this.scratch = new Uint8Array(Math.max(64, (n + 3) >> 2));
    const codes = this.scratch;
    codes.fill(0, 0, (n + 3) >> 2);
    for (let k = 0; k < n; k++) codes[k >> 2]! |= OUTCOME_BITS_TABLE[records[start + k]!]! << ((k & 3) << 1);
    this.updateCodes(codes, 0, n);
  }

  /**
   * Feeds the samples at positions [from, to) of `codes`, 2 bits each, a |
   * b << 1, position p at bits 2(p & 3) of byte p >> 2, LSB first: the
   * layout of the extractor input (outcomes.ts), so the certifier runs the
   * tests on the codes the accountant has just written.
   *
   * Four samples of each stream at a time where no alarm can fall among
   * them and the four fill one byte g of `codes` (a0 b0 a1 b1 .. from the
   * LSB), k groups in a row with no test between them while every run stays
   * below C (run + 4k < C): two tables give the run lengths after them
   * (RCT_STEP4: keep the run or restart it, and the length of the last run
   * in g) and the ones among them (ONES4, summed per window and turned into
   * matches with the window's reference at its end). Elsewhere (a run near
   * C, a window's or a call's edges) one sample at a time, branch-free: run
   * = (run & -(a == last)) + 1, cnt += (a == ref). Both give the counts of
   * taking the samples one by one (test/certify/health.test.ts checks them
   * against a one-by-one reference).
   */
  updateCodes(codes: Uint8Array, from: number, to: number): void {
    // A slice of at most a window per call: a batch's codes come in one call, and V8 would compile a loop that
    // long while it runs (OSR) and then the whole function again; short calls are compiled once.
    for (let p = from; p < to; p += APT_WINDOW) this.updateSlice(codes, p, Math.min(to, p + APT_WINDOW));
  }

  /** updateCodes on [from, to). */
  private updateSlice(codes: Uint8Array, from: number, to: number): void {
    const C = this.rctCutoff;
    let lastA = this.lastA,
      lastB = this.lastB,
      runA = this.runA,
      runB = this.runB;
    let aptPos = this.aptPos,
      refA = this.refA,
      refB = this.refB,
      cntA = this.cntA,
      cntB = this.cntB;
    let p = from;
    while (p < to) {
      if (aptPos === 0) {
        // SP 800-90B 4.4.2: a window's reference is its first sample (counted by the loops below).
        const ab0 = (codes[p >> 2]! >> ((p & 3) << 1)) & 3;
        refA = ab0 & 1;
        refB = ab0 >> 1;
        cntA = 0;
        cntB = 0;
      }
      const stop = Math.min(to, p + (APT_WINDOW - aptPos));
      aptPos += stop - p;
      /** Ones of a (low 16 bits) and of b (high 16 bits) among the grouped samples of this window stretch. */
      let ones = 0;
      let grouped = 0;
      let last = lastA | (lastB << 1);
      while (p < stop) {
        // k groups at once where none can reach C: every run stays below C after 4k more samples (p stays a
        // multiple of 4 from one round to the next).
        while ((p & 3) === 0) {
          const k = Math.min((stop - p) >> 2, (C - 1 - Math.max(runA, runB)) >> 2);
          if (k <= 0) break;
          grouped += 4 * k;
          for (const end = p + 4 * k; p < end; p += 4) {
            const g = codes[p >> 2]!;
            // SP 800-90B 4.4.1: count identical consecutive samples (no alarm possible in this group).
            const e = RCT_STEP4[(last << 8) | g]!;
            runA = (runA & -(e & 1)) + ((e >> 1) & 7);
            runB = (runB & -((e >> 4) & 1)) + (e >> 5);
            last = g >> 6;
            // SP 800-90B 4.4.2: the samples equal to the window's first, from the ones (below).
            ones += ONES4[g]!;
          }
        }
        if (p === stop) break;
        const ab = (codes[p >> 2]! >> ((p & 3) << 1)) & 3;
        const a = ab & 1;
        const b = ab >> 1;
        // SP 800-90B 4.4.1: count identical consecutive samples; alarm at C.
        runA = (runA & -(1 ^ a ^ (last & 1))) + 1;
        runB = (runB & -(1 ^ b ^ (last >> 1))) + 1;
        last = ab;
        if (runA >= C || runB >= C) {
          // Alarm, and count afresh: a stuck stream alarms again every C samples (so in every block it spans).
          if (runA >= C) {
            this.rctFailuresA++;
            runA = 0;
          }
          if (runB >= C) {
            this.rctFailuresB++;
            runB = 0;
          }
        }
        // SP 800-90B 4.4.2: count the samples equal to the window's first.
        cntA += 1 ^ a ^ refA;
        cntB += 1 ^ b ^ refB;
        p++;
      }
      lastA = last & 1;
      lastB = last >> 1;
      const onesA = ones & 0xffff;
      const onesB = ones >>> 16;
      cntA += refA === 1 ? onesA : grouped - onesA;
      cntB += refB === 1 ? onesB : grouped - onesB;
      if (aptPos === APT_WINDOW) {
        if (cntA >= this.aptCutoff) this.aptFailuresA++;
        if (cntB >= this.aptCutoff) this.aptFailuresB++;
        aptPos = 0;
      }
    }
    this.lastA = lastA;
    this.lastB = lastB;
    this.runA = runA;
    this.runB = runB;
    this.aptPos = aptPos;
    this.refA = refA;
    this.refB = refB;
    this.cntA = cntA;
    this.cntB = cntB;
  }

  /** A snapshot of the failure counters (to diff per block). */
  snapshot(): HealthCounters {
    return { rctA: this.rctFailuresA, rctB: this.rctFailuresB, aptA: this.aptFailuresA, aptB: this.aptFailuresB };
  }

  /** Whether four setting counts pass the uniformity test. */
  settingsUniform(settingCounts: readonly number[]): { ok: boolean; chiSquare: number } {
    const chiSquare = settingsChiSquare(settingCounts);
    return { ok: chiSquare <= this.settingsCritical, chiSquare };
  }
}

export interface HealthCounters {
  rctA: number;
  rctB: number;
  aptA: number;
  aptB: number;
}
