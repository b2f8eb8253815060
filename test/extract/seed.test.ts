import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.ts';
import { loadSeedFile, randomSeed, resolveExtractorSeed, seedBitsFor, seedSha256 } from '../../src/extract/seed.ts';

const dir = mkdtempSync(join(tmpdir(), 'epqrng-seed-'));

describe('extractor seed', () => {
  it('needs n + m - 1 bits', () => {
    expect(seedBitsFor(2 ** 20, 2 ** 18)).toBe(2 ** 20 + 2 ** 18 - 1);
  });

  it('draws from the CSPRNG with the spare high bits cleared', () => {
    const seed = randomSeed(13, (size) => new Uint8Array(size).fill(0xff));
    expect([...seed]).toEqual([0xff, 0x1f]);
    const a = randomSeed(1000),
      b = randomSeed(1000);
    expect(a.length).toBe(125);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it('loads a file, using only its prefix', () => {
    const path = join(dir, 'long.bin');
    writeFileSync(path, Buffer.from([0xaa, 0xbb, 0xff, 0x01]));
    expect([...loadSeedFile(path, 20)]).toEqual([0xaa, 0xbb, 0x0f]);
    expect([...resolveExtractorSeed({ file: path, seedBits: 16 })]).toEqual([0xaa, 0xbb]);
  });

  it('refuses a file too short, naming the file and the bits needed and found', () => {
    const path = join(dir, 'short.bin');
    writeFileSync(path, Buffer.alloc(4));
    let err: unknown;
    try {
      loadSeedFile(path, 33);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe('SEED_TOO_SHORT');
    expect((err as InputError).exitCode).toBe(2);
    expect((err as InputError).message).toBe(`extractor seed file ${path} is too short: 33 bits needed, 32 bits found`);
  });

  it('refuses a missing file with a one-line InputError', () => {
    const path = join(dir, 'missing.bin');
    expect(() => loadSeedFile(path, 8)).toThrow(
      new InputError('SEED_UNREADABLE', `cannot read extractor seed file ${path}: ENOENT`),
    );
  });

  it('hashes the seed with SHA-256 (FIPS 180-2 test vector "abc")', () => {
    expect(seedSha256(new TextEncoder().encode('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});
