/**
 * `stream --out FIFO` for a reader that comes and goes (rngd reads a FIFO
 * and restarts): two readers in turn each get certified bytes, different
 * ones (no byte is written twice), the writer waits for the next reader
 * and says so, and SIGTERM ends it with exit 0 (no --bytes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const hasMkfifo = spawnSync('mkfifo', ['--version'], { stdio: 'ignore' }).status === 0;

/** A reader process (head) opens the FIFO, reads `n` bytes and goes away, as rngd does when it restarts. */
function readSome(path: string, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const head = spawn('head', ['-c', String(n), path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    head.stdout.on('data', (d: Buffer) => chunks.push(d));
    head.on('error', reject);
    const timer = setTimeout(() => head.kill(), 60_000); // the writer died: do not hang the suite
    head.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

describe.skipIf(!hasMkfifo)('stream --out FIFO', () => {
  it('serves two readers in turn, different bytes to each, and exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-fifo-'));
    const fifo = join(dir, 'random');
    const certs = join(dir, 'certs.jsonl');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const child = spawn(
      process.execPath,
      [`${root}bin/epqrng.js`, 'stream', '--simulate', '--block-trials', '1048576', '--out', fifo, '--certs', certs],
      { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const first = await readSome(fifo, 40_000);
    await new Promise((r) => setTimeout(r, 300)); // the writer meets the closed FIFO
    const second = await readSome(fifo, 40_000);
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const code = await exited;

    expect(code, stderr).toBe(0);
    expect(first.length).toBeGreaterThanOrEqual(40_000);
    expect(second.length).toBeGreaterThanOrEqual(40_000);
    // No byte twice: no 32-byte window of the second reader's bytes is among the first's.
    const seen = new Set<string>();
    for (let i = 0; i + 32 <= first.length; i++) seen.add(first.subarray(i, i + 32).toString('hex'));
    for (let i = 0; i + 32 <= second.length; i += 32)
      expect(seen.has(second.subarray(i, i + 32).toString('hex'))).toBe(false);
    // stderr holds only the FIFO's notices (when the writer had to wait for a reader, it said so)
    for (const line of stderr.split('\n').filter(Boolean))
      expect(line).toMatch(
        /^epqrng: --out \S+random: (waiting for a reader of the FIFO|the reader went away; waiting for the next reader)$/,
      );
    // every byte a reader got was certified: the certificates cover at least what was read
    const certified = readFileSync(certs, 'utf8')
      .split('\n')
      .filter(Boolean)
      .reduce((a, l) => a + JSON.parse(l).extraction.outputBytes, 0);
    expect(certified).toBeGreaterThanOrEqual(first.length + second.length);
  }, 120_000);
});
