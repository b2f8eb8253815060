/**
 * The simulated chip in its own process (`epqrng simulate --pty PATH`), as a
 * real chip runs beside the host: the host's event loop and the chip's do
 * not share a thread, so the link latency (the chip's output queue, socat,
 * two PTYs) is the hardware-like one.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ChipProcess {
  path: string;
  /** The chip process's pid (its CPU, in the live bench). */
  pid: number;
  close(): Promise<void>;
}

export async function spawnChip(args: string[] = [], timeoutMs = 20_000): Promise<ChipProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'epqrng-chip-'));
  const path = join(dir, 'epq');
  const child = spawn(process.execPath, ['bin/epqrng.js', 'simulate', '--pty', path, ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  const deadline = Date.now() + timeoutMs;
  // The chip says it serves once its port is open (simulate.ts).
  while (!(existsSync(path) && log.includes('serving'))) {
    if (child.exitCode !== null) throw new Error(`epqrng simulate exited ${child.exitCode}: ${log.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`epqrng simulate did not serve ${path} within ${timeoutMs} ms: ${log.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    path,
    pid: child.pid!,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
