/**
 * `stream --out FIFO` for a reader that comes and goes (rngd reads a FIFO
 * and restarts): two readers in turn each get certified bytes, different
 * ones (no byte is written twice), the writer waits for the next reader
 * and says so, and SIGTERM ends it with exit 0 (no --bytes). Readers of
 * 40 kB (several blocks) and of 4 kB (less than one block's output: with
 * 2^22-trial blocks a block's output, about 150 kB, is more than the pipe
 * holds, so the writer sees the reader go at once and has none when the
 * signal comes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FifoOutput } from '../../src/cli/fifo-output.ts';

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
  it.each([
    [40_000, 1 << 20],
    [4_000, 1 << 20],
    [4_000, 1 << 22],
  ])(
    'readers of %i bytes, blocks of %i trials: two in turn get different bytes; exit 0 on SIGTERM',
    async (n, blockTrials) => {
      const dir = mkdtempSync(join(tmpdir(), 'epqrng-fifo-'));
      const fifo = join(dir, 'random');
      const certs = join(dir, 'certs.jsonl');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      const child = spawn(
        process.execPath,
        [
          `${root}bin/epqrng.js`,
          'stream',
          '--simulate',
          '--block-trials',
          String(blockTrials),
          '--out',
          fifo,
          '--certs',
          certs,
        ],
        { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

      const first = await readSome(fifo, n);
      await new Promise((r) => setTimeout(r, 300)); // the writer meets the closed FIFO
      const second = await readSome(fifo, n);
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');
      const code = await exited;

      expect(code, stderr).toBe(0);
      expect(first.length).toBeGreaterThanOrEqual(n);
      expect(second.length).toBeGreaterThanOrEqual(n);
      // No byte twice: no 32-byte window of the second reader's bytes is among the first's.
      const seen = new Set<string>();
      for (let i = 0; i + 32 <= first.length; i++) seen.add(first.subarray(i, i + 32).toString('hex'));
      for (let i = 0; i + 32 <= second.length; i += 32)
        expect(seen.has(second.subarray(i, i + 32).toString('hex'))).toBe(false);
      // A block's output larger than the pipe: the first reader left mid-chunk, and the writer said it waits.
      if (blockTrials === 1 << 22) expect(stderr).toMatch(/the reader went away; waiting for the next reader\n/);
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
    },
    120_000,
  );
});

describe.skipIf(!hasMkfifo)('FifoOutput', () => {
  it('a signal that comes between readers gives up the later wait for a reader: end() finishes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'epqrng-fifo-'));
    const fifo = join(dir, 'random');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const notices: string[] = [];
    const signals = new EventEmitter();
    const out = new FifoOutput(fifo, (l) => notices.push(l), signals);
    const chunk = (fill: number) => Buffer.alloc(256 * 1024, fill); // more than a pipe holds (64 kB)
    const reader = readSome(fifo, 4000);
    await new Promise<void>((resolve, reject) => out.write(chunk(1), (e) => (e ? reject(e) : resolve())));
    const read = await reader;
    expect(read).toEqual(Buffer.alloc(4000, 1));
    // The reader went away in the middle of the chunk: dropped, and said so.
    expect(out.dropped).toBe(256 * 1024);
    expect(notices.at(-1)).toMatch(/the reader went away; waiting for the next reader$/);
    signals.emit('SIGTERM'); // no reader, no wait under way
    out.write(chunk(2)); // a block certified after the signal
    const ended = new Promise<string>((resolve) => out.end(() => resolve('ended')));
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('hung'), 10_000).unref());
    expect(await Promise.race([ended, timeout])).toBe('ended');
    expect(out.delivered).toBe(0);
    expect(signals.listenerCount('SIGTERM')).toBe(0);
  });
});
