/**
 * `serve --record`: a service whose small pool fills after each block, so
 * the chip is stopped (STOP) and started again (START) as clients drain it,
 * recorded in its own process as a user runs it. The recording holds every
 * run and a `run-end` event (blocks taken) after each, and an end record
 * naming the signal; `verify` accepts it against --certs (every certificate
 * recomputed, each run's chain, the blocks delivered), and
 * `replay` writes the same certificate lines; a flipped byte in a later run
 * and a run-end event that claims another block count are refused.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Direction } from '../../src/record/format.ts';
import { epqrng, expectOneLineError } from '../cli/run-cli.ts';
import { until } from '../serve/harness.ts';
import { flipTrialByte, readEntries, rewriteRecording, type Entry } from './rewrite.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Small blocks certify with the classical bound at eps 1e-6 on a calibrated simulated chip (a few kB each). */
const CERT_OPTS = ['--block-trials', String(2 ** 18), '--adversary', 'classical', '--eps', '1e-6'];
const LONG = 120_000;
/** Runs wanted: each client request drains the pool below half, and the chip starts again. */
const RUNS = 3;

function take(socket: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: `/random?bytes=${bytes}&wait=30` }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const events = (entries: Entry[]) =>
  entries.filter((e) => e.direction === Direction.RUN_EVENT).map((e) => JSON.parse(e.bytes.toString('utf8')));

describe('serve --record', () => {
  const dir = mkdtempSync(join(tmpdir(), 'epqrng-serve-rec-'));
  const rec = join(dir, 'serve.epqrec');
  const certs = join(dir, 'certs.jsonl');
  let liveCode: number | null;
  let stderr = '';
  let entries: Entry[];

  beforeAll(async () => {
    const socket = join(dir, 's.sock');
    const args = ['serve', '--simulate=7', '--socket', socket, '--pool', '1024', '--certs', certs, '--record', rec];
    const child = spawn(process.execPath, [`${root}bin/epqrng.js`, ...args, ...CERT_OPTS], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await until(() => out.includes(`unix:${socket}`), 60_000, 'the socket');
      // A block (about 7 kB) overfills the 1 kB pool: the chip is stopped; drained below half, it starts again.
      const runEnds = () => readFileSync(rec).toString('latin1').split('"run-end"').length - 1;
      const deadline = Date.now() + 90_000;
      while (runEnds() < RUNS && Date.now() < deadline) expect(await take(socket, 1000)).toBe(200);
      child.kill('SIGTERM');
      liveCode = await exited;
    } finally {
      child.kill('SIGKILL');
    }
    entries = (await readEntries(rec)).entries;
  }, 180_000);

  it('records every run, each followed by its run-end event', () => {
    expect(liveCode, stderr).toBe(0);
    const runEnds = events(entries);
    expect(runEnds.length).toBeGreaterThanOrEqual(RUNS);
    expect(runEnds).toMatchObject(runEnds.map((_, i) => ({ event: 'run-end', run: i + 1 })));
    const lines = readFileSync(certs, 'utf8').trimEnd().split('\n');
    expect(runEnds.reduce((n, e) => n + e.blocks, 0)).toBe(lines.length);
  });

  it(
    'verify accepts it (exit 0): every certificate of every run recomputed',
    async () => {
      const r = await epqrng(['verify', rec, '--certs', certs], {}, LONG);
      expect(r.code, r.stderr).toBe(0);
      const lines = readFileSync(certs, 'utf8').trimEnd().split('\n');
      expect(r.stdout).toMatch(
        new RegExp(
          `^verified ${lines.length} certificates against .*: all match; session ended by SIGTERM \\(STOP\\): ${lines.length} blocks \\(\\d+ bytes\\) delivered, \\d+ runs\\n$`,
        ),
      );
    },
    LONG,
  );

  it(
    'replay reproduces the certified output: the same certificate lines, the bytes they hash',
    async () => {
      const replayed = join(dir, 'replayed.jsonl');
      const out = join(dir, 'replayed.bin');
      const r = await epqrng(['replay', rec, '--certs', replayed, '--out', out], {}, LONG);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(replayed, 'utf8')).toBe(readFileSync(certs, 'utf8'));
      // the bytes: each block's output in order, as its certificate hashes it
      const v = await epqrng(['verify', rec, '--certs', replayed, '--output', out], {}, LONG);
      expect(v.code, v.stderr).toBe(0);
    },
    LONG,
  );

  it(
    'a flipped byte in the last run, or a run-end that claims another count: exit 1, one line',
    async () => {
      // the last run: the records after the second-last run-end event
      const ends = entries.flatMap((e, i) => (e.direction === Direction.RUN_EVENT ? [i] : []));
      const prevEnd = ends.at(-2)!;
      const flip = join(dir, 'flipped.epqrec');
      await rewriteRecording(rec, flip, (all) => flipTrialByte(all, prevEnd + 4));
      expectOneLineError(await epqrng(['verify', flip, '--certs', certs], {}, LONG), 1, /^epqrng: verify: block \d+/);
      const count = join(dir, 'count.epqrec');
      await rewriteRecording(rec, count, (all) =>
        all.map((e) => {
          if (e.direction !== Direction.RUN_EVENT) return e;
          const event = JSON.parse(e.bytes.toString('utf8'));
          return event.run === 1 ? { ...e, bytes: Buffer.from(JSON.stringify({ ...event, blocks: 0 })) } : e;
        }),
      );
      expectOneLineError(await epqrng(['verify', count, '--certs', certs], {}, LONG), 1, /^epqrng: verify: /);
    },
    LONG,
  );
});
