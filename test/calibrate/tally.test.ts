/** Trial tallies: the fixed binning, S from the 16 counts, and g2 from double clicks. */
import { describe, expect, it } from 'vitest';
import { addRecord, chshFromTally, emptyTally, g2FromTally } from '../../src/calibrate/tally.ts';
import { RECORD_BIT } from '../../src/protocol/types.ts';

const { X, Y, A0, A1, B0, B1 } = RECORD_BIT;

describe('tally', () => {
  it('bins a = 1 only when A1 clicked alone (no click and double click are 0), the same for b', () => {
    const t = emptyTally();
    addRecord(t, A1 | B1); // a=1 b=1
    addRecord(t, A0 | A1 | B1); // double click at A: a=0, b=1
    addRecord(t, 0); // no click: a=b=0
    addRecord(t, X | Y | A1 | B0); // x=1 y=1, a=1 b=0
    expect(t.counts[0]).toEqual([1, 1, 0, 1]);
    expect(t.counts[3]).toEqual([0, 0, 1, 0]);
    expect(t.singles).toEqual([1, 3, 1, 2]);
    expect(t.doublesA).toBe(1);
    expect(t.trials).toBe(4);
  });

  it('S = E00 + E01 + E10 - E11 with its binomial standard error', () => {
    const t = emptyTally();
    // E00 = E01 = E10 = 0.5, E11 = -0.5 from 100 trials each: S = 2.
    t.counts = [
      [40, 15, 10, 35],
      [40, 15, 10, 35],
      [40, 15, 10, 35],
      [15, 40, 35, 10],
    ];
    t.trials = 400;
    const c = chshFromTally(t);
    expect(c.correlators).toEqual([0.5, 0.5, 0.5, -0.5]);
    expect(c.s).toBeCloseTo(2, 12);
    expect(c.sError).toBeCloseTo(Math.sqrt((4 * 0.75) / 100), 12);
    expect(c.bitsPerTrial).toBe(0);
  });

  it('g2 is the double-click rate over the product of the singles rates, null with fewer than 20 doubles', () => {
    const t = emptyTally();
    t.trials = 1_000_000;
    t.singles = [400_000, 400_000, 0, 0];
    t.doublesA = 1600;
    expect(g2FromTally(t)!.value).toBeCloseTo(0.01, 12);
    expect(g2FromTally(t)!.error).toBeCloseTo(0.01 / 40, 12);
    // Dark accidentals: 1e-3 per gate in each detector while the other clicks 40% of the time.
    expect(g2FromTally(t, [1e-3, 1e-3, 0, 0])!.value).toBeCloseTo((1600 / 1e6 - 2 * 1e-3 * 0.4) / 0.16, 12);
    t.doublesA = 19;
    expect(g2FromTally(t)).toBeNull();
  });
});
