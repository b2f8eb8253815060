/**
 * Exit codes of runs that certify nothing, and the adversary a replay may
 * claim (src/cli/stream-options.ts):
 * - a replay that refused every block it saw exits 1, whatever --max-refused
 *   and --bytes say (a recording, and the same trials as a raw capture);
 * - `replay --adversary classical` of a spot-checking recording is refused
 *   with exit 2, as `stream` refuses it: no registered bound certifies
 *   spot-checking against classical side information.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceBytes, openRecording } from '../../src/record/reader.ts';
import { epqrngInProcess as cli, expectOneLineError } from './run-cli.ts';

let dir: string;
const CERT_OPTS = ['--block-trials', String(2 ** 18), '--adversary', 'classical', '--eps', '1e-6'];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'epq-exit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a run that refused every block exits 1', () => {
  it('replay of an uncalibrated chip: exit 1 with --max-refused above the block count, with and without --bytes', async () => {
    const rec = join(dir, 'uncal.epqrec');
    // 2 full blocks of 2^18 and a partial one (never a refusal: the run's unfinished end)
    const r = await cli('record', '--simulate=4', '--sim-uncalibrated', '--trials', '600000', '--out', rec);
    expect(r.code).toBe(0);
    const raw = join(dir, 'uncal.dat');
    const parts: Buffer[] = [];
    for await (const b of deviceBytes(await openRecording(rec))) parts.push(Buffer.from(b));
    writeFileSync(raw, Buffer.concat(parts));
    for (const file of [rec, raw]) {
      for (const bytes of [[], ['--bytes', '16']]) {
        const out = join(dir, 'out.bin');
        const rep = await cli('replay', file, ...CERT_OPTS, '--max-refused', '100', ...bytes, '--out', out);
        expect(rep.code, rep.stderr).toBe(1);
        expect(rep.stderr).toMatch(/2 blocks refused/);
        expect(rep.stderr.trim().split('\n').at(-1)).toMatch(
          /^epqrng: certification refused every block of .* \(2 of 2\); block 1: /,
        );
        expect(readFileSync(out).length).toBe(0);
      }
    }
  }, 120_000);

  it('a replay that certified a block still exits 0', async () => {
    const rec = join(dir, 'good.epqrec');
    expect((await cli('record', '--simulate=4', '--trials', '600000', '--out', rec)).code).toBe(0);
    const rep = await cli('replay', rec, ...CERT_OPTS, '--out', join(dir, 'good.bin'));
    expect(rep.stderr).toMatch(/0 blocks refused/);
    expect(rep.code).toBe(0);
  }, 120_000);
});

describe('replay --adversary of a spot-checking recording', () => {
  it('classical: exit 2 before any block, as stream refuses it', async () => {
    const rec = join(dir, 'spot.epqrec');
    const settingsSeed = join(dir, 'settings.seed');
    writeFileSync(settingsSeed, new Uint8Array(32).fill(5));
    // Blocks too small to certify with spot-checking: the live run ends at its first refusal (exit 1).
    const live = await cli(
      'stream',
      '--simulate=4',
      '--settings',
      'host',
      '--settings-seed',
      settingsSeed,
      '--test-rate',
      '0.5',
      '--block-trials',
      '1000',
      '--max-refused',
      '1',
      '--out',
      join(dir, 'spot.bin'),
      '--record',
      rec,
    );
    expect(live.code, live.stderr).toBe(1);
    const rep = await cli('replay', rec, '--settings-seed', settingsSeed, '--adversary', 'classical');
    expectOneLineError(
      rep,
      2,
      /^epqrng: --test-rate below 1 is certified against quantum side information only; drop --adversary classical$/,
    );
    // As recorded (quantum): replayed, and refused as live.
    const again = await cli('replay', rec, '--settings-seed', settingsSeed, '--out', join(dir, 'again.bin'));
    expect(again.code, again.stderr).toBe(1);
  }, 120_000);
});
