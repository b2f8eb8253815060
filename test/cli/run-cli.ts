/** Runs the `epqrng` command as a user does: a child process, its stdout, stderr and exit code. */
import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { runCli } from '../../src/cli/framework.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `cwd` (default the package root) is where relative paths in `args` resolve. */
export function epqrng(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
  cwd = root,
): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [`${root}bin/epqrng.js`, ...args],
      { cwd, env: { ...process.env, ...env }, timeout: timeoutMs, encoding: 'latin1' },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The same command run in this process (faster: no child, no loader start-up); stderr and stdout collected as text. */
export async function epqrngInProcess(...argv: string[]): Promise<Result> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d: Buffer) => (stdout += d.toString()));
  err.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await runCli(argv, { stdout: out, stderr: err, isTTY: false });
  return { code, stdout, stderr };
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
