/**
 * The extract stage hashes a block in column chunks when its product needs a
 * longer FFT than `maxFftSize` allows (chunked.ts): the bytes and the
 * certificate chain must not depend on that bound.
 */
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/encode.ts';
import { SimulatedChip } from '../../src/simulator/chip.ts';
import { runEventsFromBytes } from '../../src/device/run.ts';
import { extractRun, inputBitsForBlock, seedBitsForBlock, type ExtractResult } from '../../src/extract/stream.ts';
import { chunkLayout } from '../../src/extract/chunked.ts';
import { goodFftSize } from '../../src/extract/fft/fft.ts';
import { randomSeed } from '../../src/extract/index.ts';

const BLOCK_TRIALS = 2 ** 20;
const BLOCKS = 2;

/** A calibrated chip's device-to-host bytes for BLOCKS blocks (the simulator, as fast as it runs). */
function capture(): Uint8Array[] {
  const chip = new SimulatedChip({ seed: 21, calibrated: true });
  chip.receive(encodeFrame({ kind: 'START', flags: 0, seq: 0, source: 0, rate: 0, limit: BLOCKS * BLOCK_TRIALS }));
  const parts: Uint8Array[] = [];
  for (let b = chip.read(1 << 16); b.length > 0; b = chip.read(1 << 16)) parts.push(b);
  return parts;
}

async function run(parts: Uint8Array[], seed: Uint8Array, maxFftSize: number): Promise<ExtractResult[]> {
  const out: ExtractResult[] = [];
  const events = runEventsFromBytes(parts[Symbol.iterator]());
  for await (const r of extractRun(events, {
    seed,
    blockTrials: BLOCK_TRIALS,
    device: { serial: 'EPQ1-TEST0000', firmware: '1.0.3' },
    maxFftSize,
  }))
    out.push(r);
  return out;
}

describe('extractRun with a bounded FFT', () => {
  it('gives the same bytes and certificate lines whether a block is hashed whole or in chunks', async () => {
    const parts = capture();
    const seed = randomSeed(seedBitsForBlock(BLOCK_TRIALS));
    const n = inputBitsForBlock(BLOCK_TRIALS);
    const whole = await run(parts, seed, goodFftSize(n)); // one transform for the whole product
    const chunked = await run(parts, seed, 2 ** 16);
    const certified = whole.filter((r) => r.ok);
    expect(certified.length).toBe(BLOCKS);
    expect(chunked.length).toBe(whole.length);
    for (let i = 0; i < whole.length; i++) {
      const a = whole[i]!,
        b = chunked[i]!;
      if (!a.ok || !b.ok) throw new Error(`block ${i} refused`);
      expect(Buffer.from(b.bytes).equals(Buffer.from(a.bytes))).toBe(true);
      expect(b.line).toBe(a.line);
      // the bound really split this block's product
      expect(chunkLayout(n, a.certificate.outputBits, 2 ** 16).chunks).toBeGreaterThan(10);
      expect(chunkLayout(n, a.certificate.outputBits, goodFftSize(n)).chunks).toBe(1);
    }
    // A bound below m itself (what a 2^24-trial block meets at the default 2^20): rows in passes, the same bytes.
    const first = whole[0];
    if (!first?.ok) throw new Error('block 0 refused');
    const m = first.certificate.outputBits;
    const small = 2 ** 14;
    expect(chunkLayout(n, m, small).rowBits).toBeLessThan(m);
    const passes = await run(parts, seed, small);
    expect(passes.map((r) => (r.ok ? r.line : r.reason))).toEqual(whole.map((r) => (r.ok ? r.line : r.reason)));
  });
});
