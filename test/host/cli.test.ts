/**
 * `epqrng stream --settings host` as a user runs it (a child process):
 * - the echo-falsifying chip (--sim-mode tamper): exit 1, one line naming
 *   the trial, 0 bytes written and no certificate;
 * - an honest chip in host mode: certified bytes, certificates with the
 *   host-settings accounting;
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
    const r = await epqrng(['stream', '--simulate=3', '--sim-mode', 'tamper', '--settings', 'host', '--block-trials', '2097152', '--out', out, '--certs', certs], {}, 60_000);
    expectOneLineError(r, 1, /^epqrng: echo check failed at trial \d+: sent x=\d y=\d, chip echoed x=\d y=\d; the chip is not using the host's settings \(PROTOCOL 6\)/);
    expect(readFileSync(out).length).toBe(0);
    expect(readFileSync(certs, 'utf8')).toBe('');
  }, 90_000);

  it('an honest chip: bytes and certificates stating the settings, the echo check and the accounting', async () => {
    const out = join(dir, 'honest.bin');
    const certs = join(dir, 'honest.jsonl');
    const seedFile = join(dir, 'settings.seed');
    writeFileSync(seedFile, new Uint8Array(32).fill(9));
    const r = await epqrng(['stream', '--simulate=11', '--settings', 'host', '--settings-seed', seedFile, '--block-trials', '2097152', '--bytes', '64', '--out', out, '--certs', certs], {}, 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).length).toBe(64);
    const lines = readFileSync(certs, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    const c = parseCertificateLine(lines[0]!);
    expect(c.settingsSource).toBe('host');
    expect(c.hostSettings).toMatchObject({ generator: 'chacha20-seeded', testRate: null, echoChecked: 2097152 - c.lostTrials.total });
    // Every trial a test round with uniform x, y: 2 bits per trial.
    expect(c.accounting).toMatchObject({ settingBits: 2 * 2097152, certifiedBits: c.outputBits, netGainBits: c.outputBits - 2 * 2097152, extractorSeed: 'reused' });
    expect(c.accounting!.run.netGainBits).toBe(c.outputBits - 2 * 2097152 - c.accounting!.extractorSeedBits);
  }, 90_000);

  it('option errors are one line, exit 2', async () => {
    expectOneLineError(await epqrng(['stream', '--simulate', '--settings', 'chip']), 2, /--settings must be one of internal, host/);
    expectOneLineError(await epqrng(['stream', '--simulate', '--test-rate', '0.01']), 2, /--test-rate needs --settings host/);
    expectOneLineError(await epqrng(['stream', '--simulate', '--settings', 'host', '--test-rate', '0']), 2, /--test-rate must be a decimal in \(0, 1\]/);
    expectOneLineError(await epqrng(['stream', '--simulate', '--settings', 'host', '--settings-seed', join(dir, 'missing')]), 2, /cannot read settings seed file .*missing: ENOENT/);
  }, 90_000);
});
