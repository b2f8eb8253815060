/**
 * A `stream --reconnect` through an unplug and a replug of a simulated chip
 * at the same PTY path (epqrng simulate's PTY server): the stream runs in
 * its own process as a user runs it; once it has written its first
 * certificate the chip's PTY bridge is killed (the unplug), and once the
 * stream says it waits, a chip with `replugSeed` (1: the same chip, else
 * another serial) appears at the same path (the replug).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { servePty, type PtyServer } from '../../src/simulator/index.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** A chip buffer of 16 MiB (6.5 s at 1 M trials/s): a loaded test machine must not make the run overflow. */
const BUFFER_FRAMES = 1 << 18;

export const certLines = (path: string) =>
  existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];

export interface Replugged {
  code: number | null;
  stderr: string;
  dir: string;
  out: string;
  certs: string;
  /** Certificates written before the unplug. */
  before: number;
}

/**
 * `stream --port PTY --reconnect=60 --bytes N` (plus `extra`) through an unplug and a replug; with `silent`,
 * through a link gone silent instead (its bridge stopped with SIGSTOP: the port stays, the watchdog fires),
 * then the same chip answering again (SIGCONT) 2 s after the stream said it waits.
 */
export async function unplugReplug(
  replugSeed: number,
  bytes: number,
  extra: string[] = [],
  silent = false,
): Promise<Replugged> {
  const dir = mkdtempSync(join(tmpdir(), 'epqrng-reconnect-'));
  const path = join(dir, 'epq');
  const out = join(dir, 'out.bin');
  const certs = join(dir, 'certs.jsonl');
  let server: PtyServer = await servePty(path, { seed: 1, calibrated: true, deviceBufferFrames: BUFFER_FRAMES });
  const args = ['stream', '--port', path, '--reconnect=60', '--bytes', String(bytes), '--block-trials', '1048576'];
  const child = spawn(process.execPath, [`${root}bin/epqrng.js`, ...args, '--out', out, '--certs', certs, ...extra], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, EPQRNG_DEBUG: '1' },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 60_000;
    while (certLines(certs).length < 1 && child.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const before = certLines(certs).length;
    expect(before, stderr).toBeGreaterThanOrEqual(1);
    const bridge = server.bridgePid!;
    process.kill(bridge, silent ? 'SIGSTOP' : 'SIGKILL'); // the link goes silent, or the chip is unplugged
    if (!silent) await server.close();
    while (!stderr.includes('waiting for') && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    if (silent) {
      await new Promise((r) => setTimeout(r, 2000));
      process.kill(bridge, 'SIGCONT');
      return { code: await exited, stderr, dir, out, certs, before };
    }
    await new Promise((r) => setTimeout(r, 500));
    rmSync(path, { force: true }); // the dangling link socat could not remove (udev does this for a real chip)
    server = await servePty(path, { seed: replugSeed, calibrated: true, deviceBufferFrames: BUFFER_FRAMES }); // replug
    const code = await exited;
    return { code, stderr, dir, out, certs, before };
  } finally {
    child.kill('SIGKILL');
    await server.close();
  }
}
