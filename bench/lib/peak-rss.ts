/**
 * This process's peak resident set size in bytes: VmHWM of /proc/self/status
 * on Linux, else getrusage's maxRSS.
 *
 * Why not maxRSS alone: Linux keeps ru_maxrss across execve, and a child
 * spawned by a large parent (the bench runner holds hundreds of MB after the
 * extract bench) starts as a fork of it, so the child's maxRSS reports at
 * least the parent's size at the spawn: run after the other benches, every
 * replay mode read 148.5 MB, the runner's size, though capture peaks near
 * 100 MB. VmHWM is the high-water mark of the process's own address space,
 * which execve replaces.
 */
import { readFileSync } from 'node:fs';

export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux: getrusage below
  }
  return process.resourceUsage().maxRSS * 1024;
}
