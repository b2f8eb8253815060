/**
 * Runs the CLI as shipped: `node bin/epqrng.js ...` (the compiled dist/, no
 * loader) in a process of its own, and measures it from outside: wall time,
 * and peak RSS as the child's own VmHWM, read from /proc/<pid>/status every
 * few milliseconds while it runs (a high-water mark: the last reading before
 * exit misses only growth in its final interval). Not getrusage maxRSS: a
 * spawned child starts as a fork of this (large) runner, and Linux keeps
 * ru_maxrss across execve (peak-rss.ts).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const bin = join(root, 'bin', 'epqrng.js');

export interface ShippedRun {
  code: number | null;
  seconds: number;
  /** Peak RSS of the child process (VmHWM), MB; 0 if never read (an exit within the first interval). */
  peakRssMB: number;
  /** CPU time (user + system) of the child at its last reading, s. */
  cpuSeconds: number;
  stderr: string;
}

const CLOCK_TICKS_PER_S = 100; // Linux USER_HZ

function readProc(pid: number): { hwmKb: number; cpuTicks: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const hwm = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
    // stat fields after the ")" of comm: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (!hwm) return undefined;
    return { hwmKb: Number(hwm[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** `node bin/epqrng.js <args>`, stdout to /dev/null (or `stdoutFd`), measured; `pollMs` between readings. */
export function runShipped(args: string[], { pollMs = 5, nodeArgs = [] as string[] } = {}): Promise<ShippedRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...nodeArgs, bin, ...args], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let hwmKb = 0;
    let cpuTicks = 0;
    const poll = (): void => {
      const r = child.pid === undefined ? undefined : readProc(child.pid);
      if (r) {
        hwmKb = Math.max(hwmKb, r.hwmKb);
        cpuTicks = r.cpuTicks;
      }
    };
    const timer = setInterval(poll, pollMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve({
        code,
        seconds: (performance.now() - t0) / 1000,
        peakRssMB: (hwmKb * 1024) / 2 ** 20,
        cpuSeconds: cpuTicks / CLOCK_TICKS_PER_S,
        stderr,
      });
    });
  });
}
