/**
 * `epqrng stream --settings host` as a user runs it (a child process):
 * - the echo-falsifying chip (--sim-mode tamper): exit 1, one line naming
 *   the trial, 0 bytes written and no certificate;
 * - an honest chip in host mode: certified bytes, certificates with the
 *   host-settings accounting;
 * - a host run with --settings-seed, recorded, replays to the same bytes
 *   and certificates (the settings are regenerated from the seed);
 * - option errors: one line, exit 2.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCertificateLine } from '../../src/certify/index.ts';
import { epqrng, expectOneLineError } from '../cli/run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'epqrng-host-cli-'));

describe('epqrng stream --settings host', () => {
  it('the echo-falsifying chip: exit 1 naming the trial, 0 bytes, no certificate', async () => {
    const out = join(dir, 'tamper.bin');
    const certs = join(dir, 'tamper.jsonl');
    const r = await epqrng(
      [
        'stream',
        '--simulate=3',
        '--sim-mode',
        'tamper',
        '--settings',
        'host',
        '--block-trials',
        '2097152',
        '--out',
        out,
        '--certs',
        certs,
      ],
      {},
      60_000,
    );
    expectOneLineError(
      r,
      1,
      /^epqrng: echo check failed at trial \d+: sent x=\d y=\d, chip echoed x=\d y=\d; the chip is not using the host's settings \(PROTOCOL 6\)/,
    );
    expect(readFileSync(out).length).toBe(0);
    expect(readFileSync(certs, 'utf8')).toBe('');
  }, 90_000);

  it('an honest chip: bytes and certificates stating the settings, the echo check and the accounting', async () => {
    const out = join(dir, 'honest.bin');
    const certs = join(dir, 'honest.jsonl');
    const seedFile = join(dir, 'settings.seed');
    writeFileSync(seedFile, new Uint8Array(32).fill(9));
    const r = await epqrng(
      [
        'stream',
        '--simulate=11',
        '--settings',
        'host',
        '--settings-seed',
        seedFile,
        '--block-trials',
        '2097152',
        '--bytes',
        '64',
        '--out',
        out,
        '--certs',
        certs,
      ],
      {},
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).length).toBe(64);
    const lines = readFileSync(certs, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    const c = parseCertificateLine(lines[0]!);
    expect(c.settingsSource).toBe('host');
    expect(c.hostSettings).toMatchObject({
      generator: 'chacha20-seeded',
      testRate: null,
      echoChecked: 2097152 - c.lostTrials.total,
    });
    // Every trial a test round with uniform x, y: 2 bits per trial.
    expect(c.accounting).toMatchObject({
      settingBits: 2 * 2097152,
      certifiedBits: c.outputBits,
      netGainBits: c.outputBits - 2 * 2097152,
      extractorSeed: 'reused',
    });
    expect(c.accounting!.run.netGainBits).toBe(c.outputBits - 2 * 2097152 - c.accounting!.extractorSeedBits);
  }, 90_000);

  it('--settings-seed makes a host run replayable: epqrng replay regenerates the settings and reproduces bytes and certificates', async () => {
    const seedFile = join(dir, 'replay-settings.seed');
    const extractorSeed = join(dir, 'replay-extractor.seed');
    writeFileSync(seedFile, new Uint8Array(32).fill(4));
    writeFileSync(
      extractorSeed,
      new Uint8Array(2_000_000).map((_, i) => (i * 131 + 7) & 255),
    );
    const rec = join(dir, 'host.epq');
    const common = ['--block-trials', '4194304', '--extractor-seed', extractorSeed];
    const live = await epqrng(
      [
        'stream',
        '--simulate=11',
        '--settings',
        'host',
        '--settings-seed',
        seedFile,
        '--test-rate',
        '0.5',
        ...common,
        '--bytes',
        '16',
        '--out',
        join(dir, 'live.bin'),
        '--certs',
        join(dir, 'live.jsonl'),
        '--record',
        rec,
      ],
      {},
      60_000,
    );
    expect(live.code, live.stderr).toBe(0);
    const again = await epqrng(
      ['replay', rec, ...common, '--out', join(dir, 'replay.bin'), '--certs', join(dir, 'replay.jsonl')],
      {},
      60_000,
    );
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(dir, 'replay.bin')).equals(readFileSync(join(dir, 'live.bin')))).toBe(true);
    expect(readFileSync(join(dir, 'replay.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'live.jsonl'), 'utf8'));
    expect(
      parseCertificateLine(readFileSync(join(dir, 'live.jsonl'), 'utf8').split('\n')[0]!).hostSettings?.testRate?.gamma,
    ).toBe(0.5);
  }, 120_000);

  it('option errors are one line, exit 2', async () => {
    expectOneLineError(
      await epqrng(['stream', '--simulate', '--settings', 'chip']),
      2,
      /--settings must be one of internal, host/,
    );
    expectOneLineError(
      await epqrng(['stream', '--simulate', '--test-rate', '0.01']),
      2,
      /--test-rate needs --settings host/,
    );
    expectOneLineError(
      await epqrng(['stream', '--simulate', '--settings', 'host', '--test-rate', '0']),
      2,
      /--test-rate must be a decimal in \(0, 1\]/,
    );
    expectOneLineError(
      await epqrng(['stream', '--simulate', '--settings', 'host', '--settings-seed', join(dir, 'missing')]),
      2,
      /cannot read settings seed file .*missing: ENOENT/,
    );
    expectOneLineError(
      await epqrng(['stream', '--simulate', '--settings', 'host', '--test-rate', '0.1', '--adversary', 'classical']),
      2,
      /--test-rate below 1 is certified against quantum side information only/,
    );
  }, 90_000);
});
