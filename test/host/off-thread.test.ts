/**
 * Host-settings runs hash on a worker thread (src/extract/off-thread.ts) so
 * that the event loop keeps answering CREDIT during the FFT product: the
 * bytes and certificates must be exactly those of the main-thread path, and
 * the event loop must not stall for the FFT product while a block is hashed.
 */
import { describe, expect, it } from 'vitest';
import { Device, type RunEvent } from '../../src/device/index.ts';
import { randomSeed } from '../../src/extract/index.ts';
import { resolvePipelineConfig, seedBitsForBlock } from '../../src/output/config.ts';
import { pipelineBlocks } from '../../src/output/pipeline.ts';
import { createSimulatedPort } from '../../src/simulator/index.ts';

async function capture(trials: number): Promise<RunEvent[][]> {
  const sim = createSimulatedPort({ seed: 11, calibrated: true, clock: 'virtual' });
  const device = await Device.open({ path: sim.path, binding: sim.binding });
  const batches: RunEvent[][] = [];
  try {
    for await (const b of await device.start({ limitTrials: trials })) batches.push(b);
  } finally {
    await device.close();
  }
  return batches;
}

/** The batches again, one per turn of the event loop, as a live link delivers them. */
async function* replay(batches: RunEvent[][]): AsyncGenerator<RunEvent[]> {
  for (const b of batches) {
    await new Promise((r) => setImmediate(r));
    yield b;
  }
}

describe('the hash stage off the event loop', () => {
  it('gives the same bytes and certificate lines as the main thread, and the loop turns while it hashes', async () => {
    const blockTrials = 2 ** 21;
    const batches = await capture(2 * blockTrials);
    const seed = randomSeed(seedBitsForBlock(blockTrials));
    const device = { serial: 'EPQ1-00000011', firmware: '1.0.0' };
    const run = async (offThread: boolean) => {
      const out: string[] = [];
      // The longest stall of the event loop while extracting: the gap between 2 ms timer turns.
      let last = performance.now();
      let maxGapMs = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
      }, 2);
      const config = resolvePipelineConfig({ seed, blockTrials, offThread });
      for await (const r of pipelineBlocks(replay(batches), config, { device })) {
        if (r.ok) out.push(`${r.line} ${Buffer.from(r.bytes).toString('hex')}`);
      }
      clearInterval(timer);
      return { out, maxGapMs };
    };
    const main = await run(false);
    const worker = await run(true);
    expect(main.out).toHaveLength(2);
    expect(worker.out).toEqual(main.out);
    // The main-thread FFT product stalls the loop for its whole length; the worker's does not.
    expect(
      worker.maxGapMs,
      `worker ${worker.maxGapMs.toFixed(0)} ms, main ${main.maxGapMs.toFixed(0)} ms`,
    ).toBeLessThan(main.maxGapMs);
  }, 60_000);
});
