import { describe, expect, it } from 'vitest';
import { Certifier } from '../../src/certify/certifier.ts';
import {
  aptCutoff,
  APT_WINDOW,
  binomialUpperTail,
  OutcomeHealthTests,
  rctCutoff,
  settingsChiSquare,
} from '../../src/certify/health.ts';
import { OUTCOME_BITS_TABLE } from '../../src/certify/outcomes.ts';
import { chiSquare3Critical, chiSquare3Survival } from '../../src/math/index.ts';
import { chshRecords, record, rng, toBatches } from './helpers.ts';

/**
 * Independent binomial upper tail: pmf by the multiplicative recurrence from the mode side, in linear space with
 * rescaling.
 */
function tailByRecurrence(n: number, p: number, c: number): number {
  // pmf(k+1) = pmf(k) * (n-k)/(k+1) * p/(1-p); start from log pmf(0) = n log(1-p).
  let logPmf = n * Math.log1p(-p);
  const pmf: number[] = [];
  for (let k = 0; k <= n; k++) {
    pmf.push(Math.exp(logPmf));
    logPmf += Math.log((n - k) / (k + 1)) + Math.log(p / (1 - p));
  }
  let tail = 0;
  for (let k = n; k >= c; k--) tail += pmf[k]!;
  return tail;
}

describe('NIST SP 800-90B cutoffs', () => {
  it('RCT: C = 1 + ceil(-log2(alpha)/H)', () => {
    expect(rctCutoff(2 ** -20, 0.2)).toBe(1 + Math.ceil(20 / 0.2));
    expect(rctCutoff(2 ** -20, 1)).toBe(21);
    expect(rctCutoff(2 ** -30, 0.5)).toBe(61);
  });

  it('APT: the smallest C with P[Binom(1024, 2^-H) >= C] <= alpha (checked by an independent tail sum)', () => {
    for (const [alpha, h] of [
      [2 ** -20, 0.2],
      [2 ** -20, 0.5],
      [2 ** -20, 1],
      [2 ** -30, 1],
      [2 ** -10, 1],
    ] as const) {
      const c = aptCutoff(alpha, h);
      const p = 2 ** -h;
      expect(tailByRecurrence(APT_WINDOW, p, c)).toBeLessThanOrEqual(alpha);
      expect(tailByRecurrence(APT_WINDOW, p, c - 1)).toBeGreaterThan(alpha);
    }
  });

  it('APT: the cutoff is the one of the search C = ceil(W p), +1, ... over the same tail sums, for any alpha and H', () => {
    const r = rng(11);
    for (let t = 0; t < 60; t++) {
      const alpha = 2 ** -(1 + r() * 40);
      const h = 0.02 + r() * 0.98;
      const window = t % 3 === 0 ? 1 + Math.floor(r() * 2000) : APT_WINDOW;
      const p = 2 ** -h;
      let c = Math.ceil(window * p);
      while (c <= window && binomialUpperTail(window, p, c) > alpha) c++;
      expect(aptCutoff(alpha, h, window)).toBe(c);
    }
  });

  it('chi-square (3 dof) critical values: 7.815 at 5% (textbook table), survival = alpha at the critical value', () => {
    expect(chiSquare3Critical(0.05)).toBeCloseTo(7.815, 2);
    expect(chiSquare3Critical(0.01)).toBeCloseTo(11.345, 2);
    const c = chiSquare3Critical(2 ** -20);
    expect(chiSquare3Survival(c) / 2 ** -20).toBeCloseTo(1, 3);
  });
});

describe('health tests on ideal data (fixed seeds)', () => {
  it('RCT alarm count on ideal bits matches its rate from the cutoff formula (H = 1, alpha = 2^-10)', () => {
    const t = new OutcomeHealthTests({ alpha: 2 ** -10, entropyPerBit: 1 });
    const C = t.rctCutoff; // 11
    const n = 2 ** 21;
    const r = rng(7);
    const recs = new Uint8Array(n);
    for (let i = 0; i < n; i++)
      recs[i] = record(r() < 0.5 ? 1 : 0, r() < 0.5 ? 1 : 0, r() < 0.5 ? 1 : 0, r() < 0.5 ? 1 : 0);
    t.update(recs, 0, n);
    // A run reaches length C at a given position with probability (1/2) * 2^-(C-1) (a change, then C-1 repeats).
    const expected = n * 0.5 * 2 ** -(C - 1);
    for (const alarms of [t.rctFailuresA, t.rctFailuresB]) {
      expect(Math.abs(alarms - expected)).toBeLessThan(5 * Math.sqrt(expected));
      // The false-positive rate per sample is at most alpha, as the standard requires.
      expect(alarms / n).toBeLessThanOrEqual(2 ** -10);
    }
  });

  it('APT windows alarm at most at rate alpha (+5 sigma) on ideal bits, and never with the default cutoffs', () => {
    const t = new OutcomeHealthTests({ alpha: 2 ** -10, entropyPerBit: 1 });
    const d = new OutcomeHealthTests();
    const n = 2 ** 21;
    const recs = chshRecords(n, 2.4, 11);
    t.update(recs, 0, n);
    d.update(recs, 0, n);
    const windows = n / APT_WINDOW;
    const bound = windows * 2 ** -10 + 5 * Math.sqrt(windows * 2 ** -10);
    expect(t.aptFailuresA).toBeLessThanOrEqual(bound);
    expect(t.aptFailuresB).toBeLessThanOrEqual(bound);
    expect(d.snapshot()).toEqual({ rctA: 0, rctB: 0, aptA: 0, aptB: 0 });
  });

  it('carries state across frames: any split of the stream gives the same alarms as one pass', () => {
    const n = 200_000;
    const r = rng(3);
    const recs = new Uint8Array(n);
    // Biased bits (P(1) = 0.1) so that both tests fire now and then with H = 1.
    for (let i = 0; i < n; i++) recs[i] = record(0, 0, r() < 0.1 ? 1 : 0, r() < 0.1 ? 1 : 0);
    const whole = new OutcomeHealthTests({ alpha: 2 ** -20, entropyPerBit: 1 });
    whole.update(recs, 0, n);
    const split = new OutcomeHealthTests({ alpha: 2 ** -20, entropyPerBit: 1 });
    let i = 0;
    while (i < n) {
      const end = Math.min(n, i + 1 + Math.floor(r() * 57));
      split.update(recs, i, end);
      i = end;
    }
    expect(whole.snapshot().rctA).toBeGreaterThan(0);
    expect(whole.snapshot().aptA).toBeGreaterThan(0);
    expect(split.snapshot()).toEqual(whole.snapshot());
  });

  it('a dead detector (b always 0) fails the RCT at the cutoff and every C samples after, and the APT in every window', () => {
    const t = new OutcomeHealthTests();
    const n = 4096;
    const r = rng(5);
    const recs = new Uint8Array(n);
    for (let i = 0; i < n; i++) recs[i] = record(r() < 0.5 ? 1 : 0, r() < 0.5 ? 1 : 0, r() < 0.5 ? 1 : 0, 0);
    t.update(recs, 0, t.rctCutoff - 1);
    expect(t.rctFailuresB).toBe(0);
    t.update(recs, t.rctCutoff - 1, n);
    // It alarms again every C samples while the run lasts (so every block it spans fails).
    expect(t.rctFailuresB).toBe(Math.floor(n / t.rctCutoff));
    expect(t.aptFailuresB).toBe(n / APT_WINDOW);
    expect(t.rctFailuresA + t.aptFailuresA).toBe(0);
  });
});

/**
 * The one-sample-at-a-time RCT and APT of SP 800-90B 4.4.1 / 4.4.2 as
 * OutcomeHealthTests.update defines them (its state carried between calls),
 * written out plainly: the reference for the grouped update.
 */
class OneByOne {
  rctFailuresA = 0;
  rctFailuresB = 0;
  aptFailuresA = 0;
  aptFailuresB = 0;
  lastA = 0;
  lastB = 0;
  runA = 0;
  runB = 0;
  aptPos = 0;
  refA = 0;
  refB = 0;
  cntA = 0;
  cntB = 0;
  constructor(
    readonly C: number,
    readonly Capt: number,
  ) {}
  update(records: Uint8Array, start: number, end: number): void {
    for (let i = start; i < end; i++) {
      const r = records[i]!;
      const a = (r & 0x08) !== 0 && (r & 0x04) === 0 ? 1 : 0;
      const b = (r & 0x02) !== 0 && (r & 0x01) === 0 ? 1 : 0;
      this.runA = this.runA > 0 && a === this.lastA ? this.runA + 1 : 1;
      this.runB = this.runB > 0 && b === this.lastB ? this.runB + 1 : 1;
      this.lastA = a;
      this.lastB = b;
      if (this.runA >= this.C) {
        this.rctFailuresA++;
        this.runA = 0;
      }
      if (this.runB >= this.C) {
        this.rctFailuresB++;
        this.runB = 0;
      }
      if (this.aptPos === 0) {
        this.refA = a;
        this.refB = b;
        this.cntA = 0;
        this.cntB = 0;
      }
      this.cntA += a === this.refA ? 1 : 0;
      this.cntB += b === this.refB ? 1 : 0;
      if (++this.aptPos === APT_WINDOW) {
        if (this.cntA >= this.Capt) this.aptFailuresA++;
        if (this.cntB >= this.Capt) this.aptFailuresB++;
        this.aptPos = 0;
      }
    }
  }
}

describe('grouped health update (four samples per table step)', () => {
  const STATE = [
    'rctFailuresA',
    'rctFailuresB',
    'aptFailuresA',
    'aptFailuresB',
    'lastA',
    'lastB',
    'runA',
    'runB',
    'aptPos',
    'refA',
    'refB',
    'cntA',
    'cntB',
  ] as const;
  const stateOf = (t: object): Record<string, number> =>
    Object.fromEntries(STATE.map((k) => [k, (t as Record<string, number>)[k]!]));

  // C from 2 (an alarm can fall inside any group) to the default 101; P(1) from nearly stuck to fair; any split.
  for (const [alpha, h] of [
    [0.5, 1],
    [0.25, 1],
    [2 ** -4, 1],
    [2 ** -7, 1],
    [2 ** -20, 1],
    [2 ** -20, 0.2],
  ] as const) {
    it(`equals the one-by-one reference after every call (alpha = 2^${Math.log2(alpha)}, H = ${h})`, () => {
      const t = new OutcomeHealthTests({ alpha, entropyPerBit: h });
      const packed = new OutcomeHealthTests({ alpha, entropyPerBit: h });
      const ref = new OneByOne(t.rctCutoff, t.aptCutoff);
      const r = rng(Math.round(-Math.log2(alpha) * 10 + h * 7));
      for (const [pA, pB] of <[number, number][]>[
        [0.5, 0.5],
        [0.03, 0.97],
        [0.3, 0.6],
        [0.001, 0.999],
        [0.9, 0.1],
      ]) {
        const n = 30_000;
        const recs = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          // any valid record byte: settings, double clicks and no-clicks included
          const clicks = Math.floor(r() * 16);
          const a = r() < pA ? 1 : 0;
          const b = r() < pB ? 1 : 0;
          recs[i] =
            r() < 0.8 ? record(r() < 0.5 ? 1 : 0, r() < 0.5 ? 1 : 0, a, b) : (Math.floor(r() * 4) << 4) | clicks;
        }
        // the same samples as the extractor input packs them (2 bits each), fed at any alignment
        const codes = new Uint8Array(Math.ceil(n / 4));
        for (let k = 0; k < n; k++) codes[k >> 2]! |= OUTCOME_BITS_TABLE[recs[k]!]! << ((k & 3) << 1);
        let i = 0;
        while (i < n) {
          const end = Math.min(n, i + 1 + Math.floor(r() * (r() < 0.5 ? 9 : 3000)));
          t.update(recs, i, end);
          packed.updateCodes(codes, i, end);
          ref.update(recs, i, end);
          expect(stateOf(t)).toEqual(stateOf(ref));
          expect(stateOf(packed)).toEqual(stateOf(ref));
          i = end;
        }
      }
      // the comparison saw alarms of both kinds
      expect(ref.rctFailuresA + ref.rctFailuresB).toBeGreaterThan(0);
      expect(ref.aptFailuresA + ref.aptFailuresB).toBeGreaterThan(0);
    });
  }
});

describe('settings uniformity', () => {
  it('chi-square of four counts against uniform', () => {
    expect(settingsChiSquare([25, 25, 25, 25])).toBe(0);
    expect(settingsChiSquare([30, 20, 25, 25])).toBeCloseTo((25 + 25) / 25, 12);
  });

  it('a biased-settings chip, P(x=1) = 0.6, fails at the default block size; a uniform one passes', () => {
    const N = 2 ** 22;
    const device = { serial: 'EPQ1-00C0FFEE', firmware: '1.0.0' };
    const biased = new Certifier({ device });
    const resBiased = toBatches(chshRecords(N, 2.4, 21, 0.6), { framesPerBatch: 4096 }).flatMap((b) => biased.push(b));
    expect(resBiased).toHaveLength(1);
    expect(resBiased[0]!.ok).toBe(false);
    if (!resBiased[0]!.ok) {
      expect(resBiased[0]!.test).toBe('settings');
      expect(resBiased[0]!.reason).toMatch(/^settings not uniform: chi-square \d+/);
    }
    const fair = new Certifier({ device });
    const resFair = toBatches(chshRecords(N, 2.4, 22), { framesPerBatch: 4096 }).flatMap((b) => fair.push(b));
    expect(resFair).toHaveLength(1);
    expect(resFair[0]!.ok).toBe(true);
  });
});
