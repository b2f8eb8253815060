/**
 * The run's hasher (src/extract/block-hasher.ts), on the main thread and on its worker (off-thread.ts):
 * - a block's input may be shorter than n (variable-length blocks): its hash is T(n', m') x with the seed's first
 *   n' + m' - 1 bits (the seed's prefix rule), whatever the buffer holds above bit n';
 * - the worker's errors become the hash's rejection, a closed hasher refuses, and a hasher nobody closes does not
 *   keep its process alive.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BlockHasher, toeplitzHash } from '../../src/extract/index.ts';
import { mulberry32 as prng } from '../prng.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function randomBytes(rand: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(rand() * 256));
}

/** Bits [0, bits) of `buf`, the rest of the last byte cleared. */
function prefix(buf: Uint8Array, bits: number): Uint8Array {
  const out = buf.slice(0, Math.ceil(bits / 8));
  if (bits % 8) out[out.length - 1]! &= (1 << (bits % 8)) - 1;
  return out;
}

describe('BlockHasher', () => {
  // n = 2^14 with a transform bound of 2^11: the chunked plan (column chunks, row passes); n = 2^12: one transform
  for (const { n, maxFftSize } of [
    { n: 2 ** 12, maxFftSize: 2 ** 20 },
    { n: 2 ** 14, maxFftSize: 2 ** 11 },
  ]) {
    for (const offThread of [false, true]) {
      it(`hashes inputs of n' <= n bits as T(n', m') x by the seed's prefix (n = ${n}, ${offThread ? 'worker' : 'main thread'})`, async () => {
        const rand = prng(n + (offThread ? 1 : 0));
        const mMax = n / 2;
        const seed = randomBytes(rand, Math.ceil((n + mMax - 1) / 8));
        const hasher = new BlockHasher(n, mMax, seed, { offThread, maxFftSize });
        expect(hasher.offThread).toBe(offThread);
        try {
          // whole, shorter by whole bytes, by odd bit counts, and down to m' = n'
          for (const [inputBits, outputBits] of [
            [n, mMax],
            [n, 8],
            [n - 64, mMax - 64],
            [n - 8, 400],
            [n - 13, 1000],
            [n / 2 + 3, n / 4],
            [mMax, mMax],
          ] as const) {
            // a recycled buffer: bits above n' are left over from an earlier block and must not count
            const input = randomBytes(rand, n / 8);
            const got = await hasher.hash(input, outputBits, inputBits);
            const want = toeplitzHash(prefix(input, inputBits), inputBits, outputBits, seed);
            expect(Buffer.from(got).toString('hex'), `n' = ${inputBits}, m' = ${outputBits}`).toBe(
              Buffer.from(want).toString('hex'),
            );
          }
        } finally {
          await hasher.close();
        }
      });
    }
  }

  it('refuses inputs longer than n or shorter than m, and outputs above mMax', async () => {
    const hasher = new BlockHasher(1024, 512, new Uint8Array(192));
    await expect(hasher.hash(new Uint8Array(128), 512, 1025)).rejects.toThrow(/input of 1025 bits/);
    await expect(hasher.hash(new Uint8Array(128), 512, 511)).rejects.toThrow(/input of 511 bits/);
    await expect(hasher.hash(new Uint8Array(128), 520)).rejects.toThrow(/exceeds the run's mMax 512/);
  });

  it("turns the worker's error into the hash's rejection, and refuses after close()", async () => {
    const hasher = new BlockHasher(4096, 2048, new Uint8Array(768), { offThread: true });
    // an input buffer shorter than n bits: the worker's plan refuses it
    await expect(hasher.hash(new Uint8Array(100), 2048)).rejects.toThrow(/^extract worker: input holds 800 bits/);
    // the worker survives a refused request
    const ok = await hasher.hash(new Uint8Array(512), 2048);
    expect(ok.length).toBe(256);
    await hasher.close();
    await expect(hasher.hash(new Uint8Array(512), 2048)).rejects.toThrow('extract worker closed');
  });

  it("'auto' takes the worker from 2^21 input bits up", async () => {
    const small = new BlockHasher(2 ** 21 - 2, 2 ** 10, new Uint8Array(2 ** 18 + 128), { offThread: 'auto' });
    expect(small.offThread).toBe(false);
    const large = new BlockHasher(2 ** 21, 2 ** 10, new Uint8Array(2 ** 18 + 128), { offThread: 'auto' });
    expect(large.offThread).toBe(true);
    await Promise.all([small.close(), large.close()]);
  });

  it('a hasher whose run is abandoned without close() does not keep the process alive', () => {
    // the compiled package (vitest's global setup builds dist/): plain node, no loader
    const dir = mkdtempSync(join(tmpdir(), 'epq-hasher-'));
    const file = join(dir, 'abandon.mjs');
    writeFileSync(
      file,
      `import { BlockHasher } from ${JSON.stringify(pathToFileURL(join(root, 'dist/extract/index.js')).href)};
      const h = new BlockHasher(2 ** 21, 2 ** 19, new Uint8Array(2 ** 18 + 2 ** 16), { offThread: true });
      const bytes = await h.hash(new Uint8Array(2 ** 18), 2 ** 16);
      console.log('hashed', bytes.length);`,
    );
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
    expect(r.error, 'the process did not end by itself').toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('hashed 8192');
  }, 40_000);
});
