/**
 * The live path's CPU (target: `stream` from a 1 M trials/s chip over a PTY
 * uses under 15% of one core in steady state, leaving room for `serve`).
 *
 * The chip is served on a pseudo-terminal by `epqrng simulate --pty` in a
 * process of its own (as a real chip runs beside the host); the host is the
 * CLI as shipped, `node bin/epqrng.js stream --port PTY --out /dev/null
 * --certs FILE` (internal settings, the default blocks of 2^22 trials, each
 * certified and Toeplitz-hashed), in another. Its CPU is utime + stime of
 * /proc/<pid>/stat (every thread of the process, hash workers included),
 * read when certificate WARMUP_BLOCKS appears in the certificate file and
 * again WINDOW_BLOCKS certificates later: a window of whole block periods
 * (each holds one block's decoding, certifying and hashing), after start-up
 * (module loading, INFO, START, the first blocks and their one-off costs).
 * The chip process's share is reported beside it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './run.ts';
import { bin, root } from './lib/shipped.ts';
import { spawnChip } from '../test/host/chip-process.ts';

/** Certificates before the window opens (start-up excluded), and whole block periods in it. */
const WARMUP_BLOCKS = 2;
const WINDOW_BLOCKS = 4;
const CLOCK_TICKS_PER_S = 100; // Linux USER_HZ
/** Longest the run may take to reach the window's end (2^22 trials a block at 1 M trials/s: 4.2 s a block). */
const DEADLINE_MS = 120_000;

/** utime + stime of a process (every thread), or of one thread with `task`, in seconds. */
function cpuSeconds(pid: number, task?: number): number {
  const stat = readFileSync(task === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${task}/stat`, 'utf8');
  // fields after the ")" of comm: state is field 3, utime 14, stime 15
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_S;
}

function lines(file: string): number {
  try {
    return readFileSync(file, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}

/** Lost trials (device and link, PROTOCOL 6) of certificate lines [from, to) of `file`. */
function lostTrials(file: string, from: number, to: number): number {
  const certs = readFileSync(file, 'utf8').split('\n').slice(from, to);
  return certs.reduce((sum, line) => sum + (JSON.parse(line) as { lostTrials: { total: number } }).lostTrials.total, 0);
}

interface Mark {
  wall: number;
  host: number;
  /** The host's main thread (the event loop: reading, decoding, certifying; hashing too unless on a worker). */
  hostMain: number;
  chip: number;
}

/** Waits until `file` holds `n` certificate lines (polled every 20 ms), then reads both processes' CPU. */
async function markAt(file: string, n: number, host: ChildProcess, chipPid: number, t0: number): Promise<Mark> {
  while (lines(file) < n) {
    if (host.exitCode !== null) throw new Error(`epqrng stream exited ${host.exitCode} before certificate ${n}`);
    if (performance.now() - t0 > DEADLINE_MS) throw new Error(`no certificate ${n} within ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const pid = host.pid!;
  return { wall: performance.now(), host: cpuSeconds(pid), hostMain: cpuSeconds(pid, pid), chip: cpuSeconds(chipPid) };
}

export async function run(): Promise<Figure[]> {
  const figures: Figure[] = [{ name: 'live: load average (1 min) at the start', value: loadavg()[0]!, unit: '' }];
  const dir = mkdtempSync(join(tmpdir(), 'epq-live-bench-'));
  const certs = join(dir, 'certs.jsonl');
  const chip = await spawnChip(['--seed', '23']);
  let host: ChildProcess | undefined;
  try {
    const t0 = performance.now();
    host = spawn(process.execPath, [bin, 'stream', '--port', chip.path, '--out', '/dev/null', '--certs', certs], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    host.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const chipPid = chip.pid;
    const a = await markAt(certs, WARMUP_BLOCKS, host, chipPid, t0);
    const b = await markAt(certs, WARMUP_BLOCKS + WINDOW_BLOCKS, host, chipPid, t0);
    const exited = new Promise<number | null>((r) => host!.once('exit', r));
    host.kill('SIGINT');
    const code = await exited;
    if (code !== 0) throw new Error(`epqrng stream exited ${code} after SIGINT: ${stderr}`);
    const lost = lostTrials(certs, WARMUP_BLOCKS, WARMUP_BLOCKS + WINDOW_BLOCKS);
    const wall = (b.wall - a.wall) / 1000;
    const share = (100 * (b.host - a.host)) / wall;
    const rate = (WINDOW_BLOCKS * 2 ** 22) / wall;
    const atChipRate = share * Math.max(1, 1e6 / rate);
    figures.push(
      {
        name: 'live: stream over a PTY, 1 M trials/s chip: CPU',
        value: share,
        unit: `% of one core (${WINDOW_BLOCKS} blocks of 2^22, ${wall.toFixed(1)} s, after ${WARMUP_BLOCKS})`,
      },
      {
        name: 'live: stream, its main thread alone: CPU',
        value: (100 * (b.hostMain - a.hostMain)) / wall,
        unit: '% of one core (the rest: hash workers, libuv, GC threads)',
      },
      {
        name: 'live: the chip process (simulate --pty): CPU',
        value: (100 * (b.chip - a.chip)) / wall,
        unit: '% of one core',
      },
      {
        name: 'live: trials lost in the window (certificates)',
        value: lost,
        unit: 'trials',
        target: '= 0',
        ok: lost === 0,
      },
      { name: 'live: trials per second in the window', value: rate, unit: 'trials/s (the chip: 1e6)' },
      // A chip slowed by a loaded machine makes fewer trials to handle: scaled to the chip's rate (an overestimate,
      // since the per-second costs are scaled too), the figure the target holds for.
      {
        name: 'live: stream CPU scaled to 1 M trials/s',
        value: atChipRate,
        unit: '% of one core',
        target: '< 15',
        ok: atChipRate < 15,
      },
    );
  } finally {
    if (host && host.exitCode === null && host.signalCode === null) host.kill('SIGKILL');
    await chip.close();
    rmSync(dir, { recursive: true, force: true });
  }
  figures.push({ name: 'live: load average (1 min) at the end', value: loadavg()[0]!, unit: '' });
  return figures;
}
