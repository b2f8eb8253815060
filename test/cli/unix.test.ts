/**
 * The CLI's Unix habits, run as a user runs them (the compiled bin in a
 * child process, in a shell pipeline): a reader that closes stdout early,
 * sizes with suffixes, short options, help and version, and raw bytes kept
 * off a terminal.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/framework.ts';
import { FrameSync, type Frame } from '../../src/protocol/index.ts';
import { openRecording } from '../../src/record/reader.ts';
import { Direction } from '../../src/record/format.ts';
import { epqrng, epqrngInProcess, expectOneLineError } from './run-cli.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin/epqrng.js');
/** Small classical blocks: one certified block in well under a second of simulation (fixtures/README.md COMMON). */
const SMALL = '--block-trials 262144 --adversary classical --eps 1e-6';

/** Runs a shell pipeline; `$EPQRNG` is the command. */
function sh(script: string, timeoutMs = 120_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', `set -o pipefail; ${script}`], {
    cwd: root,
    env: { ...process.env, EPQRNG: `${process.execPath} ${bin}` },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The frames each side sent, from a recording (both directions of the link). */
async function recordedFrames(path: string): Promise<{ host: Frame[]; device: Frame[] }> {
  const host: Frame[] = [];
  const device: Frame[] = [];
  const hostSync = new FrameSync({ onFrame: (f) => host.push(f) });
  const deviceSync = new FrameSync({ onFrame: (f) => device.push(f) });
  const recording = await openRecording(path);
  for await (const batch of recording.batches()) {
    for (const r of batch) (r.direction === Direction.HOST_TO_DEVICE ? hostSync : deviceSync).push(r.bytes);
  }
  return { host, device };
}

describe('a reader that closes stdout early (EPIPE)', () => {
  it('`stream --out - | head -c 1000` exits 0 quietly, and the chip got STOP and ACKed it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-epipe-'));
    const rec = join(dir, 'run.epqrec');
    const r = sh(`$EPQRNG stream --simulate=5 ${SMALL} --out - --record ${rec} | head -c 1000 | wc -c`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0); // pipefail: epqrng's own status is 0 too
    expect(r.stdout.trim()).toBe('1000');
    const { host, device } = await recordedFrames(rec);
    const stops = host.filter((f) => f.kind === 'STOP');
    expect(stops.length).toBeGreaterThan(0);
    const acked = device.filter((f) => f.kind === 'ACK' && stops.some((s) => s.seq === f.ackSeq));
    expect(acked.length).toBeGreaterThan(0);
  });

  it('an in-process stdout that fails with EPIPE: exit 0, nothing on stderr', async () => {
    const broken = new PassThrough();
    broken.write = ((_c: unknown, cb?: unknown) => {
      const done = typeof cb === 'function' ? (cb as (e?: Error) => void) : undefined;
      const e = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      process.nextTick(() => {
        broken.emit('error', e);
        done?.(e);
      });
      return false;
    }) as typeof broken.write;
    const err = new PassThrough();
    let stderr = '';
    err.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await runCli(['stream', '--simulate=4', ...SMALL.split(' '), '--bytes', '4096', '--out', '-'], {
      stdout: broken,
      stderr: err,
      isTTY: false,
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});

describe('sizes, short options, help and version', () => {
  it('`-n 1M` writes 1,048,576 bytes; `--bytes 1KB` 1000', () => {
    const m = sh(`$EPQRNG stream --simulate=6 -n 1M | wc -c`, 240_000);
    expect(m.stderr).toBe('');
    expect(m.stdout.trim()).toBe('1048576');
    const kb = sh(`$EPQRNG stream --simulate=6 ${SMALL} --bytes 1KB -o - | wc -c`);
    expect(kb.stdout.trim()).toBe('1000');
  });

  it('refuses negative and garbage sizes in one line naming the option', async () => {
    expectOneLineError(
      await epqrngInProcess('stream', '--simulate', '--bytes', '-5'),
      2,
      /^epqrng: --bytes must be positive \(got '-5'\)$/,
    );
    expectOneLineError(
      await epqrngInProcess('stream', '--simulate', '-n', '1.5'),
      2,
      /^epqrng: --bytes must be a whole number \(got '1\.5'\)$/,
    );
    expectOneLineError(
      await epqrngInProcess('record', '--simulate', '--trials', '0x10', '-o', 'x'),
      2,
      /^epqrng: --trials must be decimal, not hex/,
    );
    expectOneLineError(
      await epqrngInProcess('stream', '--simulate', '--block-trials', '2^29'),
      2,
      /^epqrng: --block-trials must be from 1000 to 268435456 \(got '2\^29'\)$/,
    );
  });

  it('`epqrng help CMD` is `CMD --help`; --version and -V print the version', async () => {
    const a = await epqrng(['help', 'stream']);
    const b = await epqrng(['stream', '--help']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toMatch(/^stream certified random bytes/);
    expect(a.stdout).toContain('n + m - 1 = 3 N - 1 bits');
    expect(a.stdout).toMatch(/12,582,911 bits =\s+1,572,864 bytes at the default --block-trials 2\^22/);
    const v = await epqrng(['-V']);
    expect(v).toEqual({ code: 0, stdout: expect.stringMatching(/^epqrng \d+\.\d+\.\d+\n$/), stderr: '' });
  });
});

describe('raw bytes and a terminal', () => {
  async function onTerminal(...argv: string[]) {
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    err.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await runCli(argv, { stdout: out, stderr: err, isTTY: false, stdoutIsTTY: true });
    return { code, stdout, stderr };
  }
  it('`--out -` to a terminal is refused with a one-line hint, before the chip is touched', async () => {
    const r = await onTerminal('stream', '--simulate', '--bytes', '64');
    expectOneLineError(r, 2, /^epqrng: stdout is a terminal: redirect it .* or --force-tty/);
    expect(r.stdout).toBe('');
    const replay = await onTerminal('replay', join(root, 'fixtures/honest-calibrated.epqrec'));
    expectOneLineError(replay, 2, /^epqrng: stdout is a terminal/);
  });
  it('--force-tty writes them anyway', async () => {
    const r = await onTerminal('stream', '--simulate=2', ...SMALL.split(' '), '--bytes', '64', '--force-tty');
    expect(r.code, r.stderr).toBe(0);
    expect(Buffer.from(r.stdout, 'latin1')).toHaveLength(64);
  });
});
