/**
 * TrialsBatch: frames packed as written, slots of 40 records, and batches
 * handed back reused only when large enough, emptied first.
 */
import { describe, expect, it } from 'vitest';
import {
  RECORDS_STRIDE,
  TrialsBatch,
  recycleTrialsBatch,
  trialsBatchFor,
  trialsBatchOf,
} from '../../src/device/trials-batch.ts';

describe('TrialsBatch', () => {
  it('holds each frame as appended: fields, and its records in a slot of its own', () => {
    const source = Uint8Array.from({ length: 100 }, (_, i) => i % 64);
    const b = new TrialsBatch(3);
    b.append(source, 10, 40, 1, 7, 2 ** 40);
    b.append(source, 3, 5, 0, 8, 2 ** 40 + 40);
    expect([b.frames, b.trials, b.full]).toEqual([2, 45, false]);
    expect([...b.records.subarray(b.recordsAt(0), b.recordsAt(0) + 40)]).toEqual([...source.subarray(10, 50)]);
    expect([...b.records.subarray(b.recordsAt(1), b.recordsAt(1) + 5)]).toEqual([3, 4, 5, 6, 7]);
    expect(b.recordsAt(1)).toBe(RECORDS_STRIDE);
    expect([b.first[0], b.first[1], b.seq[1], b.flags[0], b.n[1]]).toEqual([2 ** 40, 2 ** 40 + 40, 8, 1, 5]);
    b.append(source, 0, 1, 0, 9, 0);
    expect(b.full).toBe(true);
  });

  it('refuses a frame of more than 40 records (a slot holds 40)', () => {
    expect(() => trialsBatchOf([{ first: 0, n: 41, records: new Uint8Array(41) }])).toThrow(RangeError);
  });

  it('reuses a handed-back batch for a request it can hold, emptied; a larger request gets a new one', () => {
    const a = trialsBatchOf([{ first: 0, n: 2, records: Uint8Array.from([1, 2]) }]);
    const big = new TrialsBatch(64);
    big.append(Uint8Array.from([5]), 0, 1, 0, 0, 0);
    recycleTrialsBatch(big);
    recycleTrialsBatch(big); // twice: kept once
    expect(trialsBatchFor(128)).not.toBe(big); // too small for it
    const again = trialsBatchFor(16);
    expect(again).toBe(big);
    expect([again.frames, again.trials]).toEqual([0, 0]);
    expect(trialsBatchFor(16)).not.toBe(big); // handed out once
    expect(a.frames).toBe(1);
  });
});
