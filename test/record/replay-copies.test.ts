/**
 * The replayed port's copies of device records: exact bytes, buffers reused
 * only once handed back, and no more kept than allowed.
 */
import { describe, expect, it } from 'vitest';
import { RecordCopies } from '../../src/record/replay-copies.ts';

describe('RecordCopies', () => {
  it('copies exactly, and reuses a buffer only after it was handed back', () => {
    const copies = new RecordCopies(1 << 20);
    const source = Buffer.from([1, 2, 3, 4, 5]);
    const a = copies.copy(source);
    source[0] = 9; // the file's buffer, reused for the next read
    expect([...a]).toEqual([1, 2, 3, 4, 5]);
    const b = copies.copy(Buffer.alloc(3000, 7));
    expect(b.buffer).not.toBe(a.buffer); // a is still queued
    copies.release(a);
    const c = copies.copy(Buffer.from([6, 6]));
    expect(c.buffer).toBe(a.buffer); // same size class, handed back: reused
    expect([...c]).toEqual([6, 6]);
    expect(b.every((v) => v === 7)).toBe(true);
    const big = copies.copy(Buffer.alloc(70_000, 1));
    expect(big.length).toBe(70_000);
    expect(big.buffer.byteLength).toBe(131_072);
  });

  it('keeps at most keepBytes for reuse', () => {
    const copies = new RecordCopies(8192);
    const [a, b, c] = [1, 2, 3].map(() => copies.copy(Buffer.alloc(4096)));
    for (const x of [a!, b!, c!]) copies.release(x);
    const again = [1, 2, 3].map(() => copies.copy(Buffer.alloc(4096)).buffer);
    expect(again.filter((x) => x === a!.buffer || x === b!.buffer)).toHaveLength(2);
    expect(again).not.toContain(c!.buffer);
  });
});
