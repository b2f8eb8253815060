/**
 * Test helpers: seeded record generators and RunEvent batching.
 * Records follow PROTOCOL 4 TRIALS (bit 5 x, bit 4 y, bit 3 A1, bit 2 A0,
 * bit 1 B1, bit 0 B0) and the binning of outcomes.ts (a = 1 <=> A1 only).
 */
import type { RunEvent } from '../../src/device/run.ts';

/** mulberry32: small seeded PRNG, 32-bit words. */
export function rng32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** mulberry32, uniform in [0, 1). */
export function rng(seed: number): () => number {
  const next = rng32(seed);
  return () => next() / 4294967296;
}

/** Record byte for settings x, y and outcomes a, b (a = 1 -> A1 clicked, a = 0 -> A0 clicked). */
export function record(x: number, y: number, a: number, b: number): number {
  return (x << 5) | (y << 4) | (a ? 0x08 : 0x04) | (b ? 0x02 : 0x01);
}

/**
 * Records from a device with correlators E_xy = (E, E, E, -E) (S = 4E),
 * uniform marginals, uniform settings unless pX1 is given.
 */
export function chshRecords(n: number, s: number, seed: number, pX1 = 0.5): Uint8Array {
  const r = rng(seed);
  const e = s / 4;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const x = r() < pX1 ? 1 : 0;
    const y = r() < 0.5 ? 1 : 0;
    const exy = x & y ? -e : e;
    const a = r() < 0.5 ? 1 : 0;
    const same = r() < (1 + exy) / 2;
    const b = same ? a : 1 - a;
    out[i] = record(x, y, a, b);
  }
  return out;
}

/**
 * A local-hidden-variable device tuned to S = 2 exactly: a shared uniform
 * bit lambda, a = b = lambda whatever the settings (E_xy = 1 for all x, y,
 * S = 1 + 1 + 1 - 1 = 2); outcomes look uniform.
 */
export function lhvRecords(n: number, seed: number): Uint8Array {
  const r = rng32(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    // Three independent uniform bits of one word: x, y and lambda.
    const w = r();
    const lambda = (w >>> 2) & 1;
    out[i] = record(w & 1, (w >>> 1) & 1, lambda, lambda);
  }
  return out;
}

/**
 * Cuts records into TRIALS events of up to 40 records (PROTOCOL 4 TRIALS),
 * `framesPerBatch` per batch; `lost` ranges [first, count) are left out
 * (with GAP when `gap`), as a device overflow or link loss would.
 */
export function toBatches(
  records: Uint8Array,
  { framesPerBatch = 64, lost = [] as Array<[number, number]>, gap = true, flags = 0, startTrial = 0 } = {},
): RunEvent[][] {
  const batches: RunEvent[][] = [];
  let batch: RunEvent[] = [];
  let seq = 0;
  let i = 0;
  let pendingGap = false;
  const lostSorted = [...lost].sort((p, q) => p[0] - q[0]);
  let li = 0;
  while (i < records.length) {
    if (li < lostSorted.length && i >= lostSorted[li]![0]) {
      i = Math.max(i, lostSorted[li]![0] + lostSorted[li]![1]);
      li++;
      pendingGap = true;
      continue;
    }
    let end = Math.min(records.length, i + 40);
    if (li < lostSorted.length) end = Math.min(end, lostSorted[li]![0]);
    if (end <= i) continue;
    batch.push({
      kind: 'trials',
      first: startTrial + i,
      n: end - i,
      records: records.subarray(i, end),
      flags: flags | (pendingGap && gap ? 1 : 0),
      seq: seq++,
    });
    pendingGap = false;
    i = end;
    if (batch.length >= framesPerBatch) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

export async function* asRun(batches: RunEvent[][]): AsyncGenerator<RunEvent[]> {
  for (const b of batches) yield b;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}
