/**
 * Junk never passes as a session: `replay` and `verify` on every class of
 * input that is not a good recording, one row per input (mqtt-packet style:
 * the input, the exit code, a fragment of the message).
 *
 * Exit codes are the contract (README): 2 for input that is not a recording
 * or capture (no valid frame in its first 1 MiB, src/record/inspect.ts),
 * found at once (within 2 s, for /dev/zero too); 1 when nothing was
 * certified (every block refused, whatever --max-refused, or no whole
 * block); 0 only with at least one block certified. Every row ends with one
 * of the documented codes: never 13 (a replay left waiting) nor 70.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFilePreamble, encodeRecord, Direction } from '../../src/record/format.ts';
import { deviceBytes, openRecording } from '../../src/record/reader.ts';
import { epqrngInProcess, type Result } from '../cli/run-cli.ts';
import { mulberry32 } from '../prng.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const REC = join(fixtures, 'honest-calibrated.epqrec');
const CERTS = join(fixtures, 'honest-calibrated.certs');
const OUT = join(fixtures, 'honest-calibrated.bin');
const SEED = join(fixtures, 'extractor-seed.bin');
/** The fixtures' certification options, for raw captures (which carry no command line). */
const CERT_OPTS = ['--block-trials', '262144', '--adversary', 'classical', '--eps', '1e-6'];
/** Junk ends at once: the bound the issue sets, for the command's own work (no process start). */
const JUNK_MS = 2000;

let dir: string;
let recording: Buffer;
let headerBytes: number;

function file(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function randomBytes(n: number, seed: number): Buffer {
  const next = mulberry32(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
}

/** The recording with the byte at `at` xor `mask`. */
function flipped(at: number, mask = 0x10): Buffer {
  const b = Buffer.from(recording);
  b[at]! ^= mask;
  return b;
}

async function deviceSide(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of deviceBytes(await openRecording(path))) parts.push(Buffer.from(b));
  return Buffer.concat(parts);
}

interface Row {
  name: string;
  /** The input's path (made in the test's directory). */
  input: () => string | Promise<string>;
  /** Options after the input (replay and verify alike). */
  args?: string[];
  code: number;
  /** The last stderr line (replay; verify too unless `verifyMessage`). */
  message: RegExp;
  /** verify's exit code and last line, when they differ from replay's. */
  verifyCode?: number;
  verifyMessage?: RegExp;
  /** A warning replay must give before. */
  warning?: RegExp;
}

const NOT_CAPTURE = /is not an EPQ-1 recording or capture: no valid frame in its first \d+ bytes/;
const NOTHING = /holds no whole block: nothing certified$/;
/** verify of a recording that certifies fewer blocks than the certificate file holds. */
const FEWER = /^epqrng: verify: line 1 of \S+: the recording certifies 0 blocks, \S+ holds 1 certificates$/;

const ROWS: Row[] = [
  // Not a recording or capture at all: exit 2, at once.
  { name: 'an empty file', input: () => file('empty', ''), code: 2, message: /empty is empty: not an EPQ-1/ },
  { name: '/dev/null', input: () => '/dev/null', code: 2, message: /\/dev\/null is empty/ },
  {
    name: '/dev/zero',
    input: () => '/dev/zero',
    code: 2,
    message: /\/dev\/zero is not an EPQ-1 recording or capture: no valid frame in its first 1048576 bytes/,
  },
  { name: '64 KiB of random bytes', input: () => file('r64k', randomBytes(1 << 16, 1)), code: 2, message: NOT_CAPTURE },
  { name: '3 MiB of random bytes', input: () => file('r3m', randomBytes(3 << 20, 2)), code: 2, message: NOT_CAPTURE },
  { name: 'a text file', input: () => file('t.txt', 'hello\n'.repeat(1000)), code: 2, message: NOT_CAPTURE },
  { name: 'gzipped text', input: () => file('t.gz', gzipSync('hello\n'.repeat(1000))), code: 2, message: NOT_CAPTURE },
  {
    name: 'a PNG',
    input: () => file('p.png', Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(4096, 3)])),
    code: 2,
    message: NOT_CAPTURE,
  },
  {
    name: 'an executable',
    input: () => file('node.elf', readFileSync(process.execPath).subarray(0, 1 << 18)),
    code: 2,
    message: NOT_CAPTURE,
  },
  { name: 'a certificate file', input: () => CERTS, code: 2, message: NOT_CAPTURE },
  {
    name: 'a calibration profile',
    input: () => join(fixtures, 'calibration.profile.json'),
    code: 2,
    message: NOT_CAPTURE,
  },
  { name: 'a directory', input: () => dir, code: 2, message: /cannot open recording \S+: is a directory/ },
  {
    name: 'a missing file',
    input: () => join(dir, 'nope'),
    code: 2,
    message: /cannot open recording \S+: no such file/,
  },
  // Claims to be a recording, and is not one.
  {
    name: 'a wrong magic',
    input: () => file('magic.epqrec', Buffer.concat([Buffer.from('\x89EPQXXX\n', 'latin1'), recording.subarray(8)])),
    code: 2,
    message: /recording: bad magic/,
  },
  {
    name: 'a header cut short',
    input: () => file('hcut.epqrec', recording.subarray(0, 40)),
    code: 2,
    message: /recording header: truncated/,
  },
  {
    name: 'a bit flipped in the header',
    input: () => file('hflip.epqrec', flipped(20)),
    code: 2,
    message: /recording header: CRC mismatch/,
  },
  {
    name: 'a header and nothing else',
    input: () => file('honly.epqrec', recording.subarray(0, headerBytes)),
    code: 2,
    message: /the recording holds no usable record$/,
  },
  {
    name: 'a corrupt first record',
    input: () => file('r0.epqrec', flipped(headerBytes + 20)),
    code: 2,
    message: /the recording holds no usable record: CRC mismatch at byte \d+/,
  },
  {
    name: 'a header and an end record, no data record',
    input: async () => {
      const rec = await openRecording(REC);
      await rec.close();
      const end = Buffer.from(JSON.stringify({ records: 0, deviceBytes: 0, hostBytes: 0 }));
      return file('hend.epqrec', Buffer.concat([encodeFilePreamble(rec.header!), encodeRecord(Direction.END, 0, end)]));
    },
    code: 2,
    message: /the recording holds no usable record$/,
  },
  // A damaged recording replays up to the damage (warning); before its first whole block, nothing is certified.
  ...[0.25, 0.5, 0.75].map(
    (f): Row => ({
      name: `a recording cut at ${f * 100}%`,
      input: () => file(`cut${f}.epqrec`, recording.subarray(0, Math.floor(recording.length * f))),
      code: 1,
      message: NOTHING,
      verifyMessage: FEWER,
      warning: /recording cut at byte \d+ \(record \d+: /,
    }),
  ),
  {
    name: 'a recording with a bit flipped at 50%',
    input: () => file('flip50.epqrec', flipped(Math.floor(recording.length / 2))),
    code: 1,
    message: NOTHING,
    verifyMessage: FEWER,
    warning: /recording cut at byte \d+ \(record \d+: (CRC mismatch|unknown direction|reserved|length)/,
  },
  {
    name: 'a recording whose end record is cut (its host killed while closing it)',
    input: () => file('endcut.epqrec', recording.subarray(0, recording.length - 10)),
    code: 0,
    message: /replayed stream recording \S+: 2048 certified bytes/,
    verifyMessage: /verified 1 certificates and 2048 output bytes against \S+: all match$/,
    warning: /recording cut at byte/,
  },
  // Raw captures: certified whole; nothing certified is no success.
  {
    name: 'a capture of an honest session',
    input: async () => file('honest.cap', await deviceSide(REC)),
    args: CERT_OPTS,
    code: 0,
    message: /replayed raw capture \S+: [1-9]\d* certified bytes, 0 blocks refused/,
    verifyCode: 1, // its certificates name the recorded device, and a capture of a --bytes run certifies more
    verifyMessage: /^epqrng: verify: /,
  },
  {
    name: 'a capture of an uncalibrated chip, fewer blocks than --max-refused',
    input: async () => file('uncal.cap', await deviceSide(join(fixtures, 'uncalibrated.epqrec'))),
    args: [...CERT_OPTS, '--max-refused', '100'],
    code: 1,
    message: /certification refused every block of \S+ \(1 of 1\); block 0: S = 0\.443 <= 2/,
    verifyMessage: FEWER,
  },
  {
    name: 'a capture shorter than one block',
    input: async () => file('short.cap', (await deviceSide(REC)).subarray(0, 100_000)),
    args: CERT_OPTS,
    code: 1,
    message: NOTHING,
    verifyMessage: FEWER,
  },
  {
    name: 'a capture behind 1 MiB of zeros',
    input: async () => file('late.cap', Buffer.concat([Buffer.alloc(1 << 20), await deviceSide(REC)])),
    args: CERT_OPTS,
    code: 2,
    message: /no valid frame in its first 1048576 bytes/,
  },
  // Options: one line, exit 2.
  { name: '--bytes 0', input: () => REC, args: ['--bytes', '0'], code: 2, message: /--bytes must be/ },
  { name: '--bytes abc', input: () => REC, args: ['--bytes', 'abc'], code: 2, message: /--bytes must be/ },
  { name: '--bytes -5', input: () => REC, args: ['--bytes', '-5'], code: 2, message: /--bytes must not be negative/ },
  { name: '--bytes 0x10', input: () => REC, args: ['--bytes', '0x10'], code: 2, message: /--bytes must be decimal/ },
  {
    name: '--max-refused 0',
    input: () => REC,
    args: ['--max-refused', '0'],
    code: 2,
    message: /--max-refused must be/,
  },
  { name: '--eps 2', input: () => REC, args: ['--eps', '2'], code: 2, message: /--eps must be/ },
  {
    name: '--block-trials 5',
    input: () => REC,
    args: ['--block-trials', '5'],
    code: 2,
    message: /--block-trials must be/,
  },
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'epq-bad-inputs-'));
  recording = readFileSync(REC);
  const rec = await openRecording(REC);
  headerBytes = encodeFilePreamble(rec.header!).length;
  await rec.close();
  // Load the commands' modules once, so that the 2 s bound times the command's work, not the module loading.
  await epqrngInProcess('replay', '--help');
  await epqrngInProcess('verify', '--help');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function timed(run: () => Promise<Result>): Promise<Result & { ms: number }> {
  const t0 = performance.now();
  const r = await run();
  return { ...r, ms: performance.now() - t0 };
}

function lastLine(r: Result): string {
  return r.stderr.trimEnd().split('\n').pop() ?? '';
}

describe.each(ROWS)('$name', (row) => {
  it(`replay exits ${row.code}`, async () => {
    const input = await row.input();
    const r = await timed(() =>
      epqrngInProcess('replay', input, '--extractor-seed', SEED, '--out', join(dir, 'o.bin'), ...(row.args ?? [])),
    );
    expect(r.code, r.stderr).toBe(row.code);
    expect(lastLine(r)).toMatch(row.message);
    if (row.warning) expect(r.stderr).toMatch(row.warning);
    if (row.code === 2) {
      expect(r.stderr.trimEnd().split('\n'), 'one line').toHaveLength(1);
      expect(r.ms).toBeLessThan(JUNK_MS);
    }
  });

  it(`verify exits ${row.verifyCode ?? row.code}`, async () => {
    const input = await row.input();
    const r = await timed(() =>
      epqrngInProcess(
        'verify',
        input,
        '--certs',
        CERTS,
        '--output',
        OUT,
        '--extractor-seed',
        SEED,
        ...(row.args ?? []),
      ),
    );
    expect(r.code, r.stderr).toBe(row.verifyCode ?? row.code);
    expect(lastLine(r.code === 0 ? { ...r, stderr: r.stdout } : r)).toMatch(row.verifyMessage ?? row.message);
    if (row.code === 2) expect(r.ms).toBeLessThan(JUNK_MS);
  });
});

describe('a recording whose every block was refused', () => {
  it('verify exits 1 even when the (empty) certificate and output files match it', async () => {
    const name = join(fixtures, 'uncalibrated');
    const r = await epqrngInProcess(
      'verify',
      `${name}.epqrec`,
      '--certs',
      `${name}.certs`,
      '--output',
      `${name}.bin`,
      '--extractor-seed',
      SEED,
    );
    expect(r.code, r.stderr).toBe(1);
    expect(lastLine(r)).toMatch(/^epqrng: verify: no block certified: certification refused for 1 block\(s\) in a row/);
  });
});
