/**
 * End to end through the CLI (in process): stream --record, replay, verify,
 * cut recordings, raw captures.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { epqrngInProcess } from '../cli/run-cli.ts';
import { openRecording, deviceBytes } from '../../src/record/reader.ts';
import { encodeFilePreamble } from '../../src/record/format.ts';
import { seedBitsForBlock } from '../../src/output/config.ts';

let dir: string;
const BLOCK = 2 ** 18;
/** Small blocks certify with the classical bound at eps 1e-6 on a calibrated simulated chip (S about 2.4-2.5). */
const CERT_OPTS = ['--block-trials', String(BLOCK), '--adversary', 'classical', '--eps', '1e-6'];

const cli = epqrngInProcess;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A deterministic extractor seed file (mulberry32 bytes). */
function writeSeed(path: string, bits: number, seed: number): void {
  const bytes = Buffer.alloc(Math.ceil(bits / 8));
  let a = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    bytes[i] = (t ^ (t >>> 14)) & 0xff;
  }
  writeFileSync(path, bytes);
}

let seedPath: string;
let live: { rec: string; out: Buffer; certs: string[] };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'epq-cli-rec-'));
  seedPath = join(dir, 'seed.bin');
  writeSeed(seedPath, seedBitsForBlock(BLOCK), 42);
  const rec = join(dir, 'live.epqrec');
  const r = await cli(
    'stream',
    '--simulate=4',
    '--bytes',
    '6000',
    ...CERT_OPTS,
    '--extractor-seed',
    seedPath,
    '--out',
    join(dir, 'live.bin'),
    '--certs',
    join(dir, 'live.certs'),
    '--record',
    rec,
  );
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  live = {
    rec,
    out: readFileSync(join(dir, 'live.bin')),
    certs: readFileSync(join(dir, 'live.certs'), 'utf8').split('\n').filter(Boolean),
  };
  expect(live.out.length).toBe(6000);
  expect(live.certs.length).toBeGreaterThanOrEqual(2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stream --record, then replay', () => {
  it('reproduces the output SHA-256 and every certificate line', async () => {
    const r = await cli(
      'replay',
      live.rec,
      '--extractor-seed',
      seedPath,
      '--out',
      join(dir, 'rep.bin'),
      '--certs',
      join(dir, 'rep.certs'),
    );
    expect(r.code).toBe(0);
    expect(sha256(readFileSync(join(dir, 'rep.bin')))).toBe(sha256(live.out));
    expect(readFileSync(join(dir, 'rep.certs'), 'utf8').split('\n').filter(Boolean)).toEqual(live.certs);
  });

  it('refuses a seed that is not the recorded one for verify; finds the named seed file, and needs it', async () => {
    const other = join(dir, 'other-seed.bin');
    writeSeed(other, seedBitsForBlock(BLOCK), 43);
    const v = await cli('verify', live.rec, '--certs', join(dir, 'live.certs'), '--extractor-seed', other);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/^epqrng: extractor seed .* is not the recorded one \(SHA-256 [0-9a-f]{64}\)\n$/);
    // The header names the seed file (here an absolute path): found and checked by its hash.
    const named = await cli('replay', live.rec, '--out', join(dir, 'named.bin'));
    expect(named.code).toBe(0);
    expect(named.stderr).toContain(`(extractor seed from ${seedPath} (named in the recording))`);
    expect(readFileSync(join(dir, 'named.bin')).equals(live.out)).toBe(true);
    // Moved away (or changed): the replay cannot guess it.
    renameSync(seedPath, `${seedPath}.away`);
    try {
      const none = await cli('replay', live.rec, '--out', join(dir, 'x.bin'));
      expect(none.code).toBe(2);
      expect(none.stderr).toContain('is not embedded in it: pass --extractor-seed FILE');
    } finally {
      renameSync(`${seedPath}.away`, seedPath);
    }
  });
});

describe('a host-settings stream', () => {
  it('replays with its settings seed: every SETTINGS frame sent again and checked, the same bytes and certificates', async () => {
    const settingsSeed = join(dir, 'settings.key');
    writeFileSync(settingsSeed, createHash('sha256').update('cli test settings').digest());
    const rec = join(dir, 'host.epqrec');
    const r = await cli(
      'stream',
      '--simulate=4',
      '--bytes',
      '1500',
      ...CERT_OPTS,
      '--extractor-seed',
      seedPath,
      '--settings',
      'host',
      '--settings-seed',
      settingsSeed,
      '--out',
      join(dir, 'host.bin'),
      '--certs',
      join(dir, 'host.certs'),
      '--record',
      rec,
    );
    expect(r.code).toBe(0);
    const rep = await cli('replay', rec, '--out', join(dir, 'host-rep.bin'), '--certs', join(dir, 'host-rep.certs'));
    expect(rep.stderr).toMatch(/^replayed stream recording /);
    expect(rep.code).toBe(0);
    expect(readFileSync(join(dir, 'host-rep.bin')).equals(readFileSync(join(dir, 'host.bin')))).toBe(true);
    expect(readFileSync(join(dir, 'host-rep.certs'), 'utf8')).toBe(readFileSync(join(dir, 'host.certs'), 'utf8'));
    // Another settings key: the chip's recorded echoes no longer match what this host sends.
    const otherKey = join(dir, 'other.key');
    writeFileSync(otherKey, createHash('sha256').update('another key').digest());
    const bad = await cli('replay', rec, '--settings-seed', otherKey, '--out', join(dir, 'x.bin'));
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(
      /replay diverged at record \d+: expected SETTINGS seq \d+ \(count \d+, settings \d+ bytes\), got SETTINGS seq \d+/,
    );
    // For verify a recording that does not replay is a mismatch: exit 1, one line.
    const v = await cli('verify', rec, '--settings-seed', otherKey, '--certs', join(dir, 'host.certs'));
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(
      new RegExp(`^epqrng: verify: ${rec} does not replay: replay diverged at record \\d+: expected SETTINGS .*\n$`),
    );
  });
});

describe('a stream whose extractor seed was drawn for it', () => {
  it('embeds the seed in the recording, so the replay needs nothing else', async () => {
    const rec = join(dir, 'fresh.epqrec');
    const r = await cli(
      'stream',
      '--simulate=5',
      '--bytes',
      '1000',
      ...CERT_OPTS,
      '--out',
      join(dir, 'fresh.bin'),
      '--certs',
      join(dir, 'fresh.certs'),
      '--record',
      rec,
    );
    expect(r.code).toBe(0);
    const rep = await cli('replay', rec, '--out', join(dir, 'fresh-rep.bin'), '--certs', join(dir, 'fresh-rep.certs'));
    expect(rep.code).toBe(0);
    expect(rep.stderr).toContain('(extractor seed embedded in the recording)');
    expect(readFileSync(join(dir, 'fresh-rep.bin')).equals(readFileSync(join(dir, 'fresh.bin')))).toBe(true);
    expect(readFileSync(join(dir, 'fresh-rep.certs'), 'utf8')).toBe(readFileSync(join(dir, 'fresh.certs'), 'utf8'));
    const v = await cli('verify', rec, '--certs', join(dir, 'fresh.certs'), '--output', join(dir, 'fresh.bin'));
    expect(v.code).toBe(0);
  });
});

describe('verify', () => {
  it("passes on the live run's certificates and output", async () => {
    const r = await cli(
      'verify',
      live.rec,
      '--certs',
      join(dir, 'live.certs'),
      '--output',
      join(dir, 'live.bin'),
      '--extractor-seed',
      seedPath,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The end record says how the live session ended and what it delivered: verify checks both and names the ending.
    expect(r.stdout).toBe(
      `verified ${live.certs.length} certificates and 6000 output bytes against ${live.rec}: all match; ` +
        `session ended by STOP once --bytes were certified: ${live.certs.length} blocks (6000 bytes) delivered\n`,
    );
  });

  it('fails naming the block after one flipped byte of output', async () => {
    // Which block holds byte 4321: from the certificates' output lengths.
    const flipAt = 4321;
    let start = 0;
    let blockIndex = -1;
    for (const line of live.certs) {
      const c = JSON.parse(line) as { blockIndex: number; extraction: { outputBytes: number } };
      if (flipAt < start + c.extraction.outputBytes) {
        blockIndex = c.blockIndex;
        break;
      }
      start += c.extraction.outputBytes;
    }
    const bad = Buffer.from(live.out);
    bad[flipAt]! ^= 0x10;
    writeFileSync(join(dir, 'flipped.bin'), bad);
    const r = await cli(
      'verify',
      live.rec,
      '--certs',
      join(dir, 'live.certs'),
      '--output',
      join(dir, 'flipped.bin'),
      '--extractor-seed',
      seedPath,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^epqrng: verify: block ${blockIndex}: output byte ${flipAt} of \\S+ differs from the certified output`,
      ),
    );
    expect(r.stderr.split('\n').filter(Boolean).length).toBe(1);
  });

  it('fails naming the block and the count after one changed count in a certificate', async () => {
    const lines = [...live.certs];
    const c = JSON.parse(lines[1]!) as { blockIndex: number; counts: number[] };
    const was = c.counts[5]!;
    c.counts[5] = was + 1;
    lines[1] = JSON.stringify(c);
    writeFileSync(join(dir, 'changed.certs'), `${lines.join('\n')}\n`);
    const r = await cli('verify', live.rec, '--certs', join(dir, 'changed.certs'), '--extractor-seed', seedPath);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `epqrng: verify: block ${c.blockIndex} (line 2 of ${join(dir, 'changed.certs')}): counts.5 is ${was + 1} in the certificate, ${was} recomputed from the recording\n`,
    );
  });
});

describe('a stream recording cut at a random byte', () => {
  it('replays the blocks before the cut, with a warning naming it', async () => {
    const file = readFileSync(live.rec);
    const rec = await openRecording(live.rec);
    const headerBytes = encodeFilePreamble(rec.header!).length;
    await rec.close();
    // Fixed cut points (a seeded draw) past the header.
    let a = 7;
    for (let k = 0; k < 3; k++) {
      a = (Math.imul(a, 1103515245) + 12345) >>> 0;
      const cutAt = headerBytes + (a % (file.length - headerBytes));
      const cutPath = join(dir, `cut-${k}.epqrec`);
      writeFileSync(cutPath, file.subarray(0, cutAt));
      const r = await cli(
        'replay',
        cutPath,
        '--extractor-seed',
        seedPath,
        '--out',
        join(dir, `cut-${k}.bin`),
        '--certs',
        join(dir, `cut-${k}.certs`),
      );
      const whole = readFileSync(join(dir, `cut-${k}.certs`), 'utf8')
        .split('\n')
        .filter(Boolean).length;
      // Exit 0 only with at least one block certified: a cut before the first whole block certifies nothing (exit 1).
      expect(r.code, r.stderr).toBe(whole > 0 ? 0 : 1);
      if (whole === 0) expect(r.stderr).toMatch(/holds no whole block: nothing certified\n$/);
      expect(r.stderr).toMatch(
        /^epqrng: warning: recording cut at byte \d+ \(record \d+: [^)]+\): replaying the \d+ complete records before it\n/,
      );
      const cutByte = Number(/cut at byte (\d+)/.exec(r.stderr)![1]);
      expect(cutByte).toBeLessThanOrEqual(cutAt);
      expect(cutByte).toBeGreaterThan(cutAt - 70_000); // within one recorded read of the cut
      const out = readFileSync(join(dir, `cut-${k}.bin`));
      const certs = readFileSync(join(dir, `cut-${k}.certs`), 'utf8')
        .split('\n')
        .filter(Boolean);
      // What replays is exactly the live run's first blocks.
      expect(certs).toEqual(live.certs.slice(0, certs.length));
      expect(out.equals(live.out.subarray(0, out.length))).toBe(true);
      const certifiedBytes = certs.reduce(
        (s, l) => s + (JSON.parse(l) as { extraction: { outputBytes: number } }).extraction.outputBytes,
        0,
      );
      expect(out.length).toBe(Math.min(6000, certifiedBytes));
    }
  });
});

describe('raw captures', () => {
  it("certifies a capture of 10^7 trials, and the counts and S it reports are the capture's", async () => {
    const trials = 10_000_000;
    const recPath = join(dir, 'big.epqrec');
    const r = await cli('record', '--simulate=3', '--trials', String(trials), '--out', recPath);
    expect(r.code).toBe(0);
    // The device-to-host bytes alone, as another tool would capture them.
    const parts: Buffer[] = [];
    for await (const b of deviceBytes(await openRecording(recPath))) parts.push(Buffer.from(b));
    const raw = Buffer.concat(parts);
    const rawPath = join(dir, 'capture.dat');
    writeFileSync(rawPath, raw);

    const block = 2 ** 21;
    const bigSeed = join(dir, 'seed-2p21.bin');
    writeSeed(bigSeed, seedBitsForBlock(block), 9);
    const rep = await cli(
      'replay',
      rawPath,
      '--block-trials',
      String(block),
      '--adversary',
      'classical',
      '--eps',
      '1e-6',
      '--extractor-seed',
      bigSeed,
      '--out',
      join(dir, 'raw.bin'),
      '--certs',
      join(dir, 'raw.certs'),
    );
    expect(rep.code).toBe(0);
    const certs = readFileSync(join(dir, 'raw.certs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            blockIndex: number;
            trialRange: { first: number; count: number };
            counts: number[];
            sEstimate: number;
            device: { serial: string };
            lostTrials: { total: number };
          },
      );
    expect(certs.length).toBe(Math.floor(trials / block));
    // The INFO at the start of the capture names the device.
    expect(certs[0]!.device.serial).toMatch(/^EPQ1-[0-9A-F]{8}$/);

    // Independent count: walk the 64-byte frames, check magic and CRC, bin every TRIALS record.
    const counts = Array.from({ length: certs.length }, () => new Array<number>(16).fill(0));
    let seen = 0;
    let badFrames = 0;
    for (let at = 0; at + 64 <= raw.length; at += 64) {
      if (raw[at] !== 0xe5 || raw[at + 1] !== 0x51 || raw.readUInt32LE(at + 60) !== crc32(raw.subarray(at, at + 60))) {
        badFrames++;
        continue;
      }
      if (raw[at + 2] !== 0x01) continue; // PROTOCOL 4: TRIALS only
      const first = raw.readUInt32LE(at + 8) + raw.readUInt32LE(at + 12) * 2 ** 32;
      const n = raw.readUInt16LE(at + 16);
      for (let k = 0; k < n; k++) {
        const rec = raw[at + 20 + k]!;
        const idx = first + k;
        seen++;
        const blk = Math.floor(idx / block);
        if (blk >= certs.length) continue;
        const x = (rec >> 5) & 1;
        const y = (rec >> 4) & 1;
        const a = (rec >> 3) & 1 && !((rec >> 2) & 1) ? 1 : 0; // a = A1 and not A0
        const b = (rec >> 1) & 1 && !(rec & 1) ? 1 : 0; // b = B1 and not B0
        counts[blk]![8 * x + 4 * y + 2 * a + b]!++;
      }
    }
    expect(badFrames).toBe(0);
    expect(raw.length % 64).toBe(0);
    expect(seen).toBe(trials);
    let sumAll = 0;
    for (const [i, c] of certs.entries()) {
      expect(c.blockIndex).toBe(i);
      expect(c.trialRange).toEqual({ first: i * block, count: block });
      expect(c.lostTrials.total).toBe(0);
      expect(c.counts).toEqual(counts[i]);
      // S = E00 + E01 + E10 - E11, each E from its own setting's trials, vs the certificate's per-trial estimate
      // (uniform settings: S-hat = (4/N) sum over trials of (-1)^(xy) (-1)^(a xor b)).
      let s = 0;
      for (let cell = 0; cell < 16; cell++) {
        const x = cell >> 3,
          y = (cell >> 2) & 1,
          a = (cell >> 1) & 1,
          b = cell & 1;
        s += counts[i]![cell]! * ((x & y) ^ a ^ b ? -4 : 4);
      }
      expect(c.sEstimate).toBeCloseTo(s / block, 12);
      sumAll += s;
      // And the ratio estimate from the same counts agrees within its sampling error (about 4/sqrt(N) = 0.003).
      const e = [0, 1, 2, 3].map((xy) => {
        const cell = (o: number) => counts[i]![4 * xy + o]!;
        return (cell(0) + cell(3) - cell(1) - cell(2)) / (cell(0) + cell(1) + cell(2) + cell(3));
      });
      expect(Math.abs(e[0]! + e[1]! + e[2]! - e[3]! - c.sEstimate)).toBeLessThan(0.02);
    }
    expect(sumAll / (certs.length * block)).toBeGreaterThan(2.2);
  });
});

describe('record, then replay', () => {
  it('a run stopped after --seconds of chip time replays through the Device, STOP where it was sent, and certifies like its raw capture', async () => {
    const rec = join(dir, 'secs.epqrec');
    const r = await cli('record', '--simulate=6', '--seconds', '0.6', '--out', rec);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^recorded \d+ trials \(\d+ TRIALS frames, 0 flagged GAP, 0 lost on the link, 0 invalid\) in 0\.\d+ s of chip time to /,
    );
    const recorded = Number(/^recorded (\d+) trials/.exec(r.stderr)![1]);
    expect(recorded).toBeGreaterThanOrEqual(600_000);
    const parts: Buffer[] = [];
    for await (const b of deviceBytes(await openRecording(rec))) parts.push(Buffer.from(b));
    writeFileSync(join(dir, 'secs.raw'), Buffer.concat(parts));
    const a = await cli(
      'replay',
      rec,
      ...CERT_OPTS,
      '--extractor-seed',
      seedPath,
      '--out',
      join(dir, 'secs.bin'),
      '--certs',
      join(dir, 'secs.certs'),
    );
    expect(a.stderr).toMatch(/^replayed record recording .*: \d+ certified bytes, 0 blocks refused/);
    expect(a.code).toBe(0);
    const b = await cli(
      'replay',
      join(dir, 'secs.raw'),
      ...CERT_OPTS,
      '--extractor-seed',
      seedPath,
      '--out',
      join(dir, 'secs-raw.bin'),
      '--certs',
      join(dir, 'secs-raw.certs'),
    );
    expect(b.code).toBe(0);
    const certs = readFileSync(join(dir, 'secs.certs'), 'utf8');
    expect(certs.split('\n').filter(Boolean).length).toBe(Math.floor(recorded / BLOCK));
    expect(readFileSync(join(dir, 'secs-raw.certs'), 'utf8')).toBe(certs);
    expect(readFileSync(join(dir, 'secs-raw.bin')).equals(readFileSync(join(dir, 'secs.bin')))).toBe(true);
  });

  it('--trials written as 2^19 or 512K (the one number grammar) replays: the recorded START limit is read back the same way', async () => {
    for (const written of ['2^19', '512K']) {
      const rec = join(dir, `limit-${written.replace('^', 'p')}.epqrec`);
      const r = await cli('record', '--simulate=7', '--trials', written, '--out', rec);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^recorded 524288 trials /);
      const a = await cli('replay', rec, ...CERT_OPTS, '--extractor-seed', seedPath, '--out', join(dir, 'limit.bin'));
      // before: the limit was read back as 0 and replay diverged at START (exit 3)
      expect(a.stderr).toMatch(/^replayed record recording .*: \d+ certified bytes, 0 blocks refused/);
      expect(a.code).toBe(0);
    }
  });

  it('a seed file named at record time (embedded or not) is the one replay and verify accept', async () => {
    const rec = join(dir, 'seeded.epqrec');
    expect(
      (
        await cli(
          'record',
          '--simulate=7',
          '--trials',
          '300000',
          '--extractor-seed',
          seedPath,
          '--embed-seed',
          '--out',
          rec,
        )
      ).code,
    ).toBe(0);
    const r = await cli(
      'replay',
      rec,
      ...CERT_OPTS,
      '--out',
      join(dir, 'seeded.bin'),
      '--certs',
      join(dir, 'seeded.certs'),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('(extractor seed embedded in the recording)');
    const v = await cli(
      'verify',
      rec,
      ...CERT_OPTS,
      '--extractor-seed',
      seedPath,
      '--certs',
      join(dir, 'seeded.certs'),
      '--output',
      join(dir, 'seeded.bin'),
    );
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    const other = join(dir, 'other.bin');
    writeSeed(other, seedBitsForBlock(BLOCK), 77);
    const w = await cli('verify', rec, ...CERT_OPTS, '--extractor-seed', other, '--certs', join(dir, 'seeded.certs'));
    expect(w.code).toBe(2);
    expect(w.stderr).toContain('is not the recorded one');
  });

  it('refuses bad options with one line and exit 2', async () => {
    const both = await cli('record', '--simulate', '--trials', '10', '--seconds', '1', '--out', join(dir, 'x.epqrec'));
    expect(both).toMatchObject({ code: 2, stderr: 'epqrng: pass exactly one of --trials N and --seconds S\n' });
    const noOut = await cli('record', '--simulate', '--trials', '10');
    expect(noOut).toMatchObject({ code: 2, stderr: 'epqrng: --out FILE is required\n' });
    const bad = await cli('record', '--simulate', '--trials', 'many', '--out', join(dir, 'x.epqrec'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^epqrng: --trials must be a count from 1 to \d+, e\.g\. [^\n]* \(got 'many'\)\n$/);
    const noPort = await cli(
      'record',
      '--port',
      join(dir, 'no-such-port'),
      '--trials',
      '10',
      '--out',
      join(dir, 'noport.epqrec'),
    );
    expect(noPort.code).toBe(3);
    expect(noPort.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(existsSync(join(dir, 'noport.epqrec'))).toBe(false);
    // A damaged header: one line naming what is wrong, exit 2 (bad input), for replay and verify alike.
    const damaged = Buffer.from(readFileSync(live.rec));
    damaged[40]! ^= 0x04;
    writeFileSync(join(dir, 'damaged.epqrec'), damaged);
    for (const args of [
      ['replay', join(dir, 'damaged.epqrec'), '--out', join(dir, 'x.bin')],
      ['verify', join(dir, 'damaged.epqrec'), '--certs', join(dir, 'live.certs')],
    ]) {
      const d = await cli(...args);
      expect(d.code).toBe(2);
      expect(d.stderr).toMatch(
        /^epqrng: recording header: CRC mismatch \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\)\n$/,
      );
    }
    const missing = await cli('replay', join(dir, 'does-not-exist.epqrec'));
    expect(missing).toMatchObject({
      code: 2,
      stderr: `epqrng: cannot open recording ${join(dir, 'does-not-exist.epqrec')}: no such file\n`,
    });
  });
});
