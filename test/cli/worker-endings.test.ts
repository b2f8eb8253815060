/**
 * Runs whose blocks are hashed on the extract worker (2^20-trial blocks: the pipeline's 'auto' takes the worker from
 * 2^21 input bits up) end the way they would on one thread: `stream --bytes N` stopped by SIGINT or SIGTERM before N
 * bytes exits 130 or 143 within a bound, with whole blocks written (each covered by its certificate). (That a worker
 * nobody closes cannot keep a process alive is test/extract/block-hasher.test.ts's.)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const BLOCK = 2 ** 20;

/** How long the simulated chip may take to certify its first block on a loaded 2-core machine. */
const FIRST_BLOCK_MS = 60_000;
/** After the signal: STOP/ACK, the block being hashed, the worker's termination (seconds on an idle machine). */
const END_MS = 20_000;

describe('signals with the hash on the worker', () => {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(
      `stream stopped by ${signal} after its first certificate exits ${code}, whole blocks only`,
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'epq-worker-end-'));
        try {
          const out = join(dir, 'out.bin');
          const certs = join(dir, 'certs.jsonl');
          const child = spawn(
            process.execPath,
            [
              join(root, 'bin/epqrng.js'),
              'stream',
              '--simulate=7',
              '--block-trials',
              String(BLOCK),
              '--bytes',
              '1G',
              '-o',
              out,
              '--certs',
              certs,
            ],
            { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
          );
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
          // the first certificate line: a block was certified and hashed on the worker
          const t0 = Date.now();
          for (;;) {
            let text = '';
            try {
              text = readFileSync(certs, 'utf8');
            } catch {
              // not created yet
            }
            if (text.includes('\n')) break;
            if (Date.now() - t0 > FIRST_BLOCK_MS)
              throw new Error(`no certificate within ${FIRST_BLOCK_MS} ms: ${stderr}`);
            await new Promise((r) => setTimeout(r, 50));
          }
          const t1 = Date.now();
          child.kill(signal);
          const timer = setTimeout(() => child.kill('SIGKILL'), END_MS);
          const exitCode = await exited;
          clearTimeout(timer);
          expect(exitCode, `ended ${Date.now() - t1} ms after ${signal}: ${stderr}`).toBe(code);
          const lines = readFileSync(certs, 'utf8').trim().split('\n');
          const total = lines.reduce(
            (sum, l) => sum + (JSON.parse(l) as { extraction: { outputBytes: number } }).extraction.outputBytes,
            0,
          );
          expect(statSync(out).size).toBe(total);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
      FIRST_BLOCK_MS + END_MS + 10_000,
    );
  }
});
