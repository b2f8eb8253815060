/**
 * The fixtures (fixtures/README.md) replay to what their manifest says the
 * live session produced: the same exit code and refusal line, the same bytes
 * and certificates; the calibration session gives the same profile.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { epqrng, epqrngInProcess } from '../cli/run-cli.ts';
import { Device } from '../../src/device/index.ts';
import { calibrate } from '../../src/calibrate/procedure.ts';
import { makePlan } from '../../src/calibrate/plan.ts';
import { createReplayBinding } from '../../src/record/replay-binding.ts';
import { openRecording } from '../../src/record/reader.ts';
import { withoutWallTime, FIXTURE_EPOCH, type FixtureEntry } from '../../fixtures/make-fixtures.ts';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures');
const manifest = JSON.parse(readFileSync(join(fixtures, 'manifest.json'), 'utf8')) as FixtureEntry[];
const seed = join(fixtures, 'extractor-seed.bin');

const cli = epqrngInProcess;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'epq-fixtures-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fixtures', () => {
  it('are all there, each at most 2 MB, and match the manifest', () => {
    expect(manifest.map((e) => e.name)).toEqual([
      'honest-calibrated',
      'uncalibrated',
      'lhv',
      'postselect',
      'corrupted-link',
      'host-settings',
      'calibration',
    ]);
    for (const e of manifest) {
      for (const [file, hash] of Object.entries(e.files)) {
        const path = join(fixtures, file);
        expect(statSync(path).size).toBeLessThanOrEqual(2_000_000);
        expect(sha256(readFileSync(path)), file).toBe(hash);
      }
    }
  });

  for (const e of manifest.filter((m) => m.command[0] === 'stream')) {
    it(`${e.name}: replay gives the live run's exit code, refusal, bytes and certificates`, async () => {
      const rec = await openRecording(join(fixtures, `${e.name}.epqrec`));
      expect(rec.header?.tool).toBe('stream');
      expect(rec.header?.commandLine).toEqual(e.command);
      await rec.close();
      const out = join(dir, `${e.name}.bin`);
      const certs = join(dir, `${e.name}.certs`);
      // A recorded settings seed path is relative to fixtures/ (where the command ran).
      const at = e.command.indexOf('--settings-seed');
      const settingsSeed = at >= 0 ? ['--settings-seed', join(fixtures, e.command[at + 1]!)] : [];
      const r = await cli(
        'replay',
        join(fixtures, `${e.name}.epqrec`),
        '--extractor-seed',
        seed,
        ...settingsSeed,
        '--out',
        out,
        '--certs',
        certs,
      );
      // A fixture replays the host code of its day: when stream's commands change, it diverges (the message names the
      // frame).
      const stale = `${r.stderr.trim()} (if the host code changed since the fixture was made: node bin/run-ts.js fixtures/make-fixtures.ts ${e.name})`;
      expect(r.code, stale).toBe(e.exitCode);
      if (e.exitCode !== 0) expect(r.stderr.trim().split('\n').pop()).toBe(e.stderrLastLine);
      expect(sha256(readFileSync(out))).toBe(e.files[`${e.name}.bin`]);
      expect(sha256(readFileSync(certs))).toBe(e.files[`${e.name}.certs`]);
      if (e.exitCode === 0) {
        const v = await cli(
          'verify',
          join(fixtures, `${e.name}.epqrec`),
          '--certs',
          join(fixtures, `${e.name}.certs`),
          '--output',
          join(fixtures, `${e.name}.bin`),
          '--extractor-seed',
          seed,
          ...settingsSeed,
        );
        expect(v.stderr).toBe('');
        expect(v.code).toBe(0);
      }
    });
  }

  it('corrupted-link: its certificates count the trials the link lost', () => {
    const lines = readFileSync(join(fixtures, 'corrupted-link.certs'), 'utf8').split('\n').filter(Boolean);
    const lost = lines.map((l) => (JSON.parse(l) as { lostTrials: { link: number } }).lostTrials.link);
    expect(lost.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('host-settings: the certificates say the settings came from the host', () => {
    const c = JSON.parse(readFileSync(join(fixtures, 'host-settings.certs'), 'utf8').split('\n')[0]!) as {
      settingsSource: string;
    };
    expect(c.settingsSource).toBe('host');
  });

  it('calibration, recorded now and replayed: the procedure gives the same profile from the recording as from the chip', async () => {
    const { openRecordedDevice } = await import('../../src/cli/recorded-device.ts');
    const path = join(dir, 'calibration-now.epqrec');
    const now = () => new Date(Number(FIXTURE_EPOCH) * 1000);
    const live = await openRecordedDevice(
      { kind: 'simulate', seed: 21, mode: 'honest', calibrated: false, faults: {} },
      { out: path, tool: 'calibrate', commandLine: [] },
    );
    let liveProfile: unknown;
    try {
      liveProfile = await calibrate(live.device, { plan: makePlan('quick'), now });
    } finally {
      await live.device.close();
      live.recorder.close();
    }
    const replay = createReplayBinding(path);
    const device = await Device.open({ path: replay.path, binding: replay.binding as never });
    try {
      const replayed = await calibrate(device, { plan: makePlan('quick'), now });
      expect(replay.divergence).toBeNull();
      expect(withoutWallTime(JSON.parse(JSON.stringify(replayed)) as unknown)).toEqual(
        withoutWallTime(JSON.parse(JSON.stringify(liveProfile)) as unknown),
      );
    } finally {
      await device.close();
    }
  });

  it('calibration: replayed from its fixture through the Device as recorded hardware, the procedure gives the same profile', async () => {
    const replay = createReplayBinding(join(fixtures, 'calibration.epqrec.gz'));
    const device = await Device.open({ path: replay.path, binding: replay.binding as never });
    try {
      const profile = await calibrate(device, {
        plan: makePlan('quick'),
        now: () => new Date(Number(FIXTURE_EPOCH) * 1000),
      });
      expect(replay.divergence).toBeNull();
      const expected = JSON.parse(readFileSync(join(fixtures, 'calibration.profile.json'), 'utf8')) as unknown;
      // When the calibrate procedure changes what it computes, the stored profile goes stale (and when it changes
      // what it sends, the replay diverges): regenerate with
      // `node bin/run-ts.js fixtures/make-fixtures.ts calibration`.
      expect(
        withoutWallTime(JSON.parse(JSON.stringify(profile)) as unknown),
        'fixtures/calibration.profile.json is stale: regenerate it (fixtures/README.md)',
      ).toEqual(expected);
    } finally {
      await device.close();
    }
  });
  // fixtures/README.md promises that each command regenerates its files byte for byte. The
  // host-settings one hashes on a worker thread while the chip runs: it holds only because the
  // stream stops the chip as soon as its certified blocks cover --bytes, before the hash.
  for (const name of ['host-settings', 'honest-calibrated']) {
    it(`${name}: its recorded command, run again, writes the same bytes (recording included)`, async () => {
      const e = manifest.find((m) => m.name === name)!;
      const at = mkdtempSync(join(dir, `${name}-`));
      for (const f of ['extractor-seed.bin', 'settings-seed.bin']) copyFileSync(join(fixtures, f), join(at, f));
      const { code } = await epqrng(e.command, { SOURCE_DATE_EPOCH: FIXTURE_EPOCH }, 60_000, at);
      expect(code).toBe(e.exitCode);
      for (const [file, hash] of Object.entries(e.files)) expect(sha256(readFileSync(join(at, file))), file).toBe(hash);
    }, 90_000);
  }
});
