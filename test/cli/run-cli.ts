/** Runs the `epqrng` command as a user does: a child process, its stdout, stderr and exit code. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function epqrng(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/epqrng.js', ...args], { cwd: root, env: { ...process.env, ...env }, timeout: timeoutMs, encoding: 'latin1' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** One line, `epqrng: ...`, no stack frames. */
export function expectOneLineError(r: Result, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^epqrng: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

