/**
 * Unplug as a user meets it: `epqrng stream --port PTY` while the far side of
 * the real pseudo-terminal (the socat bridge in front of the chip) is killed
 * at a random moment, 20 times. Every run ends within 2 s of the unplug with
 * exit 3 and one line naming the port, the bytes written are exactly the
 * certified outputBytes of the certificates written, and the process spends
 * less than one CPU-second after the unplug (no busy loop).
 *
 * And `epqrng simulate --pty`: when its bridge dies it says why and exits 3;
 * SIGTERM ends its bridge too.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { servePty } from '../../src/simulator/index.ts';
import { Rng } from '../../src/simulator/rng.ts';
import { hasSocat } from './pty-pair.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TICKS_PER_S = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15), or undefined once it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  } catch {
    return undefined;
  }
}

interface Outcome {
  code: number | null;
  stderr: string;
  endedAfterUnplugMs: number;
  cpuAfterUnplugS: number;
  bytes: number;
  certifiedBytes: number;
  certificates: number;
}

async function unplugDuringStream(seed: number, delayMs: number): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), 'epqrng-unplug-'));
  const path = join(dir, 'epq');
  const out = join(dir, 'out.bin');
  const certs = join(dir, 'certs.jsonl');
  const server = await servePty(path, { seed, calibrated: true });
  try {
    const child = spawn(
      process.execPath,
      [`${root}bin/epqrng.js`, 'stream', '--port', path, '--block-trials', '1048576', '--out', out, '--certs', certs],
      { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Wait for the run to start (the chip RUNNING), then for the random moment.
    const deadline = Date.now() + 60_000;
    while (server.chip.stateCode !== 1 && child.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(server.chip.stateCode, stderr).toBe(1);
    await new Promise((r) => setTimeout(r, delayMs));
    let lastCpu = cpuSeconds(child.pid!) ?? 0;
    const cpuAtUnplug = lastCpu;
    const unpluggedAt = performance.now();
    process.kill(server.bridgePid!, 'SIGKILL');
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      lastCpu = cpuSeconds(child.pid!) ?? lastCpu;
      await new Promise((r) => setTimeout(r, 20));
    }
    const code = await exited;
    const endedAfterUnplugMs = performance.now() - unpluggedAt;
    const lines = existsSync(certs) ? readFileSync(certs, 'utf8').split('\n').filter(Boolean) : [];
    return {
      code,
      stderr,
      endedAfterUnplugMs,
      // the last sample is at most 20 ms before the exit: at most that much CPU is not seen
      cpuAfterUnplugS: lastCpu - cpuAtUnplug,
      bytes: existsSync(out) ? statSync(out).size : 0,
      certifiedBytes: lines.reduce((a, l) => a + JSON.parse(l).extraction.outputBytes, 0),
      certificates: lines.length,
    };
  } finally {
    await server.close();
  }
}

describe.skipIf(!hasSocat)('stream through a real PTY whose far side is killed', () => {
  it('20 unplugs at random moments: each ends within 2 s, exit 3, bytes = certified outputBytes, < 1 CPU-second after', async () => {
    const rng = new Rng(20261204);
    const outcomes: Outcome[] = [];
    for (let i = 0; i < 20; i++) {
      // A moment from the START to 2.5 s into the run: before the first block, inside one, between them.
      const delayMs = Math.floor(rng.float() * 2500);
      const o = await unplugDuringStream(500 + i, delayMs);
      outcomes.push(o);
      const what = `run ${i} (unplug at ${delayMs} ms): ${o.stderr}`;
      expect(o.code, what).toBe(3);
      const lines = o.stderr.split('\n').filter(Boolean);
      expect(lines, what).toHaveLength(1);
      expect(lines[0], what).toMatch(/^epqrng: device at \S+\/epq disconnected: /);
      expect(o.endedAfterUnplugMs, what).toBeLessThan(2000);
      expect(o.bytes, what).toBe(o.certifiedBytes);
      expect(o.cpuAfterUnplugS, what).toBeLessThan(1);
    }
    const worstMs = Math.max(...outcomes.map((o) => o.endedAfterUnplugMs));
    const worstCpuS = Math.max(...outcomes.map((o) => o.cpuAfterUnplugS));
    console.info(`20 unplugs: ended at most ${worstMs.toFixed(0)} ms after, at most ${worstCpuS.toFixed(2)} CPU-s`);
    // the moments did cover runs with and without certified blocks
    expect(outcomes.some((o) => o.certificates === 0)).toBe(true);
    expect(outcomes.some((o) => o.certificates >= 1)).toBe(true);
  }, 300_000);
});

describe.skipIf(!hasSocat)('epqrng simulate --pty', () => {
  async function startSimulate() {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-sim-'));
    const path = join(dir, 'epq');
    const child = spawn(process.execPath, [`${root}bin/epqrng.js`, 'simulate', '--pty', path], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while (!stderr.includes('serving') && child.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const socat = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim();
    return { child, exited, path, socatPid: Number(socat), stderr: () => stderr };
  }

  it('says why it ended and exits 3 when its PTY bridge dies', async () => {
    const sim = await startSimulate();
    expect(sim.socatPid).toBeGreaterThan(0);
    process.kill(sim.socatPid, 'SIGKILL');
    const code = await sim.exited;
    expect(code).toBe(3);
    expect(sim.stderr()).toMatch(
      /\nepqrng: stopped serving \S+: the PTY bridge ended: socat was killed \(SIGKILL\)\n$/,
    );
  });

  it('SIGTERM ends it (exit 0) and its bridge too', async () => {
    const sim = await startSimulate();
    expect(sim.socatPid).toBeGreaterThan(0);
    sim.child.kill('SIGTERM');
    expect(await sim.exited).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(`/proc/${sim.socatPid}`)).toBe(false);
  });
});
