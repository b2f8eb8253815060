/**
 * The hash stage on two threads (src/output/hash-stage.ts): block k is hashed on the worker while block k + 1 is
 * certified. Against a certify stage that recycles its input buffer (as certifyRun does with recycleInputs):
 * - the same blocks, bytes and order as the main-thread stage, refused blocks in their place;
 * - a queue of one: the certify stage is never more than one block ahead of what was handed on;
 * - a certify error comes after the bytes of the block before it; a hash error ends the stage;
 * - a consumer that stops early closes the certify stage.
 */
import { describe, expect, it } from 'vitest';
import type { BlockResult, CertifiedBlock, RefusedBlock } from '../../src/certify/index.ts';
import { BlockHasher, toeplitzHash } from '../../src/extract/index.ts';
import { hashStage } from '../../src/output/pipeline.ts';
import { mulberry32 as prng } from '../prng.ts';

const N = 2 ** 14;
const M_MAX = 2 ** 13;

interface Plan {
  /** null: a refused block; else the block's m. */
  blocks: Array<number | null>;
  /** Throw instead of the block at this index. */
  failAt?: number;
}

/** A certify stage: blocks from a seeded PRNG, every input in one buffer that is rewritten for the next block. */
function source(plan: Plan, log: { produced: number; closed: boolean; inputs: Uint8Array[] }) {
  const rand = prng(7);
  const buffer = new Uint8Array(N / 8);
  return (async function* (): AsyncGenerator<BlockResult> {
    try {
      for (let i = 0; i < plan.blocks.length; i++) {
        await new Promise((r) => setImmediate(r)); // certifying takes turns of the event loop
        if (i === plan.failAt) throw new Error(`certify failed at block ${i}`);
        const m = plan.blocks[i]!;
        log.produced++;
        if (m === null) {
          yield { ok: false, blockIndex: i, reason: `refused ${i}` } as unknown as RefusedBlock;
          continue;
        }
        for (let b = 0; b < buffer.length; b++) buffer[b] = Math.floor(rand() * 256);
        log.inputs.push(buffer.slice());
        const draft = { blockIndex: i } as unknown as CertifiedBlock['draft'];
        yield { ok: true, draft, input: buffer, inputBits: N, outputBits: m };
      }
    } finally {
      log.closed = true;
    }
  })();
}

async function collect(plan: Plan, offThread: boolean, seed: Uint8Array, stopAfter = Infinity) {
  const log = { produced: 0, closed: false, inputs: [] as Uint8Array[] };
  const hasher = new BlockHasher(N, M_MAX, seed, { offThread });
  const out: string[] = [];
  let maxAhead = 0;
  let error: Error | undefined;
  try {
    for await (const r of hashStage(source(plan, log), hasher)) {
      out.push(
        r.ok
          ? `${(r.draft as unknown as { blockIndex: number }).blockIndex}:${Buffer.from(r.bytes).toString('hex')}`
          : `refused:${(r as { reason: string }).reason}`,
      );
      maxAhead = Math.max(maxAhead, log.produced - out.length);
      if (out.length >= stopAfter) break;
    }
  } catch (e) {
    error = e as Error;
  } finally {
    await hasher.close();
  }
  return { out, maxAhead, error, log };
}

describe('hashStage on the worker', () => {
  const rand = prng(3);
  const seed = Uint8Array.from({ length: (N + M_MAX) / 8 }, () => Math.floor(rand() * 256));

  it("gives the main thread stage's blocks, bytes and order, with the certify stage at most one block ahead", async () => {
    const plan: Plan = { blocks: [4096, 4000, null, 8192, null, null, 64, 4096] };
    const main = await collect(plan, false, seed);
    const worker = await collect(plan, true, seed);
    expect(worker.error).toBeUndefined();
    expect(worker.out).toEqual(main.out);
    expect(worker.out.filter((s) => s.startsWith('refused')).length).toBe(3);
    // every byte string is the hash of its block's input as it was when certified (the buffer was rewritten since)
    const certified = worker.out.filter((s) => !s.startsWith('refused'));
    certified.forEach((s, k) => {
      const m = [4096, 4000, 8192, 64, 4096][k]!;
      expect(s.split(':')[1]).toBe(Buffer.from(toeplitzHash(worker.log.inputs[k]!, N, m, seed)).toString('hex'));
    });
    expect(worker.maxAhead).toBeLessThanOrEqual(1);
    expect(main.maxAhead).toBe(0);
  });

  it('raises a certify error after the bytes of the block before it', async () => {
    const r = await collect({ blocks: [4096, 4096, 4096, 4096], failAt: 2 }, true, seed);
    expect(r.out.map((s) => s.split(':')[0])).toEqual(['0', '1']);
    expect(r.error?.message).toBe('certify failed at block 2');
  });

  it('ends with the hash error when the worker fails', async () => {
    const log = { produced: 0, closed: false, inputs: [] as Uint8Array[] };
    const hasher = new BlockHasher(N, M_MAX, seed, { offThread: true });
    await hasher.close(); // every later hash is refused
    const stage = hashStage(source({ blocks: [4096, 4096, 4096] }, log), hasher);
    await expect(stage.next()).rejects.toThrow('extract worker closed');
    await new Promise((r) => setTimeout(r, 50));
    expect(log.closed).toBe(true);
  });

  it('closes the certify stage when the consumer stops early', async () => {
    const r = await collect({ blocks: [4096, 4096, 4096, 4096, 4096] }, true, seed, 2);
    expect(r.out).toHaveLength(2);
    // the block asked for ahead settles, then the certify stage is closed
    for (let i = 0; i < 100 && !r.log.closed; i++) await new Promise((res) => setTimeout(res, 10));
    expect(r.log.closed).toBe(true);
    expect(r.log.produced).toBeLessThanOrEqual(3);
  });
});
