/**
 * `epqrng stream --adversary classical --classical-bound pef --target-bits K`
 * on the calibrated simulated chip: the first certified bytes come after at
 * most 2^18 trials, blocks are variable-length and contiguous, each
 * certificate states the stopping rule and the trial count at which it
 * fired; `verify` of the recording with the same options reproduces every
 * block boundary, certificate and byte, and with another target it does not.
 * The option's constraints are one-line usage errors (exit 2).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCertificateLine } from '../../src/certify/index.ts';
import { epqrngInProcess, expectOneLineError } from './run-cli.ts';

const PEF = ['--adversary', 'classical', '--classical-bound', 'pef'];

describe('epqrng stream --target-bits', () => {
  it('is in the help of stream, replay and verify, not of serve (which does not take it)', async () => {
    for (const command of ['stream', 'replay', 'verify'])
      expect((await epqrngInProcess('help', command)).stdout).toMatch(/--target-bits K/);
    expect((await epqrngInProcess('help', 'serve')).stdout).not.toMatch(/--target-bits/);
  });

  it('first bytes within 2^18 trials; verify reproduces the block boundaries (and fails with another target)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-target-'));
    const [certs, out, rec] = ['certs.jsonl', 'out.bin', 'run.epqrec'].map((f) => join(dir, f)) as [
      string,
      string,
      string,
    ];
    const live = await epqrngInProcess(
      'stream',
      '--simulate=7',
      ...PEF,
      '--target-bits',
      '512',
      '--bytes',
      '256',
      '--out',
      out,
      '--certs',
      certs,
      '--record',
      rec,
    );
    expect(live.code, live.stderr).toBe(0);
    expect(readFileSync(out)).toHaveLength(256);
    const lines = readFileSync(certs, 'utf8').trim().split('\n');
    const cs = lines.map((l) => parseCertificateLine(l));
    expect(cs).toHaveLength(4);
    // the first certified bytes arrive after at most 2^18 trials (acceptance), in practice after a few 4096-trial segments
    expect(cs[0]?.trialRange.first).toBe(0);
    expect(cs[0]?.trialRange.count).toBeLessThanOrEqual(2 ** 18);
    let next = 0;
    for (const c of cs) {
      expect(c.trialRange.first).toBe(next);
      next += c.trialRange.count;
      expect(c.outputBits).toBe(512);
      expect(c.stopping?.firedAtTrial).toBe(c.trialRange.count);
      expect(c.bound).toMatch(/stopping rule/);
    }
    const verify = (target: string) =>
      epqrngInProcess('verify', rec, '--certs', certs, '--output', out, ...PEF, '--target-bits', target);
    const ok = await verify('512');
    expect(ok.code, ok.stderr).toBe(0);
    // without options, verify takes them from the recorded command line: the same boundaries
    const bare = await epqrngInProcess('verify', rec, '--certs', certs, '--output', out);
    expect(bare.code, bare.stderr).toBe(0);
    const other = await verify('1024');
    expect(other.code).toBe(1);
  });

  it.each([
    [['--target-bits', '512'], /--target-bits needs --adversary classical --classical-bound pef/],
    [[...PEF, '--target-bits', '100'], /--target-bits must be a multiple of 8/],
    [[...PEF, '--target-bits', '512', '--settings', 'host'], /--target-bits needs --settings internal/],
    [[...PEF, '--target-bits', '512', '--block-trials', '100000'], /multiple of 4096, got 100000/],
  ])('refuses %j with a one-line usage error', async (args, pattern) => {
    const r = await epqrngInProcess('stream', '--simulate', ...args, '--bytes', '1', '--out', '-');
    expectOneLineError(r, 2, pattern);
  });
});
