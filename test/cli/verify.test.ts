/**
 * `epqrng verify` against tampered certificate files (src/cli/commands/verify.ts):
 * a certificate line that is not the recomputed one, field for field, must
 * never verify.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Direction, encodeFilePreamble, encodeRecord, type RecordingHeader } from '../../src/record/format.ts';
import { epqrngInProcess, expectOneLineError } from './run-cli.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const rec = join(fixtures, 'honest-calibrated.epqrec');
const seed = join(fixtures, 'extractor-seed.bin');

/** `epqrng verify <recording>` against the honest-calibrated fixture's certificates and seed, then `extra`. */
const verifyWithFixtureCerts = (recording: string, ...extra: string[]) =>
  epqrngInProcess(
    'verify',
    recording,
    '--certs',
    join(fixtures, 'honest-calibrated.certs'),
    '--extractor-seed',
    seed,
    ...extra,
  );

describe('epqrng verify on a tampered certificate file', () => {
  it('the untampered fixture verifies (exit 0)', async () => {
    const r = await verifyWithFixtureCerts(rec);
    expect(r.code, r.stderr).toBe(0);
  });

  it('--output naming a directory: exit 2, one line (not an internal error)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-verify-'));
    const r = await verifyWithFixtureCerts(rec, '--output', dir);
    expectOneLineError(r, 2, /^epqrng: cannot read output \S+: EISDIR$/);
  });

  it('a field named __proto__ added to a certificate line is a mismatch, not dropped by the comparison', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-verify-'));
    const lines = readFileSync(join(fixtures, 'honest-calibrated.certs'), 'utf8').trim().split('\n');
    // JSON.parse keeps "__proto__" as an own field; an object rebuilt by assignment sets its prototype instead.
    lines[0] = lines[0]!.replace(/}$/, ',"__proto__":{"sLowerBound":2.9,"adversary":"none"}}');
    const certs = join(dir, 'tampered.certs');
    writeFileSync(certs, `${lines.join('\n')}\n`);
    expect(Object.getOwnPropertyDescriptor(JSON.parse(lines[0]!), '__proto__')?.value).toEqual({
      sLowerBound: 2.9,
      adversary: 'none',
    });
    const r = await epqrngInProcess('verify', rec, '--certs', certs, '--extractor-seed', seed);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^epqrng: verify: block 0 \(line 1 of .*tampered\.certs\): __proto__/);
  });
});

describe('messages quoting a crafted file cannot drive the terminal', () => {
  it('a recording whose header holds escape sequences: replay and verify print them escaped, one line, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-verify-'));
    const rec = join(dir, 'crafted.epqrec');
    // Erase the line, print a green "all match", hide what follows.
    const tool = 'x\x1b[2K\r\x1b[32mverified 1 certificates: all match\x1b[0m\x1b[8m\x9b2K\u202e';
    const header: RecordingHeader = {
      format: 'epqrng-recording',
      version: 1,
      tool,
      commandLine: [],
      clock: 'none',
      device: null,
      extractorSeed: null,
    };
    const end = Buffer.from(JSON.stringify({ records: 0, deviceBytes: 0, hostBytes: 0 }));
    writeFileSync(rec, Buffer.concat([encodeFilePreamble(header), encodeRecord(Direction.END, 0, end)]));
    for (const r of [
      await epqrngInProcess('replay', rec, '--out', join(dir, 'o.bin')),
      await verifyWithFixtureCerts(rec),
    ]) {
      expectOneLineError(
        r,
        2,
        /was recorded by 'x\\x1b\[2K\\x0d\\x1b\[32mverified 1 certificates: all match\\x1b\[0m\\x1b\[8m\\x9b2K\\u202e'/,
      );
      // biome-ignore lint/suspicious/noControlCharactersInRegex: no raw control character may reach stderr.
      expect(r.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/);
    }
  });
});

describe('replay and verify inputs', () => {
  it('a --settings-seed file shorter than 128 bits: exit 2, one line (as stream), not an internal error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-verify-'));
    const short = join(dir, 'short.seed');
    writeFileSync(short, 'short');
    const hostRec = join(fixtures, 'host-settings.epqrec');
    for (const r of [
      await epqrngInProcess(
        'replay',
        hostRec,
        '--settings-seed',
        short,
        '--extractor-seed',
        seed,
        '--out',
        join(dir, 'o.bin'),
      ),
      await epqrngInProcess(
        'verify',
        hostRec,
        '--settings-seed',
        short,
        '--extractor-seed',
        seed,
        '--certs',
        join(fixtures, 'host-settings.certs'),
      ),
    ]) {
      expectOneLineError(
        r,
        2,
        /^epqrng: settings seed file \S+short\.seed is too short: 128 bits needed, 40 bits found$/,
      );
    }
  });
});
